/**
 * \file
 * The forwarding path for queries under a TLS forward zone: what Unbound's
 * iterator does for a forwarded query, with dotpool's transport in place of
 * Unbound's outside network. Claim or pass, cache lookup, encode, send,
 * check and scrub the answer, chase CNAMEs, store, return.
 */
#include "module/glue/glue.h"
#include "module/glue/query.h"
#include "module/glue/compat.h"
#include "module/glue/cname.h"
#include "module/glue/zoneplan.h"
#include <stdlib.h>
#include <string.h>
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
#include "dotpool/plan.h"

/** Per query state, in qstate->minfo[id], allocated in qstate->region. */
struct dotpool_q {
	/** the query */
	struct module_qstate* qstate;
	/** our module id */
	int id;
	/** the worker */
	struct dotpool_worker* w;
	/** the name being resolved now (differs after a CNAME) */
	struct query_info qchase;
	/** forward zone of qchase (copy in the region) */
	struct delegpt* dp;
	/** the worker's plan of that zone (a reference: released by
	 * dotpool_query_clear) */
	struct dotpool_plan* plan;
	/** what a CNAME chain puts in front of the final answer */
	struct dotpool_prepend prep;
	/** CNAME restarts so far */
	int restarts;
	/** result of the last attempt: 0 or DOTPOOL_E* */
	int err;
	/** answer of the last attempt (copy in region) or NULL */
	uint8_t* ans;
	/** its length */
	size_t anslen;
	/** empty NOERROR answers so far (counted where Unbound's own
	 * iterator counts them) */
	int empty_nodata;
	/** failover, hedging and budgets of the attempts */
	struct dotpool_ctl ctl;
};

static int set_zone(struct dotpool_q* dq, struct delegpt* dp,
	uint16_t qclass);

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
		r = set_zone(dq, dp, q->qclass) == 0 ? 1 : -1;
	dotpool_fwd_unlock(env->fwds);
	return r;
}

static const struct dotpool_ctl_ops query_ctl_ops;

struct dotpool_q*
dotpool_query_claim(struct dotpool_worker* w, struct module_qstate* qstate,
	int id)
{
	struct dotpool_q* dq;
	struct dotpool_q zone;

	if(!(qstate->query_flags & BIT_RD) || qstate->is_priming ||
		qstate->qinfo.qclass == LDNS_RR_CLASS_ANY ||
		qstate->qinfo.local_alias)
		return NULL;
	/* the zone is copied on the stack first: most queries are not ours;
	 * set_zone reads the zone's plan through the worker */
	memset(&zone, 0, sizeof(zone));
	zone.qstate = qstate;
	zone.w = w;
	if(tls_forward(&zone, &qstate->qinfo) != 1) {
		dotpool_plan_unref(w->plans, zone.plan);
		return NULL;
	}
	dq = regional_alloc_init(qstate->region, &zone, sizeof(*dq));
	if(!dq) {
		dotpool_plan_unref(w->plans, zone.plan);
		return NULL;
	}
	dq->id = id;
	dq->qchase = qstate->qinfo;
	dq->qchase.local_alias = NULL;
	/* the controller points into itself: set up where it stays */
	dotpool_ctl_init(&dq->ctl, &w->ctl, &query_ctl_ops, dq);
	dotpool_ctl_set_plan(&dq->ctl, dq->plan);
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

/** Hand the final answer back to Unbound, as the iterator's final state. */
static void
query_finish(struct dotpool_q* dq, struct dns_msg* msg)
{
	struct module_qstate* qstate = dq->qstate;
	msg->rep->flags |= BIT_RA | BIT_QR;
	msg->rep->flags &= ~BIT_AA;
	if(dotpool_cname_pending(&dq->prep)) {
		if(!dotpool_cname_apply(&dq->prep, qstate->region, msg)) {
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
	dotpool_ctl_restart(&dq->ctl);
	return dq->restarts <= ie->max_query_restarts;
}

/**
 * Switch the query to a forward zone (at the start, and after a CNAME into
 * another zone): copy the zone's forward zone and take the worker's plan of
 * it (its upstreams in the order of the configuration and the zone's own
 * settings), so a chain from an opportunistic zone into a strict one is
 * resolved strictly.
 * @return 0 on success, -1 out of memory.
 */
static int
set_zone(struct dotpool_q* dq, struct delegpt* dp, uint16_t qclass)
{
	struct dotpool_plan* p;
	if(!(dq->dp = delegpt_copy(dp, dq->qstate->region)))
		return -1;
	if(!(p = dotpool_zone_plan(dq->w, dp, qclass)))
		return -1;
	dotpool_plan_ref(p);
	dotpool_plan_unref(dq->w->plans, dq->plan);
	dq->plan = p;
	return 0;
}

/**
 * Encode the query for qchase into the region: RD, CD as the client asked
 * (or always after a bogus answer, so the validator can look at the data),
 * DO, Unbound's EDNS buffer size, the edns options other modules asked for,
 * and padding per pad-queries.
 */
static uint8_t*
encode_query(void* arg, int i, size_t* len)
{
	struct dotpool_q* dq = (struct dotpool_q*)arg;
	struct dotpool_plan_entry* a = &dq->plan->e[i];
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

/**
 * The attempts are over for now (an answer, or the last one failed): keep
 * the result and wake the query in the mesh.
 */
static void
attempts_over(void* arg, int err, uint8_t* answer, size_t len)
{
	struct dotpool_q* dq = (struct dotpool_q*)arg;
	struct module_qstate* qstate = dq->qstate;
	dq->err = err;
	dq->ans = NULL;
	dq->anslen = 0;
	if(err == 0 && answer) {
		dq->ans = regional_alloc_init(qstate->region, answer, len);
		dq->anslen = len;
		if(!dq->ans)
			dq->err = DOTPOOL_ENOMEM;
	}
	mesh_run(qstate->env->mesh, qstate->mesh_info,
		dq->err ? module_event_noreply : module_event_reply, NULL);
}

static const struct dotpool_ctl_ops query_ctl_ops = {
	encode_query,
	attempts_over
};

/**
 * Send the next attempt for qchase, or fail the query when the attempts or
 * the time budget are used up.
 */
static void
send_attempt(struct dotpool_q* dq)
{
	if(dotpool_ctl_send(&dq->ctl) != 0) {
		query_fail(dq, "no upstream answered in time");
		return;
	}
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
		if(!dotpool_cname_follow(&dq->prep, qstate->region, msg,
			&dq->qchase.qname, &dq->qchase.qname_len))
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
			dotpool_ctl_set_plan(&dq->ctl, dq->plan);
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

int
dotpool_query_waiting(const struct dotpool_q* dq)
{
	return dotpool_ctl_waiting(&dq->ctl);
}

/** An answer that is no use: tell the upstream's health, try another. */
static void
bad_answer(struct dotpool_q* dq, const char* why)
{
	verbose(VERB_DETAIL, "dotpool: upstream %s: %s",
		dotpool_upstream_name(dotpool_ctl_upstream(&dq->ctl)), why);
	dotpool_upstream_report(dotpool_ctl_upstream(&dq->ctl), DOTPOOL_OUTCOME_BAD_ANSWER);
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
	struct dotpool_upstream* up = dotpool_ctl_upstream(&dq->ctl);
	int rcode, empty_nodata;

	if(dq->err != 0 || !dq->ans) {
		verbose(VERB_DETAIL, "dotpool: upstream %s: %s",
			dotpool_upstream_name(up),
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
		if(dotpool_ctl_can_retry(&dq->ctl)) {
			verbose(VERB_DETAIL, "dotpool: upstream %s: empty "
				"answer without SOA, asking another",
				dotpool_upstream_name(up));
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
	dotpool_upstream_report(up, DOTPOOL_OUTCOME_OK);
	if(!dq->dp->has_parent_side_NS)
		fallback_clear(dq);
	sock_list_insert(&qstate->reply_origin,
		&dq->plan->e[dotpool_ctl_target(&dq->ctl)].addr,
		dq->plan->e[dotpool_ctl_target(&dq->ctl)].addrlen,
		qstate->region);
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
	if(!dotpool_cname_follow(&dq->prep, qstate->region, msg,
		&dq->qchase.qname, &dq->qchase.qname_len)) {
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
	dotpool_ctl_cancel(&dq->ctl);
	dotpool_plan_unref(dq->w->plans, dq->plan);
	dq->plan = NULL;
}
