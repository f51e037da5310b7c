/**
 * \file
 * dotpool's own TLS client context, loaded with the same trust as Unbound
 * (tls-cert-bundle / tls-system-cert), plus what Unbound lacks: minimum
 * version, cipher settings, SPKI pins, per-upstream client certificates,
 * and session resumption keyed by (address, port, authentication name).
 * Shared by all worker threads (an SSL_CTX is thread-safe to use);
 * per-upstream state (sessions) lives in the upstream.
 */
#ifndef DOTPOOL_TLS_H
#define DOTPOOL_TLS_H
#include <stddef.h>
#include "dotpool/config.h"

struct dotpool_tls;

/** Trust settings taken from unbound.conf. */
struct dotpool_tls_trust {
	/** tls-cert-bundle file, or NULL */
	const char* cert_bundle;
	/** tls-system-cert (or tls-win-cert): use the system store */
	int system_store;
	/** tls-use-sni */
	int use_sni;
};

/**
 * Build the client context.
 * @param trust: CA trust from unbound.conf (borrowed during the call).
 * @param cfg: dotpool settings (borrowed; must outlive the context).
 * @param err: returns a message on failure.
 * @param errlen: size of err.
 * @return the context or NULL (message in err). Fails when no trust is
 *	configured at all and no upstream has pins or the opportunistic profile:
 *	never a connection that authenticates nothing by accident.
 */
struct dotpool_tls* dotpool_tls_create(const struct dotpool_tls_trust* trust,
	const struct dotpool_config* cfg, char* err, size_t errlen);

/** Free the context; t may be NULL. */
void dotpool_tls_free(struct dotpool_tls* t);

/** Whether a CA store (bundle or system) is loaded. */
int dotpool_tls_has_ca(const struct dotpool_tls* t);

struct ssl_st;
struct ssl_session_st;

/**
 * What connections need to authenticate one upstream, and where its TLS
 * session is kept for resumption. Lives in the upstream, so a session is
 * only ever offered again to the same (address, port, name).
 */
struct dotpool_tls_auth {
	/** TLS authentication name (borrowed from the upstream), or NULL */
	const char* name;
	/** the upstream: section: pins, client certificate; or NULL */
	const struct dotpool_upstream_cfg* ucfg;
	/** strict or opportunistic */
	enum dotpool_profile profile;
	/** the last session the server gave us (owned), or NULL */
	struct ssl_session_st* session;
};

/**
 * Create the TLS object of one connection: SNI, host name check, client
 * certificate, verify mode for the profile, saved session to resume.
 * @param t: the context.
 * @param a: the upstream's authentication data (borrowed; must outlive the
 *	returned object: new sessions are stored in it).
 * @param fd: connected socket (not owned by the SSL object).
 * @param err: returns a message on failure.
 * @param errlen: size of err.
 * @return the SSL object or NULL.
 */
struct ssl_st* dotpool_tls_conn_new(struct dotpool_tls* t,
	struct dotpool_tls_auth* a, int fd, char* err, size_t errlen);

/**
 * Why a handshake failed, once SSL_connect returned a fatal error.
 * @param ssl: the connection.
 * @param err: returns a message (the certificate error or OpenSSL's).
 * @param errlen: size of err.
 * @return DOTPOOL_EVERIFY (the certificate was rejected) or DOTPOOL_ETLS.
 */
int dotpool_tls_handshake_error(struct ssl_st* ssl, char* err, size_t errlen);

/**
 * After a successful handshake: is the server who it must be? Checks the
 * chain and name result (when a name is set or there are no pins) and the
 * SPKI pins (when set); under the strict profile, neither a name nor pins
 * is a failure (a chain alone fits any name). The caller decides, by
 * profile, whether a failure
 * closes the connection. On failure the saved session is dropped so that
 * it is never resumed.
 * @param ssl: the connection.
 * @param a: the upstream's authentication data.
 * @param err: returns a message on failure.
 * @param errlen: size of err.
 * @return 0 (authenticated) or DOTPOOL_EVERIFY.
 */
int dotpool_tls_conn_verify(struct ssl_st* ssl, struct dotpool_tls_auth* a,
	char* err, size_t errlen);

/** Drop the saved session of an upstream; a may be NULL. */
void dotpool_tls_auth_clear(struct dotpool_tls_auth* a);

/** Whether the context sends SNI (tls-use-sni). */
int dotpool_tls_use_sni(const struct dotpool_tls* t);

#endif /* DOTPOOL_TLS_H */
