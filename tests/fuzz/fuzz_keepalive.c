/**
 * \file
 * Fuzz target: the edns-tcp-keepalive reader (dotpool_wire_keepalive in
 * module/wire.c), which walks a whole answer from an upstream, names
 * compressed or not, to the OPT record.
 *
 * Two modes, by bit 0 of the first byte:
 * - raw: the rest of the input is the message (exact-size heap copy); the
 *   result must be -1 or a 16-bit value.
 * - built: the rest of the input drives a generator that writes a
 *   well-formed answer (questions, answer and authority records, then
 *   additional records around an OPT record whose options may or may not
 *   hold a keepalive option), and knows the value the reader must find:
 *   the first keepalive option of the first OPT record in the additional
 *   section when its length is 2, else -1. OPT records in the answer or
 *   authority sections must be ignored. Cutting the message short
 *   anywhere must never make the reader report a value it did not see.
 */
#include "dotpool/wire.h"
#include "fuzz.h"

/** Largest built message. */
#define MSG_MAX 65535

/** A message being built. */
struct out {
	/** bytes */
	uint8_t b[MSG_MAX];
	/** length */
	size_t len;
	/** set when something did not fit */
	int full;
};

/** Append bytes. */
static void
put(struct out* o, const void* p, size_t n)
{
	if(o->full || o->len + n > sizeof(o->b)) {
		o->full = 1;
		return;
	}
	memcpy(o->b + o->len, p, n);
	o->len += n;
}

/** Append a 16-bit value. */
static void
put16(struct out* o, unsigned v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	put(o, b, 2);
}

/** Append an owner name: labels, maybe ending in a compression pointer. */
static void
put_name(struct out* o, struct fuzz_in* in)
{
	uint8_t c = fuzz_u8(in);
	unsigned labels = c & 3, i;

	for(i = 0; i < labels; i++) {
		uint8_t l = (uint8_t)(1 + fuzz_u8(in) % 63), k;
		put(o, &l, 1);
		for(k = 0; k < l; k++) {
			uint8_t ch = (uint8_t)('a' + k % 26);
			put(o, &ch, 1);
		}
	}
	if(c & 4) {
		/* a pointer to the question name */
		put16(o, 0xc00c);
	} else {
		uint8_t z = 0;
		put(o, &z, 1);
	}
}

/** Append a record; type OPT gets options, others opaque rdata.
 * @return the keepalive value the record holds for the reader: -1 when
 *	none or malformed, -2 when the record is not OPT. */
static int
put_rr(struct out* o, struct fuzz_in* in, unsigned type)
{
	size_t rdlen_at;
	int ka = -2;

	/* OPT's owner should be the root; the reader does not check it, so
	 * any owner is tried */
	put_name(o, in);
	put16(o, type);
	put16(o, fuzz_u16(in)); /* class (payload size for OPT) */
	put16(o, fuzz_u16(in));
	put16(o, fuzz_u16(in)); /* ttl */
	rdlen_at = o->len;
	put16(o, 0);
	if(type == 41) {
		unsigned nopt = fuzz_u8(in) % 5, i;
		ka = -1;
		for(i = 0; i < nopt; i++) {
			uint8_t c = fuzz_u8(in);
			unsigned code = (c & 1) ? 11 : fuzz_u16(in);
			unsigned olen = (c & 2) ? 2 : fuzz_u8(in) % 16, k;
			put16(o, code);
			put16(o, olen);
			for(k = 0; k < olen; k++) {
				uint8_t v = fuzz_u8(in);
				put(o, &v, 1);
			}
			if(code == 11) {
				/* the first keepalive option decides; the
				 * reader looks no further */
				ka = olen == 2 ? (int)(((unsigned)o->b[o->len -
					2] << 8) | o->b[o->len - 1]) : -1;
				break;
			}
		}
	} else {
		unsigned rdlen = fuzz_u8(in) % 32, k;
		for(k = 0; k < rdlen; k++) {
			uint8_t v = fuzz_u8(in);
			put(o, &v, 1);
		}
	}
	if(!o->full) {
		size_t rdlen = o->len - rdlen_at - 2;
		o->b[rdlen_at] = (uint8_t)(rdlen >> 8);
		o->b[rdlen_at + 1] = (uint8_t)rdlen;
	}
	return ka;
}

/** A record type for a non-OPT record (the fuzzer may still say OPT in
 * the answer and authority sections). */
static unsigned
rr_type(struct fuzz_in* in, int allow_opt)
{
	uint8_t t = fuzz_u8(in);
	if(allow_opt && (t & 0x80))
		return 41;
	return (t & 0x7f) == 41 ? 1 : (unsigned)(t & 0x7f);
}

/** Build an answer from the input. @return the keepalive value it holds. */
static int
build(struct out* o, struct fuzz_in* in)
{
	unsigned qd = fuzz_u8(in) % 3, an = fuzz_u8(in) % 4,
		ns = fuzz_u8(in) % 4, before = fuzz_u8(in) % 3,
		after = fuzz_u8(in) % 3, opt = fuzz_u8(in) & 1, i;
	int ka = -1;

	o->len = 0;
	o->full = 0;
	put16(o, fuzz_u16(in));
	put16(o, 0x8180);
	put16(o, qd);
	put16(o, an);
	put16(o, ns);
	put16(o, before + opt + after);
	for(i = 0; i < qd; i++) {
		if(i == 0) {
			/* the first name is uncompressed: pointers go to 12 */
			uint8_t l = 3, z = 0;
			put(o, &l, 1);
			put(o, "abc", 3);
			put(o, &z, 1);
		} else {
			put_name(o, in);
		}
		put16(o, 1);
		put16(o, 1);
	}
	for(i = 0; i < an + ns; i++)
		(void)put_rr(o, in, rr_type(in, 1));
	for(i = 0; i < before; i++)
		(void)put_rr(o, in, rr_type(in, 0));
	if(opt)
		ka = put_rr(o, in, 41);
	for(i = 0; i < after; i++) {
		/* a second OPT after the first does not count */
		(void)put_rr(o, in, rr_type(in, opt));
	}
	return ka;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
	static struct out o;
	struct fuzz_in in = { data, size };
	uint8_t mode = fuzz_u8(&in);
	uint8_t* m;
	int want, got;
	size_t cut;

	if(mode & 1) {
		m = fuzz_exact(in.p, in.left);
		got = dotpool_wire_keepalive(m, in.left);
		FUZZ_CHECK(got >= -1 && got <= 65535, "keepalive: range");
		free(m);
		return 0;
	}
	want = build(&o, &in);
	if(o.full)
		return 0;
	m = fuzz_exact(o.b, o.len);
	got = dotpool_wire_keepalive(m, o.len);
	FUZZ_CHECK(got == want, "keepalive: the value in the OPT record");
	free(m);
	/* A cut message: the value is either gone (-1) or was read before
	 * the cut. */
	cut = (size_t)(mode >> 1) * o.len / 128;
	m = fuzz_exact(o.b, cut);
	got = dotpool_wire_keepalive(m, cut);
	FUZZ_CHECK(got == -1 || got == want,
		"keepalive: a cut message gives no other value");
	free(m);
	return 0;
}
