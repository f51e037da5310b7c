/**
 * \file
 * Plans from delegation points: resolve each forward-addr of a zone to the
 * worker's upstream once (its address formatted, its upstream: section
 * looked up, the upstream found or created with the zone's profile and
 * labelled with the zone), and tell cheaply whether the forwarders changed
 * since: a comparison of a few addresses per query.
 */
#include "module/glue/zoneplan.h"
#include "module/glue/compat.h"
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "util/config_file.h"
#include "util/net_help.h"
#include "util/data/dname.h"
#include "iterator/iter_delegpt.h"
#include "sldns/rrdef.h"
#include "sldns/str2wire.h"
#include "dotpool/plan.h"

/** Whether plan p was built from exactly dp's forward-addrs. */
static int
plan_current(const struct dotpool_plan* p, const struct delegpt* dp)
{
	struct delegpt_addr* a;
	int n = 0;
	for(a = dp->target_list; a && n < DOTPOOL_PLAN_MAX; a = a->next_target) {
		if(n >= p->n || !dotpool_plan_entry_is(&p->e[n],
			(struct sockaddr*)&a->addr, a->addrlen,
			a->tls_auth_name))
			return 0;
		n++;
	}
	return n == p->n;
}

/** The zone's policy, hedging and authentication profile, from its zone:
 * section or the defaults. */
static void
zone_settings(const struct dotpool_env* de, struct dotpool_plan* p)
{
	int i;
	p->policy = de->cfg->policy;
	p->hedge_delay = de->cfg->hedge_delay;
	p->profile = de->cfg->profile;
	for(i = 0; i < de->num_zones; i++) {
		if(query_dname_compare(de->zones[i].name, p->name) == 0) {
			p->policy = de->zones[i].cfg->policy;
			p->hedge_delay = de->zones[i].cfg->hedge_delay;
			p->profile = de->zones[i].cfg->profile;
			return;
		}
	}
}

/**
 * The upstream for a forward-addr in the worker's pool.
 * @param w: the worker.
 * @param p: the plan being built (zone name and profile).
 * @param a: the forward-addr.
 * @param ucfgp: returns its upstream: section or NULL.
 * @return the upstream, or NULL (out of memory).
 */
static struct dotpool_upstream*
upstream_of(struct dotpool_worker* w, const struct dotpool_plan* p,
	struct delegpt_addr* a, const struct dotpool_upstream_cfg** ucfgp)
{
	struct dotpool_upstream* up;
	char ip[INET6_ADDRSTRLEN];
	int port;
	const void* sin;
	*ucfgp = NULL;
	if(addr_is_ip6(&a->addr, a->addrlen)) {
		struct sockaddr_in6* s6 = (struct sockaddr_in6*)&a->addr;
		sin = &s6->sin6_addr;
		port = ntohs(s6->sin6_port);
	} else {
		struct sockaddr_in* s4 = (struct sockaddr_in*)&a->addr;
		sin = &s4->sin_addr;
		port = ntohs(s4->sin_port);
	}
	if(!inet_ntop(addr_is_ip6(&a->addr, a->addrlen) ? AF_INET6 : AF_INET,
		sin, ip, sizeof(ip)))
		return NULL;
	*ucfgp = dotpool_config_upstream(w->de->cfg, ip, port,
		a->tls_auth_name);
	/* the profile is part of the upstream's identity: strict and
	 * opportunistic zones never share connections or sessions */
	up = dotpool_pool_upstream(w->pool, (struct sockaddr*)&a->addr,
		a->addrlen, a->tls_auth_name, *ucfgp, p->profile);
	if(up && !dotpool_upstream_zone(up)) {
		char zone[LDNS_MAX_DOMAINLEN + 1];
		uint8_t wire[LDNS_MAX_DOMAINLEN + 1];
		size_t wlen = sizeof(wire);
		dname_str(p->name, zone);
		dotpool_upstream_set_zone(up, zone);
		/* probes ask about the zone the upstream is labelled with
		 * (the same on every worker): a server for one zone may
		 * refuse '.' */
		if(dotpool_upstream_zone(up) && sldns_str2wire_dname_buf(
			dotpool_upstream_zone(up), wire, &wlen) == 0)
			(void)dotpool_upstream_set_probe(up, wire, wlen);
	}
	return up;
}

/**
 * Build and install the plan of a zone; NULL out of memory. The entries
 * follow the live delegpt, which has the addresses in the order of the
 * configuration (Unbound prepends twice: reading the config, building the
 * list); a copy of a delegpt prepends once more and runs backwards.
 */
static struct dotpool_plan*
plan_build(struct dotpool_worker* w, struct delegpt* dp, uint16_t qclass)
{
	struct dotpool_plan* p;
	struct delegpt_addr* a;
	int n = 0, i = 0;
	for(a = dp->target_list; a && n < DOTPOOL_PLAN_MAX; a = a->next_target)
		n++;
	if(!(p = dotpool_plan_new(dp->name, dp->namelen, qclass, n)))
		return NULL;
	zone_settings(w->de, p);
	for(a = dp->target_list; a && i < n; a = a->next_target, i++) {
		const struct dotpool_upstream_cfg* ucfg;
		/* an upstream that cannot be created now is never picked and
		 * leaves the plan stale: the next query builds it again */
		struct dotpool_upstream* up = upstream_of(w, p, a, &ucfg);
		if(dotpool_plan_set_entry(p, i, (struct sockaddr*)&a->addr,
			a->addrlen, a->tls_auth_name, up, ucfg) != 0) {
			dotpool_plan_discard(p);
			return NULL;
		}
	}
	dotpool_plans_install(w->plans, p);
	return p;
}

struct dotpool_plan*
dotpool_zone_plan(struct dotpool_worker* w, struct delegpt* dp,
	uint16_t qclass)
{
	struct dotpool_plan* p = dotpool_plans_find(w->plans, dp->name,
		dp->namelen, qclass);
	if(p && plan_current(p, dp))
		return p;
	return plan_build(w, dp, qclass);
}

int
dotpool_zone_plans_prepare(struct dotpool_worker* w)
{
	struct module_env* env = w->env;
	struct config_stub* s;
	int n = 0;
	/* The zones are named by the configuration, their live forward-addrs
	 * are read from the forwarders under their lock, as a query reads
	 * them: the plans (and upstreams) are the ones queries will use. */
	for(s = env->cfg->forwards; s; s = s->next) {
		struct dotpool_plan* p = NULL;
		struct delegpt* dp;
		uint8_t* name;
		size_t len = 0;
		int i;
		if(!(s->ssl_upstream || env->cfg->ssl_upstream) || !s->name ||
			!(name = sldns_str2wire_dname(s->name, &len)))
			continue;
		dp = dotpool_fwd_lookup(env->fwds, name, LDNS_RR_CLASS_IN);
		/* forward-host only: the iterator resolves it, as for a
		 * query */
		if(dp && query_dname_compare(dp->name, name) == 0 &&
			(dp->ssl_upstream || env->cfg->ssl_upstream) &&
			dp->target_list)
			p = dotpool_zone_plan(w, dp, LDNS_RR_CLASS_IN);
		if(dp)
			dotpool_fwd_unlock(env->fwds);
		free(name);
		for(i = 0; p && i < p->n; i++) {
			/* its health is known before the first client query
			 * (and, with prewarm, its connection open) */
			dotpool_upstream_probe(p->e[i].up);
			n++;
		}
	}
	return n;
}
