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

#endif /* DOTPOOL_TLS_H */
