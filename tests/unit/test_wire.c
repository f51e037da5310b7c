/**
 * \file
 * Unit tests of module/wire.c: IDs, question parsing limits, every
 * reason an answer is refused as not matching its query, and the reader of
 * the server's edns-tcp-keepalive option. Truncated inputs
 * are passed in heap buffers of exactly their length, so that an overread
 * shows up under valgrind or ASan.
 */
#include <stdint.h>
#include <string.h>
#include "dotpool/error.h"
#include "dotpool/wire.h"
#include "unit.h"

/**
 * Write a query for a dotted name (no escapes) into buf.
 * @return its length.
 */
static size_t
make_query(uint8_t* buf, uint16_t id, const char* name, uint16_t type,
	uint16_t klass)
{
	size_t pos = DOTPOOL_WIRE_HDR;
	const char* p = name;

	memset(buf, 0, DOTPOOL_WIRE_HDR);
	dotpool_wire_set_id(buf, id);
	buf[2] = 0x01; /* RD */
	buf[5] = 1; /* qdcount */
	while(*p && strcmp(p, ".") != 0) {
		const char* dot = strchr(p, '.');
		size_t l = dot ? (size_t)(dot - p) : strlen(p);
		buf[pos++] = (uint8_t)l;
		memcpy(buf + pos, p, l);
		pos += l;
		p += l;
		if(*p == '.')
			p++;
	}
	buf[pos++] = 0;
	buf[pos++] = (uint8_t)(type >> 8);
	buf[pos++] = (uint8_t)type;
	buf[pos++] = (uint8_t)(klass >> 8);
	buf[pos++] = (uint8_t)klass;
	return pos;
}

/**
 * Turn a query into an answer: QR set, one A record appended whose owner is
 * a compression pointer to the question (normal in answers).
 * @return the answer's length.
 */
static size_t
make_answer(uint8_t* buf, const uint8_t* q, size_t qlen)
{
	static const uint8_t rr[] = { 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x0e, 0x10,
		0, 4, 192, 0, 2, 1 };

	memcpy(buf, q, qlen);
	buf[2] |= 0x80;
	buf[7] = 1; /* ancount */
	memcpy(buf + qlen, rr, sizeof(rr));
	return qlen + sizeof(rr);
}

/** Heap copy of exactly len bytes (never NULL for len 0: malloc(1)). */
static uint8_t*
exact(const uint8_t* src, size_t len)
{
	uint8_t* p = malloc(len ? len : 1);
	if(p && len)
		memcpy(p, src, len);
	return p;
}

static void
test_id(void)
{
	uint8_t m[DOTPOOL_WIRE_HDR] = { 0 };

	dotpool_wire_set_id(m, 0xbeef);
	UNIT_CHECK(m[0] == 0xbe && m[1] == 0xef,
		"wire: set_id writes network order");
	UNIT_CHECK(dotpool_wire_id(m) == 0xbeef, "wire: id reads it back");
	dotpool_wire_set_id(m, 0);
	UNIT_CHECK(dotpool_wire_id(m) == 0, "wire: id 0");
	dotpool_wire_set_id(m, 0xffff);
	UNIT_CHECK(dotpool_wire_id(m) == 0xffff, "wire: id 65535");
}

static void
test_question_len(void)
{
	uint8_t q[600];
	size_t n;

	n = make_query(q, 1, "www.example.com", 1, 1);
	UNIT_CHECK(dotpool_wire_question_len(q, n) == 17 + 4,
		"wire: question of www.example.com is 21 bytes");
	n = make_query(q, 1, ".", 2, 1);
	UNIT_CHECK(dotpool_wire_question_len(q, n) == 5,
		"wire: question of the root is 5 bytes");
	n = make_query(q, 1, "a.b", 1, 1);
	q[5] = 0;
	UNIT_CHECK(dotpool_wire_question_len(q, n) == DOTPOOL_EPROTO,
		"wire: qdcount 0 is refused");
	q[5] = 2;
	UNIT_CHECK(dotpool_wire_question_len(q, n) == DOTPOOL_EPROTO,
		"wire: qdcount 2 is refused");
	q[4] = 1;
	q[5] = 1;
	UNIT_CHECK(dotpool_wire_question_len(q, n) == DOTPOOL_EPROTO,
		"wire: qdcount 257 is refused");
}

static void
test_question_limits(void)
{
	uint8_t q[600];
	char name[400];
	size_t n;
	int i;

	/* A 63-octet label is fine, 64 is not (the 0x40 bit pattern). */
	memset(name, 'a', 63);
	strcpy(name + 63, ".org");
	n = make_query(q, 1, name, 1, 1);
	UNIT_CHECK(dotpool_wire_question_len(q, n) == 1 + 63 + 5 + 4,
		"wire: a 63-octet label is accepted");
	memset(name, 'a', 64);
	strcpy(name + 64, ".org");
	n = make_query(q, 1, name, 1, 1);
	UNIT_CHECK(dotpool_wire_question_len(q, n) == DOTPOOL_EPROTO,
		"wire: a 64-octet label is refused");

	/* Three 63-octet labels and one of 61: 255 octets with the root. */
	name[0] = 0;
	for(i = 0; i < 3; i++) {
		memset(name + i * 64, 'b', 63);
		name[i * 64 + 63] = '.';
	}
	memset(name + 192, 'c', 61);
	name[253] = 0;
	n = make_query(q, 1, name, 1, 1);
	UNIT_CHECK(dotpool_wire_question_len(q, n) == 255 + 4,
		"wire: a 255-octet name is accepted");
	memset(name + 192, 'c', 62);
	name[254] = 0;
	n = make_query(q, 1, name, 1, 1);
	UNIT_CHECK(dotpool_wire_question_len(q, n) == DOTPOOL_EPROTO,
		"wire: a 256-octet name is refused");
}

static void
test_question_compression(void)
{
	uint8_t q[64];
	size_t n = make_query(q, 1, "example.com", 1, 1);

	/* Replace "com" by a pointer back to offset 12. */
	q[12 + 8] = 0xc0;
	q[12 + 9] = 0x0c;
	n = 12 + 10;
	q[n++] = 0; q[n++] = 1; q[n++] = 0; q[n++] = 1;
	UNIT_CHECK(dotpool_wire_question_len(q, n) == DOTPOOL_EPROTO,
		"wire: a compression pointer in the question is refused");
	/* The pointer as the whole name. */
	n = 12;
	q[n++] = 0xc0; q[n++] = 0x0c;
	q[n++] = 0; q[n++] = 1; q[n++] = 0; q[n++] = 1;
	UNIT_CHECK(dotpool_wire_question_len(q, n) == DOTPOOL_EPROTO,
		"wire: a question name that is only a pointer is refused");
	/* The reserved 0x80 label type. */
	q[12] = 0x80;
	UNIT_CHECK(dotpool_wire_question_len(q, n) == DOTPOOL_EPROTO,
		"wire: the 0x80 label type is refused");
}

static void
test_truncated(void)
{
	uint8_t q[128], a[160];
	size_t qn = make_query(q, 0x1234, "host.example.net", 28, 1);
	size_t an = make_answer(a, q, qn), k;
	int qql = dotpool_wire_question_len(q, qn);

	UNIT_REQUIRE(qql > 4, "wire: test query parses");
	for(k = 0; k < qn; k++) {
		uint8_t* p = exact(q, k);
		UNIT_REQUIRE(p != NULL, "wire test: allocation");
		UNIT_CHECKF(dotpool_wire_question_len(p, k) == DOTPOOL_EPROTO,
			"wire: a query cut to %zu bytes has no question", k);
		UNIT_CHECKF(dotpool_wire_match(p, k, a, an) != DOTPOOL_MATCH_OK,
			"wire: nothing matches a query cut to %zu bytes", k);
		free(p);
	}
	for(k = 0; k <= an; k++) {
		uint8_t* p = exact(a, k);
		enum dotpool_match r;
		UNIT_REQUIRE(p != NULL, "wire test: allocation");
		r = dotpool_wire_match(q, qn, p, k);
		if(k < DOTPOOL_WIRE_HDR + (size_t)qql) {
			UNIT_CHECKF(r == DOTPOOL_MATCH_SHORT, "wire: an answer "
				"cut to %zu bytes is short, got %s", k,
				dotpool_match_str(r));
		} else {
			UNIT_CHECKF(r == DOTPOOL_MATCH_OK, "wire: an answer cut "
				"to %zu bytes still has the whole question, "
				"got %s", k, dotpool_match_str(r));
		}
		(void)dotpool_wire_question_len(p, k);
		free(p);
	}
}

static void
test_match_ok(void)
{
	uint8_t q[128], a[160];
	size_t qn = make_query(q, 77, "Www.Example.COM", 1, 1);
	size_t an = make_answer(a, q, qn);

	UNIT_CHECK(dotpool_wire_match(q, qn, a, an) == DOTPOOL_MATCH_OK,
		"wire: the answer to a query matches");
	/* Change the case of the answer's name (0x20 mixing, RFC 4343). */
	a[13] = 'w';
	a[17] = 'E';
	a[25] = 'c';
	a[26] = 'o';
	UNIT_CHECK(dotpool_wire_match(q, qn, a, an) == DOTPOOL_MATCH_OK,
		"wire: the question name matches case-insensitively");
	/* Other header bits do not matter: AA, TC, RA, rcode. */
	a[2] |= 0x06;
	a[3] = 0x83;
	UNIT_CHECK(dotpool_wire_match(q, qn, a, an) == DOTPOOL_MATCH_OK,
		"wire: flags and rcode do not affect the match");
}

static void
test_match_reasons(void)
{
	uint8_t q[128], a[160], b[160];
	size_t qn = make_query(q, 0xa55a, "mail.example.org", 15, 1);
	size_t an = make_answer(a, q, qn), bn;

	memcpy(b, a, an);
	b[2] &= 0x7f;
	UNIT_CHECK(dotpool_wire_match(q, qn, b, an) ==
		DOTPOOL_MATCH_NOT_RESPONSE, "wire: QR clear is not a response");

	memcpy(b, a, an);
	b[2] = (uint8_t)((b[2] & 0x87) | (2 << 3));
	UNIT_CHECK(dotpool_wire_match(q, qn, b, an) == DOTPOOL_MATCH_OPCODE,
		"wire: opcode STATUS is refused");
	b[2] = (uint8_t)((b[2] & 0x87) | (4 << 3));
	UNIT_CHECK(dotpool_wire_match(q, qn, b, an) == DOTPOOL_MATCH_OPCODE,
		"wire: opcode NOTIFY is refused");

	memcpy(b, a, an);
	b[5] = 0;
	UNIT_CHECK(dotpool_wire_match(q, qn, b, an) == DOTPOOL_MATCH_QDCOUNT,
		"wire: qdcount 0 in the answer is refused");
	b[5] = 2;
	UNIT_CHECK(dotpool_wire_match(q, qn, b, an) == DOTPOOL_MATCH_QDCOUNT,
		"wire: qdcount 2 in the answer is refused");

	memcpy(b, a, an);
	dotpool_wire_set_id(b, 0xa55b);
	UNIT_CHECK(dotpool_wire_match(q, qn, b, an) == DOTPOOL_MATCH_ID,
		"wire: another ID is refused");

	memcpy(b, a, an);
	b[13] = 'n'; /* "nail" */
	UNIT_CHECK(dotpool_wire_match(q, qn, b, an) == DOTPOOL_MATCH_QUESTION,
		"wire: another name of the same length is refused");

	memcpy(b, a, an);
	b[12 + 18 + 1] = 16; /* type MX -> TXT */
	UNIT_CHECK(dotpool_wire_match(q, qn, b, an) == DOTPOOL_MATCH_QUESTION,
		"wire: another type is refused");

	memcpy(b, a, an);
	b[12 + 18 + 3] = 3; /* class IN -> CH */
	UNIT_CHECK(dotpool_wire_match(q, qn, b, an) == DOTPOOL_MATCH_QUESTION,
		"wire: another class is refused");

	/* A longer name: the answer for "mail.example.org.evil". */
	bn = make_query(b, 0xa55a, "mail.example.org.evil", 15, 1);
	b[2] |= 0x80;
	UNIT_CHECK(dotpool_wire_match(q, qn, b, bn) == DOTPOOL_MATCH_QUESTION,
		"wire: a longer name is refused");
	/* A shorter name whose labels are a prefix. */
	bn = make_query(b, 0xa55a, "mail.example", 15, 1);
	b[2] |= 0x80;
	memcpy(b + bn, a + qn, an - qn);
	bn += an - qn;
	UNIT_CHECK(dotpool_wire_match(q, qn, b, bn) == DOTPOOL_MATCH_QUESTION,
		"wire: a shorter name is refused");

	/* The same question written with a pointer in the answer. */
	memcpy(b, a, an);
	b[12 + 5] = 0xc0;
	b[12 + 6] = 0x0c;
	UNIT_CHECK(dotpool_wire_match(q, qn, b, an) == DOTPOOL_MATCH_QUESTION,
		"wire: a pointer in the answer's question is refused");

	/* Case folding is ASCII only: 0xC1 and 0xE1 differ. */
	qn = make_query(q, 9, "x.y", 1, 1);
	q[13] = 0xc1;
	an = make_answer(a, q, qn);
	a[13] = 0xe1;
	UNIT_CHECK(dotpool_wire_match(q, qn, a, an) == DOTPOOL_MATCH_QUESTION,
		"wire: non-ASCII bytes are compared exactly");

	/* A malformed query can match nothing. */
	qn = make_query(q, 9, "x.y", 1, 1);
	an = make_answer(a, q, qn);
	q[5] = 2;
	a[5] = 1;
	UNIT_CHECK(dotpool_wire_match(q, qn, a, an) == DOTPOOL_MATCH_QUESTION,
		"wire: an answer never matches a malformed query");
}

static void
test_match_order(void)
{
	uint8_t q[64], a[96];
	size_t qn = make_query(q, 5, "a.b", 1, 1);
	size_t an = make_answer(a, q, qn);

	/* Several faults at once: the first reason in the documented order
	 * is the one reported. */
	a[2] = 0; /* QR clear, opcode 0 */
	a[5] = 0;
	dotpool_wire_set_id(a, 6);
	UNIT_CHECK(dotpool_wire_match(q, qn, a, an) ==
		DOTPOOL_MATCH_NOT_RESPONSE, "wire: QR is checked first");
	a[2] = 0x80 | (1 << 3);
	UNIT_CHECK(dotpool_wire_match(q, qn, a, an) == DOTPOOL_MATCH_OPCODE,
		"wire: opcode is checked before qdcount");
	a[2] = 0x80;
	UNIT_CHECK(dotpool_wire_match(q, qn, a, an) == DOTPOOL_MATCH_QDCOUNT,
		"wire: qdcount is checked before the ID");
	a[5] = 1;
	UNIT_CHECK(dotpool_wire_match(q, qn, a, an) == DOTPOOL_MATCH_ID,
		"wire: the ID is checked before the question");
}

static void
test_match_str(void)
{
	UNIT_CHECK(strcmp(dotpool_match_str(DOTPOOL_MATCH_OK), "ok") == 0,
		"wire: match name ok");
	UNIT_CHECK(strcmp(dotpool_match_str(DOTPOOL_MATCH_SHORT), "short") == 0,
		"wire: match name short");
	UNIT_CHECK(strcmp(dotpool_match_str(DOTPOOL_MATCH_NOT_RESPONSE),
		"not a response") == 0, "wire: match name not a response");
	UNIT_CHECK(strcmp(dotpool_match_str(DOTPOOL_MATCH_OPCODE), "opcode")
		== 0, "wire: match name opcode");
	UNIT_CHECK(strcmp(dotpool_match_str(DOTPOOL_MATCH_QDCOUNT), "qdcount")
		== 0, "wire: match name qdcount");
	UNIT_CHECK(strcmp(dotpool_match_str(DOTPOOL_MATCH_ID), "id") == 0,
		"wire: match name id");
	UNIT_CHECK(strcmp(dotpool_match_str(DOTPOOL_MATCH_QUESTION),
		"question") == 0, "wire: match name question");
	UNIT_CHECK(strcmp(dotpool_match_str((enum dotpool_match)99),
		"unknown") == 0, "wire: an out-of-range value is unknown");
}

/** The question hash: what a cancelled query leaves to check its late
 * answer with. Same question (any case) same hash; another name, type,
 * class or label split another; the seed keys it. */
static void
test_question_hash(void)
{
	uint8_t q[128], o[128], a[160];
	size_t qn = make_query(q, 77, "Www.Example.COM", 1, 1), on, an;
	uint32_t hq = 0, h = 0, h2 = 0;

	UNIT_REQUIRE(dotpool_wire_question_hash(q, qn, 42, &hq) == 0,
		"wire: a query has a question hash");
	an = make_answer(a, q, qn);
	UNIT_CHECK(dotpool_wire_question_hash(a, an, 42, &h) == 0 && h == hq,
		"wire: its answer has the same hash");
	on = make_query(o, 1, "www.example.com", 1, 1);
	UNIT_CHECK(dotpool_wire_question_hash(o, on, 42, &h) == 0 && h == hq,
		"wire: the hash ignores the name's case and the ID");
	UNIT_CHECK(dotpool_wire_question_hash(o, on, 43, &h2) == 0 && h2 != h,
		"wire: another seed gives another hash");
	on = make_query(o, 77, "www.example.org", 1, 1);
	UNIT_CHECK(dotpool_wire_question_hash(o, on, 42, &h) == 0 && h != hq,
		"wire: another name, another hash");
	on = make_query(o, 77, "www.example.com", 28, 1);
	UNIT_CHECK(dotpool_wire_question_hash(o, on, 42, &h) == 0 && h != hq,
		"wire: another type, another hash");
	on = make_query(o, 77, "www.example.com", 1, 3);
	UNIT_CHECK(dotpool_wire_question_hash(o, on, 42, &h) == 0 && h != hq,
		"wire: another class, another hash");
	on = make_query(o, 77, "www.exampl.ecom", 1, 1);
	UNIT_CHECK(dotpool_wire_question_hash(o, on, 42, &h) == 0 && h != hq,
		"wire: the same letters split into other labels, another hash");
	/* type 65 (HTTPS) is byte 'A': only the name is folded */
	on = make_query(o, 77, "www.example.com", 65, 1);
	UNIT_REQUIRE(dotpool_wire_question_hash(o, on, 42, &h) == 0,
		"wire: type 65 hashed");
	on = make_query(o, 77, "www.example.com", 97, 1);
	UNIT_CHECK(dotpool_wire_question_hash(o, on, 42, &h2) == 0 && h != h2,
		"wire: type and class bytes are not case-folded");
	o[5] = 2;
	UNIT_CHECK(dotpool_wire_question_hash(o, on, 42, &h) ==
		DOTPOOL_EPROTO, "wire: no hash without exactly one question");
	UNIT_CHECK(dotpool_wire_question_hash(o, 5, 42, &h) == DOTPOOL_EPROTO,
		"wire: no hash of a short message");
}

/** A late answer is checked against the question hash only. */
static void
test_match_hash(void)
{
	uint8_t q[128], a[160], o[128], oa[160];
	size_t qn = make_query(q, 77, "www.example.com", 1, 1), an, on, oan;
	uint32_t hq = 0;

	UNIT_REQUIRE(dotpool_wire_question_hash(q, qn, 9, &hq) == 0,
		"wire: hash of the query");
	an = make_answer(a, q, qn);
	a[14] = 'W';
	UNIT_CHECK(dotpool_wire_match_hash(a, an, 9, hq) == DOTPOOL_MATCH_OK,
		"wire: the late answer to the question matches its hash");
	UNIT_CHECK(dotpool_wire_match_hash(a, an, 10, hq) ==
		DOTPOOL_MATCH_QUESTION, "wire: not with another seed");
	on = make_query(o, 77, "www.example.com", 28, 1);
	oan = make_answer(oa, o, on);
	UNIT_CHECK(dotpool_wire_match_hash(oa, oan, 9, hq) ==
		DOTPOOL_MATCH_QUESTION,
		"wire: an answer with the same ID for another question does "
		"not match the hash");
	UNIT_CHECK(dotpool_wire_match_hash(q, qn, 9, hq) ==
		DOTPOOL_MATCH_NOT_RESPONSE,
		"wire: the query itself (QR clear) is no late answer");
	a[2] |= 0x10; /* opcode 2 */
	UNIT_CHECK(dotpool_wire_match_hash(a, an, 9, hq) ==
		DOTPOOL_MATCH_OPCODE, "wire: another opcode is refused");
	a[2] &= (uint8_t)~0x78;
	a[5] = 0;
	UNIT_CHECK(dotpool_wire_match_hash(a, an, 9, hq) ==
		DOTPOOL_MATCH_QDCOUNT, "wire: qdcount 0 is refused");
	a[5] = 1;
	UNIT_CHECK(dotpool_wire_match_hash(a, 11, 9, hq) ==
		DOTPOOL_MATCH_SHORT && dotpool_wire_match_hash(a, 14, 9, hq) !=
		DOTPOOL_MATCH_OK, "wire: a truncated late answer is refused");
}

/**
 * Append an OPT record (root owner) holding the given options to an
 * answer, and count it in arcount.
 * @return the new length.
 */
static size_t
add_opt(uint8_t* buf, size_t len, const uint8_t* opts, size_t olen)
{
	unsigned ar = ((unsigned)buf[10] << 8) | buf[11];

	buf[len++] = 0; /* root */
	buf[len++] = 0; buf[len++] = 41; /* OPT */
	buf[len++] = 0x04; buf[len++] = 0xd0; /* payload 1232 */
	buf[len++] = 0; buf[len++] = 0; buf[len++] = 0; buf[len++] = 0;
	buf[len++] = (uint8_t)(olen >> 8);
	buf[len++] = (uint8_t)olen;
	if(olen)
		memcpy(buf + len, opts, olen);
	len += olen;
	ar++;
	buf[10] = (uint8_t)(ar >> 8);
	buf[11] = (uint8_t)ar;
	return len;
}

/** dotpool_wire_keepalive on an exact heap copy (overreads show). */
static int
keepalive_exact(const uint8_t* m, size_t len)
{
	uint8_t* p = exact(m, len);
	int k;

	if(!p)
		return -2;
	k = dotpool_wire_keepalive(p, len);
	free(p);
	return k;
}

static void
test_keepalive(void)
{
	static const uint8_t ka100[] = { 0, 11, 0, 2, 0, 100 };
	static const uint8_t ka0[] = { 0, 11, 0, 2, 0, 0 };
	static const uint8_t kamax[] = { 0, 11, 0, 2, 0xff, 0xff };
	/* a cookie (option 10) before the keepalive option */
	static const uint8_t cookie_ka[] = { 0, 10, 0, 8, 1, 2, 3, 4, 5, 6, 7,
		8, 0, 11, 0, 2, 0x01, 0x2c };
	uint8_t q[128], a[256];
	size_t qn = make_query(q, 7, "www.example.com", 1, 1);
	size_t an = make_answer(a, q, qn), n;

	UNIT_CHECK(keepalive_exact(a, an) == -1,
		"wire: keepalive: none without an OPT record");
	n = add_opt(a, an, ka100, sizeof(ka100));
	UNIT_CHECK(keepalive_exact(a, n) == 100,
		"wire: keepalive: 100 (10 s) read after a compressed answer");
	an = make_answer(a, q, qn);
	n = add_opt(a, an, ka0, sizeof(ka0));
	UNIT_CHECK(keepalive_exact(a, n) == 0,
		"wire: keepalive: 0 (close) is a value, not absence");
	an = make_answer(a, q, qn);
	n = add_opt(a, an, kamax, sizeof(kamax));
	UNIT_CHECK(keepalive_exact(a, n) == 65535,
		"wire: keepalive: the largest timeout");
	an = make_answer(a, q, qn);
	n = add_opt(a, an, cookie_ka, sizeof(cookie_ka));
	UNIT_CHECK(keepalive_exact(a, n) == 300,
		"wire: keepalive: found after another option");
	an = make_answer(a, q, qn);
	n = add_opt(a, an, NULL, 0);
	UNIT_CHECK(keepalive_exact(a, n) == -1,
		"wire: keepalive: none in an empty OPT record");
	/* the query itself, with the client's empty keepalive option */
	{
		static const uint8_t client[] = { 0, 11, 0, 0 };
		uint8_t cq[128];
		size_t cn = make_query(cq, 7, "example.org", 1, 1);
		cn = add_opt(cq, cn, client, sizeof(client));
		UNIT_CHECK(keepalive_exact(cq, cn) == -1,
			"wire: keepalive: an option without a timeout is none");
	}
	UNIT_CHECK(keepalive_exact(a, 11) == -1,
		"wire: keepalive: none in a message shorter than a header");
}

static void
test_keepalive_malformed(void)
{
	static const uint8_t ka100[] = { 0, 11, 0, 2, 0, 100 };
	static const uint8_t long_opt[] = { 0, 11, 0, 9, 0, 100 };
	uint8_t q[128], a[256];
	size_t qn = make_query(q, 7, "www.example.com", 1, 1);
	size_t an = make_answer(a, q, qn), n, k;
	int bad = 0;

	/* Cut anywhere, the value is either gone or exactly the one sent. */
	n = add_opt(a, an, ka100, sizeof(ka100));
	for(k = 0; k < n; k++) {
		int v = keepalive_exact(a, k);
		if(v != -1)
			bad++;
	}
	UNIT_CHECK(bad == 0, "wire: keepalive: none in a cut answer");
	/* An option longer than the record: malformed, no value. */
	an = make_answer(a, q, qn);
	n = add_opt(a, an, long_opt, sizeof(long_opt));
	UNIT_CHECK(keepalive_exact(a, n) == -1,
		"wire: keepalive: an option past its record is refused");
	/* A keepalive option of 3 octets: not the server's form. */
	{
		static const uint8_t odd[] = { 0, 11, 0, 3, 0, 100, 7 };
		an = make_answer(a, q, qn);
		n = add_opt(a, an, odd, sizeof(odd));
		UNIT_CHECK(keepalive_exact(a, n) == -1,
			"wire: keepalive: a 3-octet option is refused");
	}
	/* The record ends inside the option: the 2 octets after it are not
	 * the option's, even though the message goes on. */
	an = make_answer(a, q, qn);
	n = add_opt(a, an, ka100, sizeof(ka100));
	a[n - sizeof(ka100) - 1] -= 2;
	UNIT_CHECK(keepalive_exact(a, n) == -1,
		"wire: keepalive: an option past the end of its record is "
		"refused");
	/* rdlength past the message. */
	an = make_answer(a, q, qn);
	n = add_opt(a, an, ka100, sizeof(ka100));
	a[n - sizeof(ka100) - 1] += 1;
	UNIT_CHECK(keepalive_exact(a, n) == -1,
		"wire: keepalive: an OPT record past the end is refused");
	/* An OPT in the answer section is not the EDNS record. */
	an = make_answer(a, q, qn);
	n = add_opt(a, an, ka100, sizeof(ka100));
	a[7] = 2; /* ancount: the A record and the OPT */
	a[11] = 0; /* arcount */
	UNIT_CHECK(keepalive_exact(a, n) == -1,
		"wire: keepalive: an OPT record in the answer section is "
		"not read");
	/* A reserved label type (0x40) in an owner name. */
	an = make_answer(a, q, qn);
	n = add_opt(a, an, ka100, sizeof(ka100));
	a[qn] = 0x40;
	UNIT_CHECK(keepalive_exact(a, n) == -1,
		"wire: keepalive: a reserved label type stops the walk");
	/* A compression pointer cut after its first byte. */
	an = make_answer(a, q, qn);
	UNIT_CHECK(keepalive_exact(a, qn + 1) == -1,
		"wire: keepalive: a pointer cut in half is refused");
	/* Counts larger than the records present. */
	an = make_answer(a, q, qn);
	n = add_opt(a, an, ka100, sizeof(ka100));
	a[8] = 0xff; /* nscount 65280: the OPT is read as authority */
	UNIT_CHECK(keepalive_exact(a, n) == -1,
		"wire: keepalive: records the counts promise but the message "
		"lacks");
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "id", test_id },
		{ "question length", test_question_len },
		{ "question limits", test_question_limits },
		{ "compression in question", test_question_compression },
		{ "truncated inputs", test_truncated },
		{ "match ok", test_match_ok },
		{ "match failure reasons", test_match_reasons },
		{ "match check order", test_match_order },
		{ "match names", test_match_str },
		{ "question hash", test_question_hash },
		{ "late answer hash", test_match_hash },
		{ "keepalive option", test_keepalive },
		{ "keepalive malformed", test_keepalive_malformed },
		{ NULL, NULL }
	};
	return unit_run("wire", tests);
}
