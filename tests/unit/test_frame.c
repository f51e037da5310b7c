/**
 * \file
 * Unit tests of module/frame.c: frame reassembly from arbitrary reads, the
 * protocol error on an empty frame, buffer growth and its bound, and the
 * write queue's partial sends and size limit.
 */
#include <stdint.h>
#include <string.h>
#include "dotpool/error.h"
#include "dotpool/frame.h"
#include "unit.h"

/** A stream of framed messages and what it should decode to. */
struct stream {
	/** the bytes on the wire */
	uint8_t* bytes;
	/** how many */
	size_t len;
	/** message lengths, in order */
	size_t msglen[8];
	/** number of messages */
	int n;
};

/** Byte i of message m: distinct per message and position, so that a
 * message returned shifted or from the wrong place does not compare equal. */
static uint8_t
pattern(int m, size_t i)
{
	return (uint8_t)(m * 31 + i * 7 + (i >> 8));
}

/** Build a stream of messages with the given lengths. */
static void
stream_make(struct stream* s, const size_t* lens, int n)
{
	size_t total = 0, pos = 0;
	int m;
	size_t i;

	for(m = 0; m < n; m++)
		total += 2 + lens[m];
	s->bytes = malloc(total);
	UNIT_REQUIRE(s->bytes != NULL, "frame test: stream allocated");
	for(m = 0; m < n; m++) {
		s->bytes[pos++] = (uint8_t)(lens[m] >> 8);
		s->bytes[pos++] = (uint8_t)lens[m];
		for(i = 0; i < lens[m]; i++)
			s->bytes[pos++] = pattern(m, i);
		s->msglen[m] = lens[m];
	}
	s->len = total;
	s->n = n;
}

/** Check that msg is message m of the stream. */
static int
msg_ok(const struct stream* s, int m, const uint8_t* msg, size_t len)
{
	size_t i;

	if(m >= s->n || len != s->msglen[m])
		return 0;
	for(i = 0; i < len; i++)
		if(msg[i] != pattern(m, i))
			return 0;
	return 1;
}

/**
 * Push bytes into the reader in reads no larger than `chunk`, taking every
 * complete frame after each read, as a connection does.
 * @return number of messages that matched the stream, in order; -1 on a
 *	reader error or a wrong message.
 */
static int
feed(struct dotpool_frame_reader* r, const struct stream* s, size_t chunk)
{
	size_t pos = 0;
	int got = 0;

	while(pos < s->len) {
		uint8_t* space, *msg;
		size_t room, n, mlen;
		int ret;
		if(dotpool_frame_space(r, &space, &room) != 0 || room == 0)
			return -1;
		n = s->len - pos;
		if(n > room)
			n = room;
		if(n > chunk)
			n = chunk;
		memcpy(space, s->bytes + pos, n);
		dotpool_frame_commit(r, n);
		pos += n;
		while((ret = dotpool_frame_next(r, &msg, &mlen)) == 1) {
			if(!msg_ok(s, got, msg, mlen))
				return -1;
			got++;
		}
		if(ret != 0)
			return -1;
	}
	return got;
}

static void
test_single_frame(void)
{
	struct dotpool_frame_reader r;
	struct stream s;
	size_t lens[] = { 29 };

	stream_make(&s, lens, 1);
	UNIT_REQUIRE(dotpool_frame_reader_init(&r) == 0,
		"frame: reader init succeeds");
	UNIT_CHECK(feed(&r, &s, s.len) == 1,
		"frame: one frame in one read gives one message");
	UNIT_CHECK(dotpool_frame_pending(&r) == 0,
		"frame: nothing pending after a whole frame");
	dotpool_frame_reader_free(&r);
	dotpool_frame_reader_free(NULL);
	free(s.bytes);
}

static void
test_split_every_boundary(void)
{
	/* Small, medium (> the starting buffer) and tiny messages, so a split
	 * lands inside a prefix, inside a body and between frames. */
	size_t lens[] = { 1, 300, 5000, 2, 17 };
	struct stream s;
	size_t cut;

	stream_make(&s, lens, 5);
	for(cut = 1; cut < s.len; cut++) {
		struct dotpool_frame_reader r;
		struct stream a = s, b = s;
		int got1, got2;
		uint8_t* msg;
		size_t mlen;
		UNIT_REQUIRE(dotpool_frame_reader_init(&r) == 0,
			"frame: reader init succeeds");
		/* Two reads split at `cut`, checking everything arrives in
		 * order and nothing is lost or duplicated. */
		a.len = cut;
		got1 = feed(&r, &a, a.len);
		b.bytes = s.bytes + cut;
		b.len = s.len - cut;
		UNIT_CHECKF(got1 >= 0, "frame: first part of split at %zu "
			"decodes cleanly", cut);
		/* The second part continues the message numbering. */
		got2 = 0;
		{
			size_t pos = 0;
			while(pos < b.len) {
				uint8_t* space;
				size_t room, n;
				if(dotpool_frame_space(&r, &space, &room) != 0)
					break;
				n = b.len - pos < room ? b.len - pos : room;
				memcpy(space, b.bytes + pos, n);
				dotpool_frame_commit(&r, n);
				pos += n;
				while(dotpool_frame_next(&r, &msg, &mlen) == 1) {
					UNIT_CHECKF(msg_ok(&s, got1 + got2, msg,
						mlen), "frame: message %d intact "
						"after split at %zu",
						got1 + got2, cut);
					got2++;
				}
			}
		}
		UNIT_CHECKF(got1 + got2 == 5, "frame: split at %zu yields 5 "
			"messages, got %d", cut, got1 + got2);
		UNIT_CHECKF(dotpool_frame_pending(&r) == 0, "frame: nothing "
			"pending after split at %zu", cut);
		dotpool_frame_reader_free(&r);
	}
	free(s.bytes);
}

static void
test_byte_by_byte(void)
{
	size_t lens[] = { 12, 700, 4095, 4094, 1 };
	struct dotpool_frame_reader r;
	struct stream s;

	stream_make(&s, lens, 5);
	UNIT_REQUIRE(dotpool_frame_reader_init(&r) == 0,
		"frame: reader init succeeds");
	UNIT_CHECK(feed(&r, &s, 1) == 5,
		"frame: one byte per read still yields every message");
	dotpool_frame_reader_free(&r);
	free(s.bytes);
}

static void
test_two_frames_one_read(void)
{
	size_t lens[] = { 40, 60 };
	struct dotpool_frame_reader r;
	struct stream s;
	uint8_t* space, *msg;
	size_t room, mlen;

	stream_make(&s, lens, 2);
	UNIT_REQUIRE(dotpool_frame_reader_init(&r) == 0,
		"frame: reader init succeeds");
	UNIT_REQUIRE(dotpool_frame_space(&r, &space, &room) == 0 &&
		room >= s.len, "frame: room for two small frames");
	memcpy(space, s.bytes, s.len);
	dotpool_frame_commit(&r, s.len);
	UNIT_CHECK(dotpool_frame_next(&r, &msg, &mlen) == 1 &&
		msg_ok(&s, 0, msg, mlen), "frame: first of two frames");
	UNIT_CHECK(dotpool_frame_pending(&r) == 62,
		"frame: second frame still pending after the first is taken");
	UNIT_CHECK(dotpool_frame_next(&r, &msg, &mlen) == 1 &&
		msg_ok(&s, 1, msg, mlen), "frame: second of two frames");
	UNIT_CHECK(dotpool_frame_next(&r, &msg, &mlen) == 0,
		"frame: no third frame");
	dotpool_frame_reader_free(&r);
	free(s.bytes);
}

static void
test_max_frame(void)
{
	size_t lens[] = { DOTPOOL_FRAME_MAX, 3, DOTPOOL_FRAME_MAX };
	struct dotpool_frame_reader r;
	struct stream s;
	uint8_t* space;
	size_t room;

	stream_make(&s, lens, 3);
	UNIT_REQUIRE(dotpool_frame_reader_init(&r) == 0,
		"frame: reader init succeeds");
	UNIT_CHECK(feed(&r, &s, 1000) == 3,
		"frame: 65535-byte frames are reassembled");
	UNIT_CHECK(r.cap <= 2 + DOTPOOL_FRAME_MAX,
		"frame: buffer never exceeds one maximal frame");
	UNIT_CHECK(dotpool_frame_space(&r, &space, &room) == 0 &&
		r.cap < 2 + DOTPOOL_FRAME_MAX,
		"frame: buffer shrinks once the large frame was taken");
	dotpool_frame_reader_free(&r);
	free(s.bytes);
}

static void
test_zero_length(void)
{
	struct dotpool_frame_reader r;
	uint8_t zero[] = { 0, 1, 0x42, 0, 0, 0, 5 };
	uint8_t* space, *msg;
	size_t room, mlen;

	UNIT_REQUIRE(dotpool_frame_reader_init(&r) == 0,
		"frame: reader init succeeds");
	UNIT_REQUIRE(dotpool_frame_space(&r, &space, &room) == 0,
		"frame: space available");
	memcpy(space, zero, sizeof(zero));
	dotpool_frame_commit(&r, sizeof(zero));
	UNIT_CHECK(dotpool_frame_next(&r, &msg, &mlen) == 1 && mlen == 1 &&
		msg[0] == 0x42, "frame: valid frame before the empty one");
	UNIT_CHECK(dotpool_frame_next(&r, &msg, &mlen) == DOTPOOL_EPROTO,
		"frame: zero-length frame is a protocol error");
	UNIT_CHECK(dotpool_frame_next(&r, &msg, &mlen) == DOTPOOL_EPROTO,
		"frame: the error sticks on the next call");
	dotpool_frame_reader_free(&r);
}

static void
test_partial_prefix(void)
{
	struct dotpool_frame_reader r;
	uint8_t* space, *msg;
	size_t room, mlen;

	UNIT_REQUIRE(dotpool_frame_reader_init(&r) == 0,
		"frame: reader init succeeds");
	UNIT_REQUIRE(dotpool_frame_space(&r, &space, &room) == 0,
		"frame: space available");
	space[0] = 0;
	dotpool_frame_commit(&r, 1);
	UNIT_CHECK(dotpool_frame_next(&r, &msg, &mlen) == 0,
		"frame: half a length prefix is not a frame");
	UNIT_CHECK(dotpool_frame_pending(&r) == 1,
		"frame: the half prefix is pending");
	UNIT_REQUIRE(dotpool_frame_space(&r, &space, &room) == 0,
		"frame: space after half a prefix");
	space[0] = 0;
	dotpool_frame_commit(&r, 1);
	UNIT_CHECK(dotpool_frame_next(&r, &msg, &mlen) == DOTPOOL_EPROTO,
		"frame: prefix completed to zero is a protocol error");
	dotpool_frame_reader_free(&r);
}

static void
test_full_of_frames(void)
{
	struct dotpool_frame_reader r;
	uint8_t* space, *msg;
	size_t room, mlen, i;
	int n = 0, ret;

	UNIT_REQUIRE(dotpool_frame_reader_init(&r) == 0,
		"frame: reader init succeeds");
	/* Fill the whole buffer with 2-byte frames without taking any. */
	for(;;) {
		ret = dotpool_frame_space(&r, &space, &room);
		if(ret != 0)
			break;
		for(i = 0; i < room; i++)
			space[i] = (i % 4 < 1) ? 0 : (i % 4 == 1 ? 2 : 0x77);
		dotpool_frame_commit(&r, room);
		if(++n > 100)
			break;
	}
	UNIT_CHECK(ret == DOTPOOL_EFULL,
		"frame: space refuses to grow past waiting complete frames");
	UNIT_CHECK(r.cap <= 2 + DOTPOOL_FRAME_MAX,
		"frame: a lagging caller does not grow the buffer unbounded");
	while((ret = dotpool_frame_next(&r, &msg, &mlen)) == 1)
		UNIT_CHECK(mlen == 2, "frame: each waiting frame is 2 bytes");
	UNIT_CHECK(ret == 0, "frame: draining ends with need-more");
	UNIT_CHECK(dotpool_frame_space(&r, &space, &room) == 0 && room > 0,
		"frame: space again after the frames were taken");
	dotpool_frame_reader_free(&r);
}

/** Collect and remove everything in the queue, at most step per send. */
static size_t
wbuf_drain(struct dotpool_wbuf* w, uint8_t* out, size_t step)
{
	size_t total = 0, n;
	const uint8_t* d;

	while((d = dotpool_wbuf_data(w, &n)) != NULL) {
		if(n > step)
			n = step;
		memcpy(out + total, d, n);
		total += n;
		dotpool_wbuf_consume(w, n);
	}
	return total;
}

static void
test_wbuf_partial(void)
{
	struct dotpool_wbuf w;
	uint8_t m1[5] = { 1, 2, 3, 4, 5 }, m2[300], out[400];
	size_t n, i;

	for(i = 0; i < sizeof(m2); i++)
		m2[i] = (uint8_t)(i * 3);
	dotpool_wbuf_init(&w, 1024);
	UNIT_CHECK(dotpool_wbuf_data(&w, &n) == NULL && n == 0,
		"wbuf: a new queue is empty");
	UNIT_REQUIRE(dotpool_wbuf_put(&w, m1, sizeof(m1)) == 0,
		"wbuf: put 5 bytes");
	UNIT_REQUIRE(dotpool_wbuf_put(&w, m2, sizeof(m2)) == 0,
		"wbuf: put 300 bytes");
	UNIT_CHECK(dotpool_wbuf_len(&w) == 2 + 5 + 2 + 300,
		"wbuf: length counts both prefixes");
	n = wbuf_drain(&w, out, 1);
	UNIT_CHECK(n == 309, "wbuf: one byte per send drains everything");
	UNIT_CHECK(out[0] == 0 && out[1] == 5 && memcmp(out + 2, m1, 5) == 0,
		"wbuf: first frame has its prefix and body");
	UNIT_CHECK(out[7] == 1 && out[8] == 44 &&
		memcmp(out + 9, m2, 300) == 0,
		"wbuf: second frame has prefix 300 and its body");
	UNIT_CHECK(dotpool_wbuf_len(&w) == 0, "wbuf: empty after drain");
	dotpool_wbuf_free(&w);
	dotpool_wbuf_free(NULL);
}

static void
test_wbuf_max(void)
{
	struct dotpool_wbuf w;
	uint8_t msg[100], out[2048];
	const uint8_t* d;
	size_t n;
	int i, put = 0;

	memset(msg, 0xab, sizeof(msg));
	dotpool_wbuf_init(&w, 510);
	UNIT_CHECK(dotpool_wbuf_put(&w, msg, 0) == DOTPOOL_EINVAL,
		"wbuf: an empty message is invalid");
	UNIT_CHECK(dotpool_wbuf_put(&w, msg, DOTPOOL_FRAME_MAX + 1) ==
		DOTPOOL_EINVAL, "wbuf: a message over 65535 bytes is invalid");
	for(i = 0; i < 10; i++) {
		if(dotpool_wbuf_put(&w, msg, sizeof(msg)) != 0)
			break;
		put++;
	}
	UNIT_CHECK(put == 5, "wbuf: 5 frames of 102 bytes fit in 510");
	UNIT_CHECK(dotpool_wbuf_put(&w, msg, sizeof(msg)) == DOTPOOL_EFULL,
		"wbuf: the sixth frame is refused with EFULL");
	UNIT_CHECK(w.cap <= 510, "wbuf: capacity stays within max");
	/* Send part of the first frame: room for another frame appears only
	 * once a whole frame's worth is sent. */
	d = dotpool_wbuf_data(&w, &n);
	UNIT_REQUIRE(d != NULL && n == 510, "wbuf: 510 bytes queued");
	dotpool_wbuf_consume(&w, 101);
	UNIT_CHECK(dotpool_wbuf_put(&w, msg, sizeof(msg)) == DOTPOOL_EFULL,
		"wbuf: 101 bytes sent is not room for 102");
	dotpool_wbuf_consume(&w, 1);
	msg[0] = 0xcd;
	UNIT_CHECK(dotpool_wbuf_put(&w, msg, sizeof(msg)) == 0,
		"wbuf: a frame fits once 102 bytes were sent (compaction)");
	UNIT_CHECK(w.cap <= 510, "wbuf: compaction instead of growth");
	n = wbuf_drain(&w, out, 77);
	UNIT_CHECK(n == 510, "wbuf: 5 frames remain after compaction");
	UNIT_CHECK(out[0] == 0 && out[1] == 100 && out[2] == 0xab,
		"wbuf: older frames first");
	UNIT_CHECK(out[408] == 0 && out[409] == 100 && out[410] == 0xcd,
		"wbuf: the new frame is last");
	dotpool_wbuf_consume(&w, 10);
	UNIT_CHECK(dotpool_wbuf_len(&w) == 0,
		"wbuf: consuming past the end stays empty");
	dotpool_wbuf_free(&w);
}

static void
test_wbuf_large(void)
{
	struct dotpool_wbuf w;
	uint8_t* big = malloc(DOTPOOL_FRAME_MAX);
	const uint8_t* d;
	size_t n;

	UNIT_REQUIRE(big != NULL, "wbuf test: allocation");
	memset(big, 0x5a, DOTPOOL_FRAME_MAX);
	dotpool_wbuf_init(&w, 2 * (2 + DOTPOOL_FRAME_MAX));
	UNIT_CHECK(dotpool_wbuf_put(&w, big, DOTPOOL_FRAME_MAX) == 0 &&
		dotpool_wbuf_put(&w, big, DOTPOOL_FRAME_MAX) == 0,
		"wbuf: two maximal frames fit a queue sized for two");
	d = dotpool_wbuf_data(&w, &n);
	UNIT_CHECK(d && n == 2 * (2 + DOTPOOL_FRAME_MAX) && d[0] == 0xff &&
		d[1] == 0xff, "wbuf: maximal frame prefixed 0xffff");
	dotpool_wbuf_consume(&w, n);
	UNIT_CHECK(w.cap == 0 && w.buf == NULL,
		"wbuf: a large buffer is released when it empties");
	dotpool_wbuf_free(&w);
	free(big);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "single frame", test_single_frame },
		{ "split at every byte boundary", test_split_every_boundary },
		{ "byte by byte", test_byte_by_byte },
		{ "two frames in one read", test_two_frames_one_read },
		{ "maximal frame", test_max_frame },
		{ "zero-length frame", test_zero_length },
		{ "partial length prefix", test_partial_prefix },
		{ "buffer full of frames", test_full_of_frames },
		{ "wbuf partial sends", test_wbuf_partial },
		{ "wbuf max and compaction", test_wbuf_max },
		{ "wbuf maximal frames", test_wbuf_large },
		{ NULL, NULL }
	};
	return unit_run("frame", tests);
}
