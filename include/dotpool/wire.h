/**
 * \file
 * Just enough DNS wire format for the transport: IDs, the question section,
 * the check that an answer is for the question we asked, and the server's
 * edns-tcp-keepalive timeout (RFC 7828) in an answer. Everything
 * deeper is Unbound's job (parse, scrub, validate).
 */
#ifndef DOTPOOL_WIRE_H
#define DOTPOOL_WIRE_H
#include <stddef.h>
#include <stdint.h>

/** DNS header length. */
#define DOTPOOL_WIRE_HDR 12

/** ID of a message (len >= 2 checked by caller). */
uint16_t dotpool_wire_id(const uint8_t* msg);

/** Set the ID of a message in place. */
void dotpool_wire_set_id(uint8_t* msg, uint16_t id);

/**
 * Length of the question section (name, type, class) at offset 12.
 * @param msg: the message.
 * @param len: its length.
 * @return bytes (> 4) or DOTPOOL_EPROTO if malformed, uses compression,
 *	or qdcount is not 1.
 */
int dotpool_wire_question_len(const uint8_t* msg, size_t len);

/** Why an answer does not match; DOTPOOL_MATCH_OK when it does. */
enum dotpool_match {
	/** the answer is for the query */
	DOTPOOL_MATCH_OK = 0,
	/** shorter than a header or the question */
	DOTPOOL_MATCH_SHORT,
	/** QR bit clear */
	DOTPOOL_MATCH_NOT_RESPONSE,
	/** opcode is not QUERY */
	DOTPOOL_MATCH_OPCODE,
	/** qdcount is not 1 */
	DOTPOOL_MATCH_QDCOUNT,
	/** the ID differs */
	DOTPOOL_MATCH_ID,
	/** another name, type or class */
	DOTPOOL_MATCH_QUESTION
};

/** Name of a match result for logs and counters. */
const char* dotpool_match_str(enum dotpool_match m);

/**
 * Check that an answer is for the query: QR set, opcode QUERY, qdcount 1,
 * same ID, and the same question (name compared case-insensitively, type
 * and class exactly).
 * @param q: the query as sent.
 * @param qlen: its length.
 * @param a: the answer.
 * @param alen: its length.
 * @return DOTPOOL_MATCH_OK or the first reason it fails.
 */
enum dotpool_match dotpool_wire_match(const uint8_t* q, size_t qlen,
	const uint8_t* a, size_t alen);

/**
 * A hash of the question section (name folded to lower case, type and
 * class), keyed with seed: what a cancelled query leaves behind so that
 * its late answer can still be told from an answer to another question.
 * Not a cryptographic MAC: whoever can forge an answer for the question
 * knows the question anyway; the per-connection seed keeps collisions
 * from being prepared in advance.
 * @param msg: a query or an answer.
 * @param len: its length.
 * @param seed: the key.
 * @param hash: returns the hash.
 * @return 0 or DOTPOOL_EPROTO when the question is malformed, uses
 *	compression, or qdcount is not 1.
 */
int dotpool_wire_question_hash(const uint8_t* msg, size_t len, uint32_t seed,
	uint32_t* hash);

/**
 * Check a late answer (its query is gone; only the question's hash is
 * kept): QR set, opcode QUERY, qdcount 1 and the same question hash. The
 * ID was matched by the caller's lookup.
 * @param a: the answer.
 * @param alen: its length.
 * @param seed: the key the query's hash was made with.
 * @param qhash: dotpool_wire_question_hash of the query.
 * @return DOTPOOL_MATCH_OK or the first reason it fails.
 */
enum dotpool_match dotpool_wire_match_hash(const uint8_t* a, size_t alen,
	uint32_t seed, uint32_t qhash);

/**
 * The edns-tcp-keepalive timeout (RFC 7828) in an answer: the option in
 * the OPT record of the additional section. Names may be compressed.
 * @param m: the message (borrowed).
 * @param len: its length.
 * @return the timeout in units of 100 ms (0..65535), or -1 when there is
 *	none, the option's length is not 2, or the message is malformed
 *	(Unbound's parser judges that later).
 */
int dotpool_wire_keepalive(const uint8_t* m, size_t len);

#endif /* DOTPOOL_WIRE_H */
