/**
 * \file
 * DNS-over-TCP/TLS framing (RFC 1035 4.2.2, RFC 7858): each message is
 * preceded by its length as two octets in network order. A reader that
 * reassembles frames from a byte stream, and a write buffer that queues
 * framed messages for a stream that may accept partial writes.
 * No sockets here: the connection code moves bytes in and out.
 */
#ifndef DOTPOOL_FRAME_H
#define DOTPOOL_FRAME_H
#include <stddef.h>
#include <stdint.h>

/** Largest DNS message a frame can carry. */
#define DOTPOOL_FRAME_MAX 65535

/** Reassembles length-prefixed frames from a byte stream. */
struct dotpool_frame_reader {
	/** buffer: 2 length octets then up to DOTPOOL_FRAME_MAX bytes */
	uint8_t* buf;
	/** bytes held in buf */
	size_t have;
	/** bytes of buf already handed out by dotpool_frame_next */
	size_t done;
	/** capacity of buf */
	size_t cap;
};

/**
 * Initialise a reader. The buffer grows on demand up to one maximal frame.
 * @param r: the reader (caller's memory).
 * @return 0 or DOTPOOL_ENOMEM.
 */
int dotpool_frame_reader_init(struct dotpool_frame_reader* r);

/** Free the reader's buffer; r may be NULL. */
void dotpool_frame_reader_free(struct dotpool_frame_reader* r);

/**
 * Where to put the next bytes read from the stream.
 * @param r: the reader.
 * @param space: returns a pointer into the reader's buffer.
 * @param len: returns how many bytes may be written there (> 0).
 * @return 0, DOTPOOL_ENOMEM, or DOTPOOL_EFULL when the buffer is full of
 *	complete frames not yet taken (call dotpool_frame_next until it
 *	returns 0 first; the buffer never grows past one maximal frame).
 */
int dotpool_frame_space(struct dotpool_frame_reader* r, uint8_t** space,
	size_t* len);

/**
 * Account for n bytes written at the pointer from dotpool_frame_space.
 * @param r: the reader.
 * @param n: bytes written.
 */
void dotpool_frame_commit(struct dotpool_frame_reader* r, size_t n);

/**
 * Take the next complete frame.
 * @param r: the reader.
 * @param msg: returns the message (borrowed; valid until the next call to
 *	dotpool_frame_space or dotpool_frame_next).
 * @param len: returns its length.
 * @return 1 if a frame was returned, 0 if more bytes are needed,
 *	DOTPOOL_EPROTO for a zero-length frame (the stream is then unusable).
 */
int dotpool_frame_next(struct dotpool_frame_reader* r, uint8_t** msg,
	size_t* len);

/** Bytes held that do not yet form a complete frame (partial frame). */
size_t dotpool_frame_pending(const struct dotpool_frame_reader* r);

/** Output queue of framed messages. */
struct dotpool_wbuf {
	/** data */
	uint8_t* buf;
	/** start of unsent data */
	size_t off;
	/** end of data */
	size_t len;
	/** capacity */
	size_t cap;
	/** cap never grows past this (bytes) */
	size_t max;
};

/**
 * Initialise an output queue.
 * @param w: the queue (caller's memory).
 * @param max: most bytes it may hold.
 */
void dotpool_wbuf_init(struct dotpool_wbuf* w, size_t max);

/** Free the queue's memory; w may be NULL. */
void dotpool_wbuf_free(struct dotpool_wbuf* w);

/**
 * Append one message with its two-octet length prefix.
 * @param w: the queue.
 * @param msg: the message (copied).
 * @param len: 1 .. DOTPOOL_FRAME_MAX.
 * @return 0, DOTPOOL_EINVAL (bad length), DOTPOOL_EFULL (over max) or
 *	DOTPOOL_ENOMEM.
 */
int dotpool_wbuf_put(struct dotpool_wbuf* w, const uint8_t* msg, size_t len);

/**
 * The unsent bytes, contiguous.
 * @param w: the queue.
 * @param len: returns how many.
 * @return pointer to them (borrowed), or NULL when empty.
 */
const uint8_t* dotpool_wbuf_data(const struct dotpool_wbuf* w, size_t* len);

/** Mark n bytes of the front as sent. */
void dotpool_wbuf_consume(struct dotpool_wbuf* w, size_t n);

/** Unsent bytes. */
size_t dotpool_wbuf_len(const struct dotpool_wbuf* w);

#endif /* DOTPOOL_FRAME_H */
