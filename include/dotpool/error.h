/**
 * \file
 * dotpool's return convention: internal functions return 0 on success or a
 * negative DOTPOOL_E* code; constructors return NULL on failure.
 */
#ifndef DOTPOOL_ERROR_H
#define DOTPOOL_ERROR_H

/** Error codes; all negative so that callers can test `< 0`. */
enum dotpool_err {
	/** success */
	DOTPOOL_OK = 0,
	/** out of memory */
	DOTPOOL_ENOMEM = -1,
	/** invalid argument or value */
	DOTPOOL_EINVAL = -2,
	/** no room: table, queue or buffer is full */
	DOTPOOL_EFULL = -3,
	/** not found */
	DOTPOOL_ENOTFOUND = -4,
	/** the peer broke the DNS or DoT protocol */
	DOTPOOL_EPROTO = -5,
	/** socket error */
	DOTPOOL_EIO = -6,
	/** TLS error (handshake, record layer) */
	DOTPOOL_ETLS = -7,
	/** the peer could not be authenticated */
	DOTPOOL_EVERIFY = -8,
	/** timed out */
	DOTPOOL_ETIMEOUT = -9,
	/** the peer closed the connection */
	DOTPOOL_ECLOSED = -10,
	/** configuration error */
	DOTPOOL_ECONFIG = -11,
	/** not ready yet; try again when the event fires */
	DOTPOOL_EAGAIN = -12
};

/**
 * Describe an error code.
 * @param err: a DOTPOOL_E* code (or 0).
 * @return static string, never NULL.
 */
const char* dotpool_strerror(int err);

#endif /* DOTPOOL_ERROR_H */
