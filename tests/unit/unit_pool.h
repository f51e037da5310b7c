/**
 * \file
 * A pool that owns real upstreams but never opens a connection: what the
 * suites of the units above the transport (plans, the attempt controller)
 * need to hand out upstream objects. Opportunistic, so its TLS context
 * needs no trust store.
 */
#ifndef DOTPOOL_UNIT_POOL_H
#define DOTPOOL_UNIT_POOL_H
#include <string.h>
#include <event2/event.h>
#include "unit.h"
#include "dotpool/config.h"
#include "dotpool/pool.h"
#include "dotpool/tls.h"

/** The pool and what it is made of. */
struct unit_pool {
	/** event base the pool needs (never dispatched) */
	struct event_base* base;
	/** settings (the test may change its timeouts and budgets) */
	struct dotpool_config* cfg;
	/** TLS context the pool needs */
	struct dotpool_tls* tls;
	/** the pool */
	struct dotpool_pool* pool;
};

/** Create it; ends the test on failure. */
static inline void
unit_pool_init(struct unit_pool* u)
{
	struct dotpool_tls_trust trust;
	char err[256];
	memset(u, 0, sizeof(*u));
	u->base = event_base_new();
	u->cfg = dotpool_config_new();
	UNIT_REQUIRE(u->base && u->cfg, "unit pool: base and settings");
	u->cfg->profile = DOTPOOL_PROFILE_OPPORTUNISTIC;
	memset(&trust, 0, sizeof(trust));
	u->tls = dotpool_tls_create(&trust, u->cfg, err, sizeof(err));
	UNIT_REQUIRE(u->tls != NULL, "unit pool: TLS context created");
	u->pool = dotpool_pool_create(u->base, u->cfg, u->tls, NULL, NULL);
	UNIT_REQUIRE(u->pool != NULL, "unit pool: pool created");
}

/** Free it. */
static inline void
unit_pool_free(struct unit_pool* u)
{
	dotpool_pool_free(u->pool, 1);
	dotpool_tls_free(u->tls);
	dotpool_config_free(u->cfg);
	if(u->base)
		event_base_free(u->base);
}

#endif /* DOTPOOL_UNIT_POOL_H */
