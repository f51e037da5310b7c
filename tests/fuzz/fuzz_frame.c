/**
 * \file
 * Fuzz target: the DoT frame reader (module/frame.c) fed a byte stream in
 * pieces of fuzzer-chosen sizes, with frames taken at once or left waiting.
 * Every frame it hands out must be exactly the next frame of the stream
 * (checked against a plain sequential decode), a zero-length frame must be
 * refused, the buffer must never grow past one maximal frame, and
 * DOTPOOL_EFULL may only mean "take the complete frames first".
 *
 * Input: byte 0 is the mode (bit 0: the stream is the rest of the input as
 * is; else it is built from 3-byte records: length, pattern offset, so large
 * frames cost few input bytes), byte 1 the number of control bytes that
 * follow; each control byte gives a piece size (low 6 bits, times 512 if
 * bit 6 is set; 0 = all the room offered) and whether to take frames
 * before the next read (bit 7).
 */
#include "dotpool/error.h"
#include "dotpool/frame.h"
#include "fuzz.h"

/** Largest synthetic stream built from records: a few maximal frames. */
#define STREAM_MAX (256 * 1024)
/** The reader's buffer never needs more than this. */
#define READER_CAP_MAX (2 + DOTPOOL_FRAME_MAX)

/** What the stream holds, decoded one frame after the other. */
struct expect {
	/** the stream */
	const uint8_t* s;
	/** its length */
	size_t len;
	/** offset of the next frame not yet handed out */
	size_t off;
	/** set once the reader refused a zero-length frame */
	int proto;
};

/** Take every complete frame the reader holds, checking each one. */
static void
take_all(struct dotpool_frame_reader* r, struct expect* e)
{
	uint8_t* msg;
	size_t len;
	int ret;

	while(!e->proto && (ret = dotpool_frame_next(r, &msg, &len)) != 0) {
		size_t flen;
		if(ret == DOTPOOL_EPROTO) {
			FUZZ_CHECK(e->off + 2 <= e->len && e->s[e->off] == 0 &&
				e->s[e->off + 1] == 0,
				"frame: EPROTO only for a zero-length frame");
			e->proto = 1;
			return;
		}
		FUZZ_CHECK(ret == 1, "frame: next returns 1, 0 or EPROTO");
		FUZZ_CHECK(e->off + 2 <= e->len, "frame: a frame past the end");
		flen = ((size_t)e->s[e->off] << 8) | e->s[e->off + 1];
		FUZZ_CHECK(flen > 0, "frame: zero-length frame handed out");
		FUZZ_CHECK(len == flen, "frame: frame length as prefixed");
		FUZZ_CHECK(e->off + 2 + flen <= e->len,
			"frame: frame handed out before it arrived");
		FUZZ_CHECK(msg >= r->buf && msg + len <= r->buf + r->cap,
			"frame: frame inside the reader's buffer");
		FUZZ_CHECK(memcmp(msg, e->s + e->off + 2, flen) == 0,
			"frame: frame bytes as sent");
		e->off += 2 + flen;
	}
}

/** Build a stream from (length, fill) records. @return its length. */
static size_t
synth_stream(struct fuzz_in* in, uint8_t* s)
{
	/* frame bodies are windows on one pattern, made once */
	static uint8_t pat[DOTPOOL_FRAME_MAX + 256];
	static int pat_done;
	size_t len = 0, k;

	if(!pat_done) {
		for(k = 0; k < sizeof(pat); k++)
			pat[k] = (uint8_t)(k * 13 + k / 251);
		pat_done = 1;
	}
	while(in->left >= 3) {
		size_t flen = fuzz_u16(in);
		uint8_t fill = fuzz_u8(in);
		if(len + 2 + flen > STREAM_MAX)
			break;
		s[len++] = (uint8_t)(flen >> 8);
		s[len++] = (uint8_t)flen;
		memcpy(s + len, pat + fill, flen);
		len += flen;
	}
	/* a trailing partial prefix or frame start */
	while(in->left > 0 && len < STREAM_MAX)
		s[len++] = fuzz_u8(in);
	return len;
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
	static uint8_t synth[STREAM_MAX];
	struct fuzz_in in = { data, size };
	struct dotpool_frame_reader r;
	struct expect e;
	const uint8_t* ctl;
	size_t nctl, fed = 0, step = 0;
	uint8_t mode;

	mode = fuzz_u8(&in);
	nctl = fuzz_u8(&in);
	if(nctl > in.left)
		nctl = in.left;
	ctl = in.p;
	in.p += nctl;
	in.left -= nctl;
	memset(&e, 0, sizeof(e));
	if(mode & 1) {
		e.s = in.p;
		e.len = in.left;
	} else {
		e.s = synth;
		e.len = synth_stream(&in, synth);
	}
	FUZZ_CHECK(dotpool_frame_reader_init(&r) == 0, "frame: init");
	while(fed < e.len && !e.proto) {
		uint8_t c = nctl ? ctl[step++ % nctl] : 0x80;
		uint8_t* space;
		size_t room, n;
		int ret;

		if(c & 0x80)
			take_all(&r, &e);
		if(e.proto)
			break;
		ret = dotpool_frame_space(&r, &space, &room);
		if(ret == DOTPOOL_EFULL) {
			/* Only a complete frame waiting can fill the buffer;
			 * once taken there must be room again. */
			size_t before = e.off;
			FUZZ_CHECK(r.have >= r.cap, "frame: EFULL with room");
			take_all(&r, &e);
			if(e.proto)
				break;
			FUZZ_CHECK(e.off > before,
				"frame: EFULL, no frame to take");
			ret = dotpool_frame_space(&r, &space, &room);
			FUZZ_CHECK(ret == 0, "frame: room after taking frames");
		}
		FUZZ_CHECK(ret == 0, "frame: space returns 0 or EFULL");
		FUZZ_CHECK(room > 0 && space >= r.buf &&
			space + room <= r.buf + r.cap, "frame: room in buffer");
		FUZZ_CHECK(r.cap <= READER_CAP_MAX,
			"frame: buffer within one maximal frame");
		n = (size_t)(c & 0x3f) << ((c & 0x40) ? 9 : 0);
		/* tiny pieces of a large stream cost time, not coverage:
		 * after 512 the rest goes in as fast as it fits */
		if(n == 0 || step > 512)
			n = room;
		if(n > room)
			n = room;
		if(n > e.len - fed)
			n = e.len - fed;
		memcpy(space, e.s + fed, n);
		dotpool_frame_commit(&r, n);
		fed += n;
	}
	take_all(&r, &e);
	if(!e.proto) {
		/* Whatever was not handed out is an incomplete frame. */
		size_t rest = e.len - e.off;
		FUZZ_CHECK(dotpool_frame_pending(&r) == rest,
			"frame: pending is the partial frame");
		if(rest >= 2) {
			size_t flen = ((size_t)e.s[e.off] << 8) |
				e.s[e.off + 1];
			FUZZ_CHECK(flen > 0 && rest < 2 + flen,
				"frame: a complete frame was left behind");
		}
	}
	dotpool_frame_reader_free(&r);
	return 0;
}
