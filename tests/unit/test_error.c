/**
 * \file
 * Unit tests of module/error.c: every code has its own message, and what
 * is not a code says so.
 */
#include <string.h>
#include "dotpool/error.h"
#include "unit.h"

/** Each code from DOTPOOL_OK down to the last has a distinct message. */
static void
test_messages(void)
{
	int i, j;
	for(i = DOTPOOL_OK; i >= DOTPOOL_EAGAIN; i--) {
		const char* a = dotpool_strerror(i);
		UNIT_CHECKF(a != NULL && strcmp(a, "unknown error") != 0,
			"error: code %d has a message", i);
		for(j = DOTPOOL_OK; j > i; j--)
			UNIT_CHECKF(strcmp(a, dotpool_strerror(j)) != 0,
				"error: codes %d and %d have different "
				"messages", j, i);
	}
	UNIT_CHECK(strcmp(dotpool_strerror(DOTPOOL_OK), "success") == 0,
		"error: 0 is success");
	UNIT_CHECK(strcmp(dotpool_strerror(DOTPOOL_ETIMEOUT), "timed out") == 0,
		"error: ETIMEOUT reads as timed out");
}

/** Values that are no code: positive, past the last, errno-like. */
static void
test_unknown(void)
{
	static const int others[] = { 1, 12, DOTPOOL_EAGAIN - 1, -110, -1000 };
	size_t i;
	for(i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		UNIT_CHECKF(strcmp(dotpool_strerror(others[i]),
			"unknown error") == 0, "error: %d is an unknown "
			"error", others[i]);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "every code has its message", test_messages },
		{ "other values are unknown", test_unknown },
		{ NULL, NULL }
	};
	return unit_run("error", tests);
}
