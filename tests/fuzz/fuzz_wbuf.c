/**
 * \file
 * Fuzz target: the DoT write buffer (module/frame.c) under a fuzzer-chosen
 * sequence of puts and partial sends, against a plain byte-queue model:
 * the unsent bytes must always be the framed messages in order, minus what
 * was sent; a put must fail with DOTPOOL_EINVAL exactly for a bad length and
 * with DOTPOOL_EFULL exactly when the bytes would exceed the limit; the
 * buffer never holds more than the limit, and an emptied large buffer is
 * released.
 *
 * Input: 3 bytes of limit, then operations (one byte each, with operands):
 * put (2 length bytes, of which 13 bits make a length below 8 KiB; op bit
 * 6 asks for a maximal message, 65532..65535, bit 7 for 0 or 65536
 * instead), consume (2 bytes), consume all, compare the front. Most
 * messages are small because a 64 KiB copy costs far more under ASan than
 * the logic it exercises; the large ones still reach every limit.
 */
#include "dotpool/error.h"
#include "dotpool/frame.h"
#include "fuzz.h"

/** Largest limit tried: a little over the connections' 256 KiB. */
#define WBUF_LIMIT_MAX (300 * 1024)
/** Above this capacity an emptied buffer is freed (as frame.c). */
#define WBUF_KEEP 4096

/** The model: the bytes queued, front at off. */
struct model {
	/** bytes */
	uint8_t* b;
	/** start of unsent */
	size_t off;
	/** end of data */
	size_t len;
};

/**
 * Check the buffer's unsent bytes against the model: always the length,
 * and the first `bytes` bytes (each byte is compared when it is sent and
 * once at the end, not after every operation: a 256 KiB memcmp per
 * operation would leave no time for anything else).
 */
static void
compare(const struct dotpool_wbuf* w, const struct model* m, size_t bytes)
{
	size_t len;
	const uint8_t* d = dotpool_wbuf_data(w, &len);

	FUZZ_CHECK(len == m->len - m->off, "wbuf: unsent length");
	FUZZ_CHECK(dotpool_wbuf_len(w) == len, "wbuf: len as data");
	FUZZ_CHECK((len == 0) == (d == NULL), "wbuf: NULL exactly when empty");
	FUZZ_CHECK(w->cap <= w->max, "wbuf: capacity within the limit");
	if(bytes > len)
		bytes = len;
	if(bytes)
		FUZZ_CHECK(memcmp(d, m->b + m->off, bytes) == 0,
			"wbuf: unsent bytes as queued");
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
	/* messages are windows on one pattern, made once: filling each
	 * message byte by byte would cost more than the code under test */
	static uint8_t pat[DOTPOOL_FRAME_MAX + 1 + 256];
	static int pat_done;
	static uint8_t mbuf[WBUF_LIMIT_MAX];
	struct fuzz_in in = { data, size };
	struct dotpool_wbuf w;
	struct model m = { mbuf, 0, 0 };
	size_t max, k;
	unsigned seq = 0;

	if(!pat_done) {
		for(k = 0; k < sizeof(pat); k++)
			pat[k] = (uint8_t)(k * 7 + k / 251);
		pat_done = 1;
	}
	max = ((size_t)fuzz_u8(&in) << 16) | fuzz_u16(&in);
	max %= WBUF_LIMIT_MAX + 1;
	dotpool_wbuf_init(&w, max);
	while(in.left > 0) {
		uint8_t op = fuzz_u8(&in);
		switch(op & 3) {
		case 0: {
			size_t len = fuzz_u16(&in), used = m.len - m.off;
			const uint8_t* msg = pat + seq++ % 256;
			int ret;
			if(op & 0x80)
				len = (op & 0x40) ? DOTPOOL_FRAME_MAX + 1 : 0;
			else if(op & 0x40)
				len = DOTPOOL_FRAME_MAX - (len & 3);
			else
				len &= 0x1fff;
			ret = dotpool_wbuf_put(&w, msg, len);
			if(len < 1 || len > DOTPOOL_FRAME_MAX) {
				FUZZ_CHECK(ret == DOTPOOL_EINVAL,
					"wbuf: bad length refused");
				break;
			}
			if(used + 2 + len > max) {
				FUZZ_CHECK(ret == DOTPOOL_EFULL,
					"wbuf: over the limit refused");
				break;
			}
			FUZZ_CHECK(ret == 0, "wbuf: put within the limit");
			if(m.len + 2 + len > sizeof(mbuf)) {
				memmove(m.b, m.b + m.off, used);
				m.len = used;
				m.off = 0;
			}
			m.b[m.len++] = (uint8_t)(len >> 8);
			m.b[m.len++] = (uint8_t)len;
			memcpy(m.b + m.len, msg, len);
			m.len += len;
			break;
		}
		case 1: {
			size_t n = fuzz_u16(&in);
			compare(&w, &m, n);
			dotpool_wbuf_consume(&w, n);
			if(n > m.len - m.off)
				n = m.len - m.off;
			m.off += n;
			break;
		}
		case 2:
			compare(&w, &m, m.len - m.off);
			dotpool_wbuf_consume(&w, m.len - m.off);
			m.off = m.len = 0;
			break;
		case 3:
			compare(&w, &m, 4096);
			break;
		}
		if(m.off == m.len) {
			m.off = m.len = 0;
			FUZZ_CHECK(w.cap <= WBUF_KEEP || w.len > w.off,
				"wbuf: an emptied large buffer is released");
		}
		compare(&w, &m, 0);
	}
	compare(&w, &m, m.len - m.off);
	dotpool_wbuf_free(&w);
	return 0;
}
