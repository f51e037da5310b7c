/**
 * \file
 * Shared bits of the libFuzzer targets: a check that turns a broken
 * property into a crash libFuzzer reports (with the input saved), and a
 * reader that hands out the fuzzer's bytes one field at a time.
 * The targets are test code, not module code: abort() is how a property
 * failure is reported to libFuzzer.
 */
#ifndef DOTPOOL_FUZZ_H
#define DOTPOOL_FUZZ_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/** Check a property; on failure name it and crash for libFuzzer. */
#define FUZZ_CHECK(cond, msg) do { \
		if(!(cond)) { \
			fprintf(stderr, "fuzz: %s:%d: %s (%s)\n", __FILE__, \
				__LINE__, (msg), #cond); \
			abort(); \
		} \
	} while(0)

/** The fuzzer's input, read front to back. */
struct fuzz_in {
	/** next byte */
	const uint8_t* p;
	/** bytes left */
	size_t left;
};

/** Next byte, 0 once the input is used up. */
static inline uint8_t
fuzz_u8(struct fuzz_in* in)
{
	if(in->left == 0)
		return 0;
	in->left--;
	return *in->p++;
}

/** Next two bytes in network order. */
static inline uint16_t
fuzz_u16(struct fuzz_in* in)
{
	uint16_t hi = fuzz_u8(in);
	return (uint16_t)((hi << 8) | fuzz_u8(in));
}

/** Heap copy of exactly len bytes, so an overread is an ASan report
 * (malloc(1) for len 0: never NULL). */
static inline uint8_t*
fuzz_exact(const uint8_t* src, size_t len)
{
	uint8_t* p = malloc(len ? len : 1);
	FUZZ_CHECK(p != NULL, "out of memory");
	if(len)
		memcpy(p, src, len);
	return p;
}

#endif /* DOTPOOL_FUZZ_H */
