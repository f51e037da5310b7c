/**
 * \file
 * The one place where Unbound's releases differ for dotpool. Each wrapper
 * gives the forwarding path one call with the semantics of the host
 * Unbound's own iterator on that release; query.c calls only these, never
 * the changed functions themselves.
 *
 * The DOTPOOL_UB_* macros come from configure (configure.ac, "Unbound
 * API"), which compiles each known form of each function against the
 * tree's own headers and stops when none fits: a feature test, not a
 * version number, so a distribution tree with a backported change is
 * handled as what it is.
 * The releases named are where upstream made each change
 * (docs/unbound-versions.md has the table):
 *
 * - DOTPOOL_UB_FWD_LOCK (1.20.0): struct iter_forwards has a rwlock and
 *   forwards_lookup() a nolock argument; with nolock=0 a found zone is
 *   returned with the read lock held.
 * - DOTPOOL_UB_NOCACHE_STORAGE (1.20.0): iter_stub_fwd_no_cache() copies
 *   the zone name into the caller's buffer.
 * - DOTPOOL_UB_SCRUB_QSTATE (1.19.0): scrub_message() takes the qstate
 *   (for extended DNS errors).
 * - DOTPOOL_UB_EMPTY_NODATA (1.19.0): response_type_from_server() counts
 *   empty NOERROR answers (no SOA, nothing at all) and calls the first
 *   one a throwaway, so the iterator asks another server.
 * - DOTPOOL_UB_SCRUB_LAME, DOTPOOL_UB_RESPTYPE_LAME (1.26.0):
 *   scrub_message() reports lameness it saw before scrubbing (never for an
 *   RD query, so never for dotpool's) and response_type_from_server()
 *   takes it.
 * - DOTPOOL_UB_STORE_VALREC (1.23.0): iter_dns_store() takes is_valrec.
 * - DOTPOOL_UB_FWD_STUB_NO_CACHE (1.26.0): qstate->fwd_stub_no_cache marks
 *   a query of a forward-no-cache zone for the modules above (dns64).
 */
#ifndef DOTPOOL_COMPAT_H
#define DOTPOOL_COMPAT_H
#include <string.h>
#include "util/locks.h"
#include "iterator/iterator.h"
#include "iterator/iter_fwd.h"
#include "iterator/iter_delegpt.h"
#include "iterator/iter_utils.h"
#include "iterator/iter_scrub.h"
#include "iterator/iter_resptype.h"

/** Empty NOERROR answers after which the iterator accepts one. */
#ifdef EMPTY_NODATA_RETRY_COUNT
#define DOTPOOL_EMPTY_NODATA_RETRY_COUNT EMPTY_NODATA_RETRY_COUNT
#else
#define DOTPOOL_EMPTY_NODATA_RETRY_COUNT 2
#endif

/**
 * The forward zone for a name. When it returns a zone, the forwarders are
 * read-locked (on releases that lock them): copy what you need, then call
 * dotpool_fwd_unlock() on every path. NULL leaves nothing locked.
 */
static inline struct delegpt*
dotpool_fwd_lookup(struct iter_forwards* fwds, uint8_t* name, uint16_t qclass)
{
#ifdef DOTPOOL_UB_FWD_LOCK
	return forwards_lookup(fwds, name, qclass, 0);
#else
	return forwards_lookup(fwds, name, qclass);
#endif
}

/** Release what a successful dotpool_fwd_lookup() holds. */
static inline void
dotpool_fwd_unlock(struct iter_forwards* fwds)
{
#ifdef DOTPOOL_UB_FWD_LOCK
	lock_rw_unlock(&fwds->lock);
#else
	(void)fwds;
#endif
}

/**
 * Whether the stub or forward zone of a name says no-cache, and that zone's
 * name, copied into storage (LDNS_MAX_DOMAINLEN+1 bytes) on every release,
 * so nothing points into the forwarders. When it says no-cache the query
 * is marked as the host's iterator marks it: no cache lookup, no cache
 * store, and fwd_stub_no_cache where the release has it.
 * @return 1 for a no-cache zone.
 */
static inline int
dotpool_fwd_no_cache(struct module_qstate* qstate, struct query_info* qinf,
	uint8_t** dpname, size_t* dpnamelen, uint8_t* storage,
	size_t storage_len)
{
	int no_cache;
	*dpname = NULL;
	*dpnamelen = 0;
#ifdef DOTPOOL_UB_NOCACHE_STORAGE
	no_cache = iter_stub_fwd_no_cache(qstate, qinf, dpname, dpnamelen,
		storage, storage_len);
#else
	no_cache = iter_stub_fwd_no_cache(qstate, qinf, dpname, dpnamelen);
	if(*dpname && *dpnamelen <= storage_len) {
		memmove(storage, *dpname, *dpnamelen);
		*dpname = storage;
	} else {
		*dpname = NULL;
		*dpnamelen = 0;
	}
#endif
	if(!no_cache)
		return 0;
	qstate->no_cache_lookup = 1;
	qstate->no_cache_store = 1;
#ifdef DOTPOOL_UB_FWD_STUB_NO_CACHE
	qstate->fwd_stub_no_cache = 1;
#endif
	return 1;
}

/** What scrubbing found out for the classification (lame flags). */
struct dotpool_scrub {
	/** the answer was a referral that scrubbing emptied */
	int lame_empty;
	/** the answer was a referral and not an answer */
	int lame_referral;
};

/**
 * Scrub an answer of a forwarded (RD) query, as the iterator does.
 * @return 0 when the answer must be thrown away.
 */
static inline int
dotpool_scrub_message(struct sldns_buffer* pkt, struct msg_parse* prs,
	struct query_info* qinfo, uint8_t* zonename, struct regional* region,
	struct module_env* env, struct module_qstate* qstate,
	struct iter_env* ie, struct dotpool_scrub* sc)
{
	memset(sc, 0, sizeof(*sc));
#if defined(DOTPOOL_UB_SCRUB_LAME)
	return scrub_message(pkt, prs, qinfo, zonename, region, env, qstate,
		ie, &sc->lame_empty, &sc->lame_referral, 1);
#elif defined(DOTPOOL_UB_SCRUB_QSTATE)
	return scrub_message(pkt, prs, qinfo, zonename, region, env, qstate,
		ie);
#else
	(void)qstate;
	return scrub_message(pkt, prs, qinfo, zonename, region, env, ie);
#endif
}

/**
 * Classify a scrubbed answer of a forwarded (RD) query. empty_nodata is
 * the query's count of empty NOERROR answers; where the release counts
 * them, a count that went up and is still below
 * DOTPOOL_EMPTY_NODATA_RETRY_COUNT means: ask another server. Older
 * releases never change it.
 */
static inline enum response_type
dotpool_response_type(struct dns_msg* msg, struct query_info* request,
	struct delegpt* dp, int* empty_nodata, const struct dotpool_scrub* sc)
{
#if defined(DOTPOOL_UB_RESPTYPE_LAME)
	return response_type_from_server(1, msg, request, dp, empty_nodata,
		sc->lame_empty, sc->lame_referral);
#elif defined(DOTPOOL_UB_EMPTY_NODATA)
	(void)sc;
	return response_type_from_server(1, msg, request, dp, empty_nodata);
#else
	(void)sc; (void)empty_nodata;
	return response_type_from_server(1, msg, request, dp);
#endif
}

/** Store an answer in Unbound's caches, as the iterator does. */
static inline void
dotpool_dns_store(struct module_qstate* qstate, struct query_info* qinf,
	struct reply_info* rep, int is_referral, int pside,
	struct regional* region)
{
#ifdef DOTPOOL_UB_STORE_VALREC
	iter_dns_store(qstate->env, qinf, rep, is_referral,
		qstate->prefetch_leeway, pside, region, qstate->query_flags,
		qstate->qstarttime, qstate->is_valrec);
#else
	iter_dns_store(qstate->env, qinf, rep, is_referral,
		qstate->prefetch_leeway, pside, region, qstate->query_flags,
		qstate->qstarttime);
#endif
}

#endif /* DOTPOOL_COMPAT_H */
