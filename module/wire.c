/**
 * \file
 * DNS header and question handling for the transport. The checks are
 * strict on purpose: an answer that cannot be proven to be for the query on
 * this ID is dropped here, before Unbound sees it, so that a confused or
 * malicious upstream cannot slip an answer for another question into a
 * pipelined connection.
 *
 * The keepalive reader walks a whole answer to its OPT record. It is
 * lenient where the matcher is strict: it only looks for a hint, and
 * Unbound's own parser judges the message later.
 */
#include "dotpool/error.h"
#include "dotpool/wire.h"

/** Longest domain name in wire format (RFC 1035 3.1). */
#define WIRE_NAME_MAX 255
/** Longest label (RFC 1035 3.1). */
#define WIRE_LABEL_MAX 63
/** Opcode QUERY. */
#define WIRE_OPCODE_QUERY 0
/** RR type OPT (RFC 6891). */
#define WIRE_TYPE_OPT 41
/** EDNS option code of edns-tcp-keepalive (RFC 7828). */
#define WIRE_OPT_KEEPALIVE 11

uint16_t
dotpool_wire_id(const uint8_t* msg)
{
	return (uint16_t)((msg[0] << 8) | msg[1]);
}

void
dotpool_wire_set_id(uint8_t* msg, uint16_t id)
{
	msg[0] = (uint8_t)(id >> 8);
	msg[1] = (uint8_t)(id & 0xff);
}

/** qdcount of a message with a full header. */
static unsigned
wire_qdcount(const uint8_t* msg)
{
	return ((unsigned)msg[4] << 8) | msg[5];
}

/** Length of the uncompressed name at msg[off], or DOTPOOL_EPROTO. */
static int
wire_name_len(const uint8_t* msg, size_t len, size_t off)
{
	size_t pos = off;

	for(;;) {
		unsigned lab;
		if(pos >= len)
			return DOTPOOL_EPROTO;
		lab = msg[pos];
		/* The top two bits set mark a compression pointer, and the
		 * other non-zero patterns are obsolete label types: neither
		 * belongs in the question of a query or its answer (nothing
		 * precedes the question for a pointer to point to). */
		if(lab > WIRE_LABEL_MAX)
			return DOTPOOL_EPROTO;
		pos += 1 + lab;
		if(pos - off > WIRE_NAME_MAX)
			return DOTPOOL_EPROTO;
		if(lab == 0)
			return (int)(pos - off);
	}
}

int
dotpool_wire_question_len(const uint8_t* msg, size_t len)
{
	int nlen;

	if(len < DOTPOOL_WIRE_HDR || wire_qdcount(msg) != 1)
		return DOTPOOL_EPROTO;
	nlen = wire_name_len(msg, len, DOTPOOL_WIRE_HDR);
	if(nlen < 0)
		return nlen;
	if(len - DOTPOOL_WIRE_HDR < (size_t)nlen + 4)
		return DOTPOOL_EPROTO;
	return nlen + 4;
}

const char*
dotpool_match_str(enum dotpool_match m)
{
	switch(m) {
	case DOTPOOL_MATCH_OK: return "ok";
	case DOTPOOL_MATCH_SHORT: return "short";
	case DOTPOOL_MATCH_NOT_RESPONSE: return "not a response";
	case DOTPOOL_MATCH_OPCODE: return "opcode";
	case DOTPOOL_MATCH_QDCOUNT: return "qdcount";
	case DOTPOOL_MATCH_ID: return "id";
	case DOTPOOL_MATCH_QUESTION: return "question";
	}
	return "unknown";
}

/** ASCII lower case; other bytes as they are (RFC 4343: only A-Z fold). */
static uint8_t
wire_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c - 'A' + 'a') : c;
}

/** The header checks every answer must pass, in the order reported. */
static enum dotpool_match
wire_answer_header(const uint8_t* a, size_t alen)
{
	if(alen < DOTPOOL_WIRE_HDR)
		return DOTPOOL_MATCH_SHORT;
	if(!(a[2] & 0x80))
		return DOTPOOL_MATCH_NOT_RESPONSE;
	if(((a[2] >> 3) & 0x0f) != WIRE_OPCODE_QUERY)
		return DOTPOOL_MATCH_OPCODE;
	if(wire_qdcount(a) != 1)
		return DOTPOOL_MATCH_QDCOUNT;
	return DOTPOOL_MATCH_OK;
}

enum dotpool_match
dotpool_wire_match(const uint8_t* q, size_t qlen, const uint8_t* a,
	size_t alen)
{
	int qql;
	size_t pos, end;
	enum dotpool_match h = wire_answer_header(a, alen);

	if(h != DOTPOOL_MATCH_OK)
		return h;
	if(qlen < DOTPOOL_WIRE_HDR || dotpool_wire_id(a) != dotpool_wire_id(q))
		return DOTPOOL_MATCH_ID;
	qql = dotpool_wire_question_len(q, qlen);
	if(qql < 0) {
		/* Our own query is malformed: nothing can match it. */
		return DOTPOOL_MATCH_QUESTION;
	}
	if(alen < DOTPOOL_WIRE_HDR + (size_t)qql)
		return DOTPOOL_MATCH_SHORT;
	/* Walk the query's labels; the answer must have the same label
	 * lengths at the same places (which also rules out a pointer in the
	 * answer's question) and the same bytes up to ASCII case. */
	pos = DOTPOOL_WIRE_HDR;
	end = DOTPOOL_WIRE_HDR + (size_t)qql - 4;
	while(pos < end) {
		size_t lab = q[pos], k;
		if(a[pos] != q[pos])
			return DOTPOOL_MATCH_QUESTION;
		for(k = 1; k <= lab; k++) {
			if(wire_lower(a[pos + k]) != wire_lower(q[pos + k]))
				return DOTPOOL_MATCH_QUESTION;
		}
		pos += 1 + lab;
	}
	for(; pos < end + 4; pos++) {
		if(a[pos] != q[pos])
			return DOTPOOL_MATCH_QUESTION;
	}
	return DOTPOOL_MATCH_OK;
}

int
dotpool_wire_question_hash(const uint8_t* msg, size_t len, uint32_t seed,
	uint32_t* hash)
{
	int qql = dotpool_wire_question_len(msg, len);
	size_t pos, end;
	uint32_t h = 2166136261u ^ seed;

	if(qql < 0)
		return qql;
	/* FNV-1a over the question, the name in lower case as the match
	 * compares it (label lengths, at most 63, are below 'A' and pass
	 * unchanged, so "a.bc" and "ab.c" differ); type and class as they
	 * are */
	end = DOTPOOL_WIRE_HDR + (size_t)qql;
	for(pos = DOTPOOL_WIRE_HDR; pos < end; pos++) {
		h ^= pos < end - 4 ? wire_lower(msg[pos]) : msg[pos];
		h *= 16777619u;
	}
	/* final mix: FNV's low bits alone are weak */
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	*hash = h;
	return 0;
}

enum dotpool_match
dotpool_wire_match_hash(const uint8_t* a, size_t alen, uint32_t seed,
	uint32_t qhash)
{
	enum dotpool_match m = wire_answer_header(a, alen);
	uint32_t h;

	if(m != DOTPOOL_MATCH_OK)
		return m;
	if(dotpool_wire_question_hash(a, alen, seed, &h) != 0)
		return alen < DOTPOOL_WIRE_HDR + 5 ? DOTPOOL_MATCH_SHORT :
			DOTPOOL_MATCH_QUESTION;
	return h == qhash ? DOTPOOL_MATCH_OK : DOTPOOL_MATCH_QUESTION;
}

/** Skip a (possibly compressed) owner name at *pos. @return 0 if bad. */
static int
wire_skip_name(const uint8_t* m, size_t len, size_t* pos)
{
	while(*pos < len) {
		uint8_t l = m[*pos];
		if((l & 0xc0) == 0xc0) {
			if(*pos + 2 > len)
				return 0;
			*pos += 2;
			return 1;
		}
		if(l & 0xc0)
			return 0;
		*pos += 1 + (size_t)l;
		if(l == 0)
			return 1;
	}
	return 0;
}

int
dotpool_wire_keepalive(const uint8_t* m, size_t len)
{
	size_t pos = DOTPOOL_WIRE_HDR, o, end;
	unsigned qd, rr, ar, i, rdlen, code, olen;
	if(len < DOTPOOL_WIRE_HDR)
		return -1;
	qd = ((unsigned)m[4] << 8) | m[5];
	rr = (((unsigned)m[6] << 8) | m[7]) + (((unsigned)m[8] << 8) | m[9]);
	ar = ((unsigned)m[10] << 8) | m[11];
	for(i = 0; i < qd; i++) {
		if(!wire_skip_name(m, len, &pos))
			return -1;
		pos += 4;
	}
	for(i = 0; i < rr + ar; i++) {
		if(!wire_skip_name(m, len, &pos) || pos + 10 > len)
			return -1;
		rdlen = ((unsigned)m[pos + 8] << 8) | m[pos + 9];
		if(i >= rr && m[pos] == 0 && m[pos + 1] == WIRE_TYPE_OPT) {
			o = pos + 10;
			end = o + rdlen;
			if(end > len)
				return -1;
			while(o + 4 <= end) {
				code = ((unsigned)m[o] << 8) | m[o + 1];
				olen = ((unsigned)m[o + 2] << 8) | m[o + 3];
				if(o + 4 + olen > end)
					return -1;
				if(code == WIRE_OPT_KEEPALIVE)
					return olen == 2 ? (int)(((unsigned)m[o + 4]
						<< 8) | m[o + 5]) : -1;
				o += 4 + olen;
			}
			return -1;
		}
		pos += 10 + rdlen;
	}
	return -1;
}
