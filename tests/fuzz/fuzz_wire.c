/**
 * \file
 * Fuzz target: answer matching and question parsing (module/wire.c).
 * The input is split into a query and an answer, each copied into a heap
 * buffer of exactly its length (an overread is an ASan report). Checked:
 * - dotpool_wire_question_len agrees with a separate, simpler decoder;
 * - dotpool_wire_match says OK only when every documented condition holds
 *   (QR, opcode QUERY, qdcount 1, same ID, same question up to ASCII case),
 *   and reports the first failed condition in the documented order;
 * - the query itself, turned into an answer (QR set, letters' case flipped
 *   as the fuzzer says, records appended), always matches, and no longer
 *   matches once one byte of its question is changed to something that is
 *   not the same letter in another case.
 * Every message also goes through the keepalive reader.
 *
 * Input: 2 bytes of query length, the query, the answer; the answer's
 * first byte also picks the case flips.
 */
#include "dotpool/error.h"
#include "dotpool/wire.h"
#include "fuzz.h"

/** ASCII lower case. */
static uint8_t
lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/** Reference question length: -1 when not a plain one-question query. */
static int
ref_question_len(const uint8_t* m, size_t len)
{
	size_t pos = 12, name = 0;

	if(len < 12 || m[4] != 0 || m[5] != 1)
		return -1;
	for(;;) {
		if(pos >= len || m[pos] > 63)
			return -1;
		name += 1 + m[pos];
		if(name > 255)
			return -1;
		if(m[pos] == 0)
			break;
		pos += 1 + m[pos];
	}
	if(len < 12 + name + 4)
		return -1;
	return (int)(name + 4);
}

/** Reference match, condition by condition in the documented order. */
static enum dotpool_match
ref_match(const uint8_t* q, size_t qlen, const uint8_t* a, size_t alen)
{
	int ql;
	size_t i;

	if(alen < 12)
		return DOTPOOL_MATCH_SHORT;
	if(!(a[2] & 0x80))
		return DOTPOOL_MATCH_NOT_RESPONSE;
	if((a[2] & 0x78) != 0)
		return DOTPOOL_MATCH_OPCODE;
	if(a[4] != 0 || a[5] != 1)
		return DOTPOOL_MATCH_QDCOUNT;
	if(qlen < 12 || a[0] != q[0] || a[1] != q[1])
		return DOTPOOL_MATCH_ID;
	if((ql = ref_question_len(q, qlen)) < 0)
		return DOTPOOL_MATCH_QUESTION;
	if(alen < 12 + (size_t)ql)
		return DOTPOOL_MATCH_SHORT;
	/* Label length bytes are at most 63, below 'A': comparing every
	 * byte of the name case-folded is the same as comparing the
	 * lengths exactly and the labels folded. */
	for(i = 12; i < 12 + (size_t)ql - 4; i++)
		if(lower(a[i]) != lower(q[i]))
			return DOTPOOL_MATCH_QUESTION;
	for(; i < 12 + (size_t)ql; i++)
		if(a[i] != q[i])
			return DOTPOOL_MATCH_QUESTION;
	return DOTPOOL_MATCH_OK;
}

/** Run the keepalive reader on an exact copy (its range is checked). */
static void
keepalive(const uint8_t* m, size_t len)
{
	int k = dotpool_wire_keepalive(m, len);
	FUZZ_CHECK(k >= -1 && k <= 65535, "wire: keepalive range");
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
	struct fuzz_in in = { data, size };
	size_t qlen, alen, i;
	uint8_t* q, *a, *own;
	int ql;
	enum dotpool_match got;

	qlen = fuzz_u16(&in);
	if(qlen > in.left)
		qlen = in.left;
	q = fuzz_exact(in.p, qlen);
	a = fuzz_exact(in.p + qlen, in.left - qlen);
	alen = in.left - qlen;

	ql = dotpool_wire_question_len(q, qlen);
	FUZZ_CHECK(ql == DOTPOOL_EPROTO || ql > 4,
		"wire: question length > 4 or EPROTO");
	FUZZ_CHECK((ql < 0 ? -1 : ql) == ref_question_len(q, qlen),
		"wire: question length as the reference decoder");
	got = dotpool_wire_match(q, qlen, a, alen);
	FUZZ_CHECK(got == ref_match(q, qlen, a, alen),
		"wire: match result as the reference");
	FUZZ_CHECK(dotpool_match_str(got) != NULL, "wire: match name");
	if(qlen >= 2 && alen >= 2)
		FUZZ_CHECK(got != DOTPOOL_MATCH_OK || dotpool_wire_id(q) ==
			dotpool_wire_id(a), "wire: OK needs the same ID");
	keepalive(q, qlen);
	keepalive(a, alen);

	if(ql > 0 && (q[2] & 0x78) == 0) {
		/* The query as its own answer: QR set, the name's letters in
		 * another case, extra bytes after the question. */
		size_t olen = qlen + (alen < 64 ? alen : 64);
		uint8_t flips = alen ? a[0] : 0;
		own = malloc(olen ? olen : 1);
		FUZZ_CHECK(own != NULL, "out of memory");
		memcpy(own, q, qlen);
		memcpy(own + qlen, a, olen - qlen);
		own[2] |= 0x80;
		for(i = 12; i < 12 + (size_t)ql - 4; i++) {
			uint8_t c = own[i];
			if(((flips >> (i % 8)) & 1) && lower(c) >= 'a' &&
				lower(c) <= 'z')
				own[i] = (uint8_t)(c ^ 0x20);
		}
		FUZZ_CHECK(dotpool_wire_match(q, qlen, own, olen) ==
			DOTPOOL_MATCH_OK, "wire: the query's own answer matches");
		/* Change one byte of the question: no longer a match (unless
		 * the byte stays the same letter). */
		i = 12 + (alen > 1 ? a[1] : 0) % (size_t)ql;
		own[i] ^= (uint8_t)(alen > 2 && a[2] ? a[2] : 1);
		if(lower(own[i]) != lower(q[i]))
			FUZZ_CHECK(dotpool_wire_match(q, qlen, own, olen) !=
				DOTPOOL_MATCH_OK,
				"wire: a changed question does not match");
		keepalive(own, olen);
		free(own);
	}
	free(q);
	free(a);
	return 0;
}
