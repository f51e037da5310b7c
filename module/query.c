/**
 * \file
 * The forwarding path for queries under a TLS forward zone: what Unbound's
 * iterator does for a forwarded query, with dotpool's transport in place of
 * Unbound's outside network. Claim or pass, cache lookup, encode, send,
 * check and scrub the answer, chase CNAMEs, store, return.
 */
#include "module/glue.h"
#include "module/compat.h"
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "util/log.h"
#include "util/config_file.h"
#include "util/net_help.h"
#include "util/regional.h"
#include "util/data/dname.h"
#include "util/data/msgparse.h"
#include "util/data/msgencode.h"
#include "util/data/msgreply.h"
#include "services/cache/dns.h"
#include "services/mesh.h"
#include "iterator/iter_fwd.h"
#include "iterator/iter_delegpt.h"
#include "iterator/iter_utils.h"
#include "iterator/iter_scrub.h"
#include "iterator/iter_resptype.h"
#include "validator/val_neg.h"
#include "sldns/sbuffer.h"
#include "sldns/rrdef.h"
#include "sldns/pkthdr.h"
#include "dotpool/error.h"
#include "dotpool/wire.h"
#include "dotpool/select.h"
#include "util/random.h"
#include "util/ub_event.h"
#include "util/netevent.h"

/** Most forward-addrs of one zone dotpool keeps track of per query. */
#define DOTPOOL_MAX_UPSTREAMS 64

static int set_zone(struct dotpool_q* dq, struct delegpt* dp);

/** Unbound's clock in ms. */
static uint64_t
now_ms(struct module_env* env)
{
	return (uint64_t)env->now_tv->tv_sec * 1000 +
		(uint64_t)env->now_tv->tv_usec / 1000;
}

/**
 * Find the TLS forward zone for a name and copy it into the query
 * (set_zone). DS lives in the parent, so a DS query is looked up one label
 * higher, as the iterator does. The forwarders change at run time and are
 * read under their lock: nothing of them is kept past this call.
 * @return 1 when the zone is ours and copied, 0 when it is not ours, -1
 *	out of memory.
 */
static int
tls_forward(struct dotpool_q* dq, struct query_info* q)
{
	struct module_env* env = dq->qstate->env;
	uint8_t* name = q->qname;
	size_t len = q->qname_len;
	struct delegpt* dp;
	int r = 0;
	if(q->qtype == LDNS_RR_TYPE_DS && !dname_is_root(name))
		dname_remove_label(&name, &len);
	if(!(dp = dotpool_fwd_lookup(env->fwds, name, q->qclass)))
		return 0;
	/* forward-host only: the iterator resolves it */
	if((dp->ssl_upstream || env->cfg->ssl_upstream) && dp->target_list)
		r = set_zone(dq, dp) == 0 ? 1 : -1;
	dotpool_fwd_unlock(env->fwds);
	return r;
}

/** The zone's policy, hedging and authentication profile, from its zone:
 * section or the defaults. */
static void
zone_settings(struct dotpool_env* de, struct dotpool_q* dq)
{
	int i;
	dq->policy = de->cfg->policy;
	dq->hedge_delay = de->cfg->hedge_delay;
	dq->profile = de->cfg->profile;
	for(i = 0; i < de->num_zones; i++) {
		if(query_dname_compare(de->zones[i].name, dq->dp->name) == 0) {
			dq->policy = de->zones[i].cfg->policy;
			dq->hedge_delay = de->zones[i].cfg->hedge_delay;
			dq->profile = de->zones[i].cfg->profile;
			return;
		}
	}
}

struct dotpool_q*
dotpool_query_claim(struct dotpool_env* de, struct module_qstate* qstate,
	int id)
{
	struct dotpool_q* dq;
	struct dotpool_q zone;
	struct dotpool_worker* w;

	if(!(qstate->query_flags & BIT_RD) || qstate->is_priming ||
		qstate->qinfo.qclass == LDNS_RR_CLASS_ANY ||
		qstate->qinfo.local_alias)
		return NULL;
	if(!(w = dotpool_worker_get(de, qstate->env))) {
		/* no trust configured or out of memory: Unbound's own
		 * forwarding applies its own rules */
		return NULL;
	}
	/* the zone is copied on the stack first: most queries are not ours;
	 * set_zone reads the zone's settings through the worker */
	memset(&zone, 0, sizeof(zone));
	zone.qstate = qstate;
	zone.w = w;
	if(tls_forward(&zone, &qstate->qinfo) != 1)
		return NULL;
	dq = regional_alloc_init(qstate->region, &zone, sizeof(*dq));
	if(!dq)
		return NULL;
	dq->id = id;
	dq->qchase = qstate->qinfo;
	dq->qchase.local_alias = NULL;
	dq->start_ms = now_ms(qstate->env);
	return dq;
}

/**
 * A forward-first zone's query goes to Unbound's iterator: Unbound's own
 * TLS forwarding, without dotpool's pins, then recursion in clear text. An
 * attacker who breaks DoT gets that downgrade, so the operator is told:
 * once per outage and zone (until dotpool answers for the zone again), and
 * never with the query name.
 */
static void
fallback_note(struct dotpool_q* dq)
{
	struct dotpool_env* de = dq->w->de;
	struct dotpool_fallback* f;
	char zone[LDNS_MAX_DOMAINLEN + 1];
	int known = 0;
	pthread_mutex_lock(&de->fallback_lock);
	for(f = de->fallbacks; f; f = f->next)
		if(query_dname_compare(f->name, dq->dp->name) == 0) {
			known = 1;
			break;
		}
	if(!known && (f = malloc(sizeof(*f) + dq->dp->namelen)) != NULL) {
		f->len = dq->dp->namelen;
		memcpy(f->name, dq->dp->name, dq->dp->namelen);
		f->next = de->fallbacks;
		de->fallbacks = f;
		__atomic_store_n(&de->num_fallbacks, de->num_fallbacks + 1,
			__ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&de->fallback_lock);
	if(known)
		return;
	dname_str(dq->dp->name, zone);
	log_warn("dotpool: forward zone %s: no upstream answered over "
		"dotpool's authenticated DoT; forward-first: yes hands its "
		"queries to Unbound's iterator, which uses Unbound's own TLS "
		"(no pins) and then resolves without TLS. Logged once until "
		"dotpool answers for the zone again", zone);
}

/** dotpool answered for a forward-first zone: end its fall-back, if any. */
static void
fallback_clear(struct dotpool_q* dq)
{
	struct dotpool_env* de = dq->w->de;
	struct dotpool_fallback** fp, *f = NULL;
	char zone[LDNS_MAX_DOMAINLEN + 1];
	if(__atomic_load_n(&de->num_fallbacks, __ATOMIC_RELAXED) == 0)
		return; /* the common case: no outage anywhere */
	pthread_mutex_lock(&de->fallback_lock);
	for(fp = &de->fallbacks; *fp; fp = &(*fp)->next)
		if(query_dname_compare((*fp)->name, dq->dp->name) == 0) {
			f = *fp;
			*fp = f->next;
			__atomic_store_n(&de->num_fallbacks,
				de->num_fallbacks - 1, __ATOMIC_RELAXED);
			break;
		}
	pthread_mutex_unlock(&de->fallback_lock);
	if(!f)
		return;
	free(f);
	dname_str(dq->dp->name, zone);
	verbose(VERB_OPS, "dotpool: forward zone %s: answered over DoT "
		"again; no longer falling back to Unbound's iterator", zone);
}

/** Fail the query: SERVFAIL, or Unbound's iterator for forward-first. */
static void
query_fail(struct dotpool_q* dq, const char* why)
{
	struct module_qstate* qstate = dq->qstate;
	verbose(VERB_ALGO, "dotpool: query failed: %s", why);
	if(verbosity >= VERB_QUERY)
		log_query_info(VERB_QUERY, "dotpool: failed query",
			&qstate->qinfo);
	if(!dq->dp->has_parent_side_NS) {
		fallback_note(dq);
		/* forward-first: let the iterator try, then recurse */
		dotpool_query_clear(dq);
		qstate->minfo[dq->id] = NULL;
		qstate->ext_state[dq->id] = module_wait_module;
		return;
	}
	errinf(qstate, "dotpool: no upstream of the TLS forward zone answered");
	qstate->return_rcode = LDNS_RCODE_SERVFAIL;
	qstate->return_msg = NULL;
	qstate->ext_state[dq->id] = module_finished;
}

/** Append an rrset to a prepend list (region memory). */
static int
prepend_add(struct regional* region, struct iter_prep_list** first,
	struct iter_prep_list** last, struct ub_packed_rrset_key* rrset)
{
	struct iter_prep_list* p = regional_alloc(region, sizeof(*p));
	if(!p)
		return 0;
	p->rrset = rrset;
	p->next = NULL;
	if(*last)
		(*last)->next = p;
	else	*first = p;
	*last = p;
	return 1;
}

/** Whether an rrset already is in the answer prepend list. */
static int
prepend_has(struct dotpool_q* dq, struct ub_packed_rrset_key* rrset)
{
	struct iter_prep_list* p;
	for(p = dq->an_prepend_list; p; p = p->next) {
		if(ub_rrset_compare(p->rrset, rrset) == 0 &&
			rrsetdata_equal((struct packed_rrset_data*)p->rrset->
			entry.data, (struct packed_rrset_data*)rrset->
			entry.data))
			return 1;
	}
	return 0;
}

/**
 * Follow the CNAME/DNAME chain in msg from qchase: remember what to
 * prepend and move qchase to the target. As the iterator does, and
 * NSEC/NSEC3 of the authority section are kept for the validator.
 */
static int
follow_cname(struct dotpool_q* dq, struct dns_msg* msg)
{
	struct regional* region = dq->qstate->region;
	uint8_t* mname = dq->qchase.qname;
	size_t mlen = dq->qchase.qname_len;
	size_t i;
	for(i = 0; i < msg->rep->an_numrrsets; i++) {
		struct ub_packed_rrset_key* r = msg->rep->rrsets[i];
		uint16_t t = ntohs(r->rk.type);
		if(t == LDNS_RR_TYPE_DNAME &&
			dname_strict_subdomain_c(mname, r->rk.dname) &&
			!prepend_has(dq, r)) {
			if(!prepend_add(region, &dq->an_prepend_list,
				&dq->an_prepend_last, r))
				return 0;
			continue;
		}
		if(t == LDNS_RR_TYPE_CNAME &&
			query_dname_compare(mname, r->rk.dname) == 0 &&
			!prepend_has(dq, r)) {
			if(!prepend_add(region, &dq->an_prepend_list,
				&dq->an_prepend_last, r))
				return 0;
			get_cname_target(r, &mname, &mlen);
		}
	}
	for(i = msg->rep->an_numrrsets; i < msg->rep->an_numrrsets +
		msg->rep->ns_numrrsets; i++) {
		struct ub_packed_rrset_key* r = msg->rep->rrsets[i];
		uint16_t t = ntohs(r->rk.type);
		if(t == LDNS_RR_TYPE_NSEC || t == LDNS_RR_TYPE_NSEC3) {
			if(!prepend_add(region, &dq->ns_prepend_list,
				&dq->ns_prepend_last, r))
				return 0;
		}
	}
	if(!mlen)
		return 0;
	dq->qchase.qname = mname;
	dq->qchase.qname_len = mlen;
	return 1;
}

/** Whether rrset p is already in sets[0..n). */
static int
set_has(struct ub_packed_rrset_key** sets, size_t n,
	struct ub_packed_rrset_key* p)
{
	size_t i;
	for(i = 0; i < n; i++)
		if(ub_rrset_compare(sets[i], p) == 0)
			return 1;
	return 0;
}

/** Put the prepend lists in front of the answer and authority sections. */
static int
prepend_apply(struct dotpool_q* dq, struct dns_msg* msg)
{
	struct iter_prep_list* p;
	struct ub_packed_rrset_key** sets;
	struct reply_info* rep = msg->rep;
	size_t na = 0, nn = 0, an, ns;
	for(p = dq->an_prepend_list; p; p = p->next)
		na++;
	for(p = dq->ns_prepend_list; p; p = p->next)
		nn++;
	if(na + nn == 0)
		return 1;
	if(na > RR_COUNT_MAX || nn > RR_COUNT_MAX ||
		rep->rrset_count > RR_COUNT_MAX)
		return 0;
	sets = regional_alloc(dq->qstate->region, (na + nn +
		rep->rrset_count) * sizeof(*sets));
	if(!sets)
		return 0;
	an = 0;
	for(p = dq->an_prepend_list; p; p = p->next) {
		sets[an++] = p->rrset;
		if(ub_packed_rrset_ttl(p->rrset) < rep->ttl)
			rep->ttl = ub_packed_rrset_ttl(p->rrset);
	}
	memcpy(sets + an, rep->rrsets, rep->an_numrrsets * sizeof(*sets));
	an += rep->an_numrrsets;
	ns = 0;
	for(p = dq->ns_prepend_list; p; p = p->next) {
		if(set_has(sets + an, ns, p->rrset) || set_has(rep->rrsets +
			rep->an_numrrsets, rep->ns_numrrsets, p->rrset))
			continue;
		sets[an + ns++] = p->rrset;
		if(ub_packed_rrset_ttl(p->rrset) < rep->ttl)
			rep->ttl = ub_packed_rrset_ttl(p->rrset);
	}
	memcpy(sets + an + ns, rep->rrsets + rep->an_numrrsets,
		(rep->ns_numrrsets + rep->ar_numrrsets) * sizeof(*sets));
	rep->rrset_count += na + ns;
	rep->an_numrrsets += na;
	rep->ns_numrrsets += ns;
	rep->rrsets = sets;
	rep->prefetch_ttl = PREFETCH_TTL_CALC(rep->ttl);
	rep->serve_expired_ttl = rep->ttl + SERVE_EXPIRED_TTL;
	return 1;
}

/** Hand the final answer back to Unbound, as the iterator's final state. */
static void
query_finish(struct dotpool_q* dq, struct dns_msg* msg)
{
	struct module_qstate* qstate = dq->qstate;
	msg->rep->flags |= BIT_RA | BIT_QR;
	msg->rep->flags &= ~BIT_AA;
	if(dq->an_prepend_list || dq->ns_prepend_list) {
		if(!prepend_apply(dq, msg)) {
			log_err("dotpool: out of memory prepending a CNAME chain");
			query_fail(dq, "out of memory");
			return;
		}
		msg->qinfo = qstate->qinfo;
		/* the combination is validated as a whole */
		msg->rep->security = sec_status_unchecked;
		if(!qstate->no_cache_store)
			dotpool_dns_store(qstate, &qstate->qinfo, msg->rep, 0,
				dq->dp->has_parent_side_NS, qstate->region);
	}
	qstate->return_rcode = LDNS_RCODE_NOERROR;
	qstate->return_msg = msg;
	qstate->ext_state[dq->id] = module_finished;
}

/** Move on to a new name after a CNAME; 0 when the chain is too long. */
static int
restart(struct dotpool_q* dq)
{
	struct iter_env* ie = (struct iter_env*)dq->qstate->env->
		modinfo[dq->w->iter_id];
	dq->restarts++;
	dq->attempts = 0;
	dq->tried = 0;
	dq->hedged = 0;
	return dq->restarts <= ie->max_query_restarts;
}

/**
 * Switch the query to a forward zone (at the start, and after a CNAME into
 * another zone): copy the zone's forward zone, list its forward-addrs in
 * the order of the configuration, and take the zone's own settings, so a
 * chain from an opportunistic zone into a strict one is resolved strictly.
 * The live delegpt has the addresses in that order (Unbound prepends
 * twice: reading the config, building the list), but copying a delegpt
 * prepends once more, so the copy's list runs backwards: the addresses are
 * copied from the live one, in its order.
 * @return 0 on success, -1 out of memory.
 */
static int
set_zone(struct dotpool_q* dq, struct delegpt* dp)
{
	struct delegpt_addr* a;
	int n = 0, i;
	if(!(dq->dp = delegpt_copy(dp, dq->qstate->region)))
		return -1;
	for(a = dp->target_list; a && n < DOTPOOL_MAX_UPSTREAMS;
		a = a->next_target)
		n++;
	dq->targets = regional_alloc(dq->qstate->region,
		(size_t)(n ? n : 1) * sizeof(*dq->targets));
	if(!dq->targets)
		return -1;
	i = 0;
	for(a = dp->target_list; a && i < n; a = a->next_target) {
		/* own copies: the same address may appear with two names */
		struct delegpt_addr* t = regional_alloc_init(
			dq->qstate->region, a, sizeof(*a));
		if(!t)
			return -1;
		t->next_target = t->next_usable = t->next_result = NULL;
		if(a->tls_auth_name && !(t->tls_auth_name = regional_strdup(
			dq->qstate->region, a->tls_auth_name)))
			return -1;
		dq->targets[i++] = t;
	}
	dq->ntargets = n;
	zone_settings(dq->w->de, dq);
	return 0;
}

/** The upstream for a forward-addr in this worker's pool. */
static struct dotpool_upstream*
upstream_of(struct dotpool_q* dq, struct delegpt_addr* a,
	const struct dotpool_upstream_cfg** ucfgp)
{
	const struct dotpool_upstream_cfg* ucfg;
	struct dotpool_upstream* up;
	char ip[INET6_ADDRSTRLEN];
	int port;
	const void* sin;
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
	ucfg = dotpool_config_upstream(dq->w->de->cfg, ip, port,
		a->tls_auth_name);
	*ucfgp = ucfg;
	/* the profile is part of the upstream's identity: strict and
	 * opportunistic zones never share connections or sessions */
	up = dotpool_pool_upstream(dq->w->pool, (struct sockaddr*)&a->addr,
		a->addrlen, a->tls_auth_name, ucfg, dq->profile);
	if(up && !dotpool_upstream_zone(up)) {
		char zone[LDNS_MAX_DOMAINLEN + 1];
		dname_str(dq->dp->name, zone);
		dotpool_upstream_set_zone(up, zone);
	}
	return up;
}

/** Next pseudo-random 32 bits of the worker (selection, not security). */
static uint32_t
worker_rand(struct dotpool_worker* w)
{
	/* xorshift64*: seeded from Unbound's per-worker generator */
	if(w->rnd == 0)
		w->rnd = ((uint64_t)ub_random(w->env->rnd) << 32) |
			(uint64_t)ub_random(w->env->rnd) | 1;
	w->rnd ^= w->rnd >> 12;
	w->rnd ^= w->rnd << 25;
	w->rnd ^= w->rnd >> 27;
	return (uint32_t)((w->rnd * 0x2545F4914F6CDD1DULL) >> 32);
}

/** Round-robin cursor of a zone in this worker. */
static unsigned*
rr_cursor(struct dotpool_worker* w, struct delegpt* dp)
{
	uint32_t h = 5381;
	size_t i;
	for(i = 0; i < dp->namelen; i++)
		h = h * 33 + (uint32_t)tolower(dp->name[i]);
	return &w->rr[h % DOTPOOL_RR_SLOTS];
}

/**
 * Pick the forward-addr for the next attempt by the zone's policy, never
 * one already tried for this name (nor the other attempt in flight).
 * @return index, or -1 when every upstream was tried.
 */
static int
pick_upstream(struct dotpool_q* dq, struct dotpool_upstream** upp)
{
	struct dotpool_candidate c[DOTPOOL_MAX_UPSTREAMS];
	struct dotpool_upstream* ups[DOTPOOL_MAX_UPSTREAMS];
	struct delegpt_addr* a;
	int n = 0, i;
	for(n = 0; n < dq->ntargets; n++) {
		const struct dotpool_upstream_cfg* ucfg = NULL;
		a = dq->targets[n];
		ups[n] = upstream_of(dq, a, &ucfg);
		c[n].tried = (dq->tried & ((uint64_t)1 << n)) || !ups[n];
		c[n].usable = ups[n] && dotpool_upstream_usable(ups[n]);
		c[n].srtt_us = ups[n] ? dotpool_upstream_srtt(ups[n]) : 0;
		c[n].weight = ucfg ? ucfg->weight : 1;
	}
	i = dotpool_select(dq->policy, c, n, rr_cursor(dq->w, dq->dp),
		worker_rand(dq->w));
	*upp = i >= 0 ? ups[i] : NULL;
	return i;
}

/**
 * Encode the query for qchase into the region: RD, CD as the client asked
 * (or always after a bogus answer, so the validator can look at the data),
 * DO, Unbound's EDNS buffer size, the edns options other modules asked for,
 * and padding per pad-queries.
 */
static uint8_t*
encode_query(struct dotpool_q* dq, struct delegpt_addr* a, size_t* len)
{
	struct module_qstate* qstate = dq->qstate;
	struct module_env* env = qstate->env;
	sldns_buffer* buf = env->scratch_buffer;
	struct edns_data edns;
	struct edns_option padding;
	uint16_t flags = BIT_RD | (qstate->query_flags & BIT_CD);
	if(qstate->blacklist)
		flags |= BIT_CD;
	if(!inplace_cb_query_call(env, &dq->qchase, flags, &a->addr,
		a->addrlen, dq->dp->name, dq->dp->namelen, qstate,
		qstate->region))
		return NULL;
	qinfo_query_encode(buf, &dq->qchase);
	sldns_buffer_write_u16_at(buf, 2, flags);
	memset(&edns, 0, sizeof(edns));
	edns.edns_present = 1;
	edns.edns_version = EDNS_ADVERTISED_VERSION;
	edns.udp_size = EDNS_ADVERTISED_SIZE;
	edns.bits = EDNS_DO;
	edns.opt_list_out = qstate->edns_opts_back_out;
	if(env->cfg->pad_queries && env->cfg->pad_queries_block_size) {
		/* attach_edns_record pads only when the option is listed */
		memset(&padding, 0, sizeof(padding));
		padding.opt_code = LDNS_EDNS_PADDING;
		padding.next = edns.opt_list_out;
		edns.opt_list_out = &padding;
		edns.padding_block_size =
			(uint16_t)env->cfg->pad_queries_block_size;
	}
	attach_edns_record(buf, &edns);
	*len = sldns_buffer_limit(buf);
	return regional_alloc_init(qstate->region, sldns_buffer_begin(buf),
		*len);
}

/** Stop the hedge timer. */
static void
hedge_timer_stop(struct dotpool_q* dq)
{
	if(dq->htimer_set) {
		event_del(&dq->htimer);
		dq->htimer_set = 0;
	}
}

/** Both attempts are over (or the only one): wake the query in the mesh. */
static void
wake_query(struct dotpool_q* dq)
{
	struct module_qstate* qstate = dq->qstate;
	dq->waiting = 0;
	mesh_run(qstate->env->mesh, qstate->mesh_info,
		dq->err ? module_event_noreply : module_event_reply, NULL);
}

/**
 * Pool callback: an attempt ended. The first good answer wins and the
 * other attempt, if any, is cancelled; a failure waits for the other
 * attempt when there is one.
 */
static void
attempt_done(struct dotpool_req* req, int err, uint8_t* answer, size_t len)
{
	struct dotpool_q* dq = (struct dotpool_q*)req->arg;
	struct module_qstate* qstate = dq->qstate;
	int hedge = (req == &dq->hreq);
	int other_waiting;
	if(hedge)
		dq->hwaiting = 0;
	else	dq->req.done = NULL; /* marks the main attempt over */
	other_waiting = hedge ? (dq->req.done != NULL) : dq->hwaiting;
	if(err != 0 && other_waiting) {
		/* let the other attempt speak; remember who failed */
		verbose(VERB_DETAIL, "dotpool: upstream %s: %s",
			dotpool_upstream_name(hedge ? dq->hup : dq->up),
			dotpool_strerror(err));
		return;
	}
	hedge_timer_stop(dq);
	if(other_waiting) {
		/* the first good answer wins */
		if(hedge) {
			dotpool_pool_cancel(&dq->req);
			dq->req.done = NULL;
		} else {
			dotpool_pool_cancel(&dq->hreq);
			dq->hwaiting = 0;
		}
	}
	if(hedge) {
		dq->up = dq->hup;
		dq->cur = dq->hcur;
	}
	dq->err = err;
	dq->ans = NULL;
	dq->anslen = 0;
	if(err == 0 && answer) {
		dq->ans = regional_alloc_init(qstate->region, answer, len);
		dq->anslen = len;
		if(!dq->ans)
			dq->err = DOTPOOL_ENOMEM;
	}
	wake_query(dq);
}

/** Milliseconds of the query's time budget that are left. */
static unsigned
budget_left(struct dotpool_q* dq)
{
	const struct dotpool_config* cfg = dq->w->de->cfg;
	uint64_t used = now_ms(dq->qstate->env) - dq->start_ms;
	return used >= cfg->query_timeout ? 0 :
		(unsigned)(cfg->query_timeout - used);
}

/**
 * Start one attempt on the next upstream the policy picks.
 * @param dq: the query.
 * @param req: dq->req or dq->hreq.
 * @param curp: returns the upstream index.
 * @param upp: returns the upstream.
 * @return 0, or -1 when no upstream is left to try.
 */
static int
start_attempt(struct dotpool_q* dq, struct dotpool_req* req, int* curp,
	struct dotpool_upstream** upp)
{
	const struct dotpool_config* cfg = dq->w->de->cfg;
	for(;;) {
		struct dotpool_upstream* up = NULL;
		struct delegpt_addr* a;
		uint8_t* wire;
		size_t len;
		unsigned left = budget_left(dq);
		int i, r;
		if(dq->attempts >= (int)cfg->max_attempts || left < 10)
			return -1;
		if((i = pick_upstream(dq, &up)) < 0 || !up)
			return -1;
		dq->tried |= (uint64_t)1 << i;
		a = dq->targets[i];
		if(!(wire = encode_query(dq, a, &len)))
			return -1;
		memset(req, 0, sizeof(*req));
		req->wire = wire;
		req->len = len;
		req->timeout_ms = cfg->attempt_timeout < left ?
			cfg->attempt_timeout : left;
		req->done = attempt_done;
		req->arg = dq;
		dq->attempts++;
		r = dotpool_pool_send(up, req);
		if(r != 0) {
			verbose(VERB_DETAIL, "dotpool: upstream %s: %s",
				dotpool_upstream_name(up), dotpool_strerror(r));
			req->done = NULL;
			continue;
		}
		*curp = i;
		*upp = up;
		return 0;
	}
}

/** Hedge timer: no answer yet, so also ask another upstream. */
static void
hedge_timer_cb(evutil_socket_t fd, short what, void* arg)
{
	struct dotpool_q* dq = (struct dotpool_q*)arg;
	(void)fd; (void)what;
	ub_comm_base_now(dq->qstate->env->worker_base);
	dq->htimer_set = 0;
	if(dq->req.done == NULL || dq->hwaiting || dq->hedged)
		return;
	if(start_attempt(dq, &dq->hreq, &dq->hcur, &dq->hup) != 0)
		return;
	dq->hwaiting = 1;
	dq->hedged = 1;
	dotpool_upstream_count(dq->hup, DOTPOOL_COUNT_HEDGE);
}

/** Arm the hedge timer for the attempt just sent, when the zone hedges. */
static void
hedge_arm(struct dotpool_q* dq)
{
	struct timeval tv;
	if(dq->hedge_delay == 0 || dq->hedged || dq->ntargets < 2 ||
		dq->hedge_delay >= dq->req.timeout_ms)
		return;
	hedge_timer_stop(dq);
	event_assign(&dq->htimer, (struct event_base*)comm_base_internal(
		dq->qstate->env->worker_base), -1, 0, hedge_timer_cb, dq);
	tv.tv_sec = dq->hedge_delay / 1000;
	tv.tv_usec = (dq->hedge_delay % 1000) * 1000;
	if(event_add(&dq->htimer, &tv) == 0)
		dq->htimer_set = 1;
}

/**
 * Send the next attempt for qchase, or fail the query when the attempts or
 * the time budget are used up.
 */
static void
send_attempt(struct dotpool_q* dq)
{
	struct dotpool_upstream* prev = dq->attempts > 0 ? dq->up : NULL;
	if(start_attempt(dq, &dq->req, &dq->cur, &dq->up) != 0) {
		dq->req.done = NULL;
		query_fail(dq, "no upstream answered in time");
		return;
	}
	if(prev && prev != dq->up)
		dotpool_upstream_count(dq->up, DOTPOOL_COUNT_FAILOVER);
	dq->waiting = 1;
	hedge_arm(dq);
	dq->qstate->ext_state[dq->id] = module_wait_reply;
}

/**
 * Look qchase up in Unbound's cache, as the iterator does. A CNAME found
 * there is followed without asking anyone.
 * @return the final answer, or NULL when the network must be asked.
 *	*chased is set when qchase moved.
 */
static struct dns_msg*
cache_lookup(struct dotpool_q* dq, int* chased)
{
	struct module_qstate* qstate = dq->qstate;
	struct module_env* env = qstate->env;
	struct dns_msg* msg = NULL;
	uint8_t* dpname = NULL;
	size_t dpnamelen = 0;
	uint8_t dpname_storage[LDNS_MAX_DOMAINLEN + 1];
	*chased = 0;
	if(dotpool_fwd_no_cache(qstate, &dq->qchase, &dpname, &dpnamelen,
		dpname_storage, sizeof(dpname_storage)))
		return NULL; /* marked no-cache as the iterator marks it */
	if(qstate->blacklist || qstate->no_cache_lookup)
		return NULL;
	msg = dns_cache_lookup(env, dq->qchase.qname, dq->qchase.qname_len,
		dq->qchase.qtype, dq->qchase.qclass, qstate->query_flags,
		qstate->region, env->scratch, 0, dpname, dpnamelen);
	if(!msg && env->neg_cache &&
		iter_qname_indicates_dnssec(env, &dq->qchase)) {
		msg = val_neg_getmsg(env->neg_cache, &dq->qchase,
			qstate->region, env->rrset_cache, env->scratch_buffer,
			*env->now, 1, NULL, env->cfg);
	}
	if(!msg)
		return NULL;
	if(query_dname_compare(qstate->qinfo.qname, dq->qchase.qname) != 0)
		msg->rep->security = sec_status_unchecked;
	if(response_type_from_cache(msg, &dq->qchase) == RESPONSE_TYPE_CNAME) {
		if(!follow_cname(dq, msg))
			return NULL;
		sock_list_insert(&qstate->reply_origin, NULL, 0,
			qstate->region);
		*chased = 1;
		return NULL;
	}
	if(qstate->reply_origin)
		sock_list_insert(&qstate->reply_origin, NULL, 0,
			qstate->region);
	return msg;
}

/**
 * Resolve qchase: from cache, following cached CNAMEs, else from the
 * network. A chain that leaves dotpool's TLS forward zones goes to the
 * iterator, which finds the part we already have in the cache.
 */
static void
resolve(struct dotpool_q* dq)
{
	for(;;) {
		struct dns_msg* msg;
		int chased = 0;
		if(dq->restarts > 0) {
			int r = tls_forward(dq, &dq->qchase);
			if(r == 0) {
				dotpool_query_clear(dq);
				dq->qstate->minfo[dq->id] = NULL;
				dq->qstate->ext_state[dq->id] =
					module_wait_module;
				return;
			}
			if(r < 0) {
				query_fail(dq, "out of memory");
				return;
			}
		}
		msg = cache_lookup(dq, &chased);
		if(msg) {
			query_finish(dq, msg);
			return;
		}
		if(!chased)
			break;
		if(!restart(dq)) {
			query_fail(dq, "CNAME chain too long");
			return;
		}
	}
	send_attempt(dq);
}

void
dotpool_query_start(struct dotpool_q* dq)
{
	resolve(dq);
}

/**
 * Whether another attempt for this name can start: attempts and time are
 * left and some forward-addr was not tried yet.
 */
static int
can_try_another(struct dotpool_q* dq)
{
	const struct dotpool_config* cfg = dq->w->de->cfg;
	int i;
	if(dq->attempts >= (int)cfg->max_attempts || budget_left(dq) < 10)
		return 0;
	for(i = 0; i < dq->ntargets; i++)
		if(!(dq->tried & ((uint64_t)1 << i)))
			return 1;
	return 0;
}

/** An answer that is no use: tell the upstream's health, try another. */
static void
bad_answer(struct dotpool_q* dq, const char* why)
{
	verbose(VERB_DETAIL, "dotpool: upstream %s: %s",
		dotpool_upstream_name(dq->up), why);
	dotpool_upstream_report(dq->up, DOTPOOL_OUTCOME_BAD_ANSWER);
	send_attempt(dq);
}

void
dotpool_query_result(struct dotpool_q* dq)
{
	struct module_qstate* qstate = dq->qstate;
	struct module_env* env = qstate->env;
	struct iter_env* ie = (struct iter_env*)env->modinfo[dq->w->iter_id];
	struct msg_parse* prs;
	struct edns_data edns;
	sldns_buffer pkt;
	struct dns_msg* msg;
	enum response_type type;
	struct dotpool_scrub sc;
	int rcode, empty_nodata;

	if(dq->err != 0 || !dq->ans) {
		verbose(VERB_DETAIL, "dotpool: upstream %s: %s",
			dotpool_upstream_name(dq->up),
			dotpool_strerror(dq->err));
		send_attempt(dq);
		return;
	}
	sldns_buffer_init_frm_data(&pkt, dq->ans, dq->anslen);
	prs = regional_alloc_zero(env->scratch, sizeof(*prs));
	if(!prs) {
		query_fail(dq, "out of memory");
		return;
	}
	memset(&edns, 0, sizeof(edns));
	if(parse_packet(&pkt, prs, env->scratch) != LDNS_RCODE_NOERROR) {
		bad_answer(dq, "answer does not parse");
		return;
	}
	if(parse_extract_edns_from_response_msg(prs, &edns, env->scratch)
		!= LDNS_RCODE_NOERROR) {
		bad_answer(dq, "answer has bad EDNS");
		return;
	}
	if(edns.opt_list_in) {
		qstate->edns_opts_back_in = edns_opt_copy_region(
			edns.opt_list_in, qstate->region);
		if(!qstate->edns_opts_back_in) {
			query_fail(dq, "out of memory");
			return;
		}
		if(!inplace_cb_edns_back_parsed_call(env, qstate)) {
			query_fail(dq, "edns callback failed");
			return;
		}
	}
	if(prs->flags & BIT_TC) {
		/* truncation over TCP is a broken server, not a hint */
		bad_answer(dq, "answer has TC set over TLS");
		return;
	}
	prs->flags &= ~BIT_CD;
	if(!dotpool_scrub_message(&pkt, prs, &dq->qchase, dq->dp->name,
		env->scratch, env, qstate, ie, &sc)) {
		bad_answer(dq, "answer failed the scrubber");
		return;
	}
	msg = dns_alloc_msg(&pkt, prs, qstate->region);
	if(!msg) {
		query_fail(dq, "out of memory");
		return;
	}
	if(!inplace_cb_query_response_call(env, qstate, msg))
		log_err("dotpool: query_response callback failed");
	rcode = FLAGS_GET_RCODE(msg->rep->flags);
	if(rcode == LDNS_RCODE_SERVFAIL || rcode == LDNS_RCODE_REFUSED ||
		rcode == LDNS_RCODE_NOTIMPL || rcode == LDNS_RCODE_FORMERR) {
		bad_answer(dq, rcode == LDNS_RCODE_REFUSED ? "REFUSED" :
			rcode == LDNS_RCODE_SERVFAIL ? "SERVFAIL" :
			"FORMERR/NOTIMPL");
		return;
	}
	empty_nodata = dq->empty_nodata;
	type = dotpool_response_type(msg, &dq->qchase, dq->dp,
		&dq->empty_nodata, &sc);
	if(dq->empty_nodata != empty_nodata &&
		dq->empty_nodata < DOTPOOL_EMPTY_NODATA_RETRY_COUNT) {
		/* An empty NOERROR without SOA: this Unbound's iterator asks
		 * another server once before it believes one. Not a health
		 * failure: the server answered. */
		if(can_try_another(dq)) {
			verbose(VERB_DETAIL, "dotpool: upstream %s: empty "
				"answer without SOA, asking another",
				dotpool_upstream_name(dq->up));
			send_attempt(dq);
			return;
		}
		type = RESPONSE_TYPE_ANSWER;
	}
	if(type == RESPONSE_TYPE_REFERRAL)
		type = RESPONSE_TYPE_ANSWER; /* forwarding: no referrals */
	if(type == RESPONSE_TYPE_THROWAWAY && rcode == LDNS_RCODE_YXDOMAIN)
		type = RESPONSE_TYPE_ANSWER;
	if(type == RESPONSE_TYPE_CNAME && msg->rep->an_numrrsets >= 1 &&
		ntohs(msg->rep->rrsets[0]->rk.type) == LDNS_RR_TYPE_DNAME) {
		uint8_t* sname = NULL;
		size_t slen = 0;
		get_cname_target(msg->rep->rrsets[0], &sname, &slen);
		if(slen && dname_subdomain_c(sname,
			msg->rep->rrsets[0]->rk.dname))
			type = RESPONSE_TYPE_ANSWER; /* DNAME loop */
	}
	if(type != RESPONSE_TYPE_ANSWER && type != RESPONSE_TYPE_CNAME) {
		bad_answer(dq, "answer is neither an answer nor a CNAME");
		return;
	}
	dotpool_upstream_report(dq->up, DOTPOOL_OUTCOME_OK);
	if(!dq->dp->has_parent_side_NS)
		fallback_clear(dq);
	sock_list_insert(&qstate->reply_origin,
		&dq->targets[dq->cur]->addr,
		dq->targets[dq->cur]->addrlen, qstate->region);
	if(type == RESPONSE_TYPE_ANSWER) {
		if(!qstate->no_cache_store)
			dotpool_dns_store(qstate, &msg->qinfo, msg->rep,
				dq->qchase.qtype != msg->qinfo.qtype,
				dq->dp->has_parent_side_NS, qstate->region);
		query_finish(dq, msg);
		return;
	}
	/* CNAME: store the rrsets (referral=1: not the partial answer),
	 * then go on with the target, as the iterator does */
	if(!follow_cname(dq, msg)) {
		query_fail(dq, "out of memory following a CNAME");
		return;
	}
	if(!qstate->no_cache_store)
		dotpool_dns_store(qstate, &msg->qinfo, msg->rep, 1,
			dq->dp->has_parent_side_NS, NULL);
	if(!restart(dq)) {
		query_fail(dq, "CNAME chain too long");
		return;
	}
	resolve(dq);
}

void
dotpool_query_clear(struct dotpool_q* dq)
{
	hedge_timer_stop(dq);
	if(dq->req.done) {
		dotpool_pool_cancel(&dq->req);
		dq->req.done = NULL;
	}
	if(dq->hwaiting) {
		dotpool_pool_cancel(&dq->hreq);
		dq->hwaiting = 0;
	}
	dq->waiting = 0;
}
