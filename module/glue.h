/**
 * \file
 * The glue between dotpool and Unbound: the only place (with dotpool.c and
 * query.c) that includes Unbound's internal headers, whose struct layouts
 * depend on Unbound's version and configure options.
 */
#ifndef DOTPOOL_GLUE_H
#define DOTPOOL_GLUE_H
#include "config.h"
#include <pthread.h>
#include "util/module.h"
#include "iterator/iterator.h"
#include "dotpool/config.h"
#include "dotpool/pool.h"

struct dotpool_tls;
struct dotpool_metrics;

/** Module-wide state, in dynlibmod_env.dyn_env; shared by all workers. */
struct dotpool_env {
	/** dotpool's settings */
	struct dotpool_config* cfg;
	/** TLS client context; NULL when no trust is configured at all */
	struct dotpool_tls* tls;
	/** upstream health shared by the worker threads */
	struct dotpool_board* board;
	/** number of worker slots */
	int num_workers;
	/** per worker state, indexed by thread number; each slot is created
	 * and used only by its own worker thread */
	struct dotpool_worker** workers;
	/** metrics endpoint or NULL */
	struct dotpool_metrics* metrics;
	/** zone: sections with their names in wire format */
	struct dotpool_zone_ref* zones;
	/** number of zones */
	int num_zones;
	/** forward-first zones whose queries go to Unbound's iterator
	 * because no upstream answered (struct dotpool_fallback), so the
	 * downgrade is logged once per outage; guarded by fallback_lock */
	struct dotpool_fallback* fallbacks;
	/** entries in fallbacks; read without the lock (atomic) by every
	 * answer of a forward-first zone, which then has nothing to do */
	unsigned num_fallbacks;
	/** guards fallbacks */
	pthread_mutex_t fallback_lock;
	/** whether fallback_lock is initialised */
	int fallback_lock_ok;
	/** env->cfg->module_conf as seen at init, compared, never
	 * dereferenced: Unbound's fast_reload (1.23 and later) copies a
	 * freshly parsed config into env->cfg without calling deinit/init,
	 * and every parse allocates this string anew */
	const void* cfg_mark;
	/** set (atomic) once the fast_reload note has been logged */
	int fast_reload_noted;
};

/** A forward-first zone falling back to Unbound's iterator now. */
struct dotpool_fallback {
	/** next in the list */
	struct dotpool_fallback* next;
	/** length of name */
	size_t len;
	/** the zone name in wire format */
	uint8_t name[];
};

/** A zone: section, keyed by its name in wire format. */
struct dotpool_zone_ref {
	/** the name in wire format (owned) */
	uint8_t* name;
	/** the section (borrowed from the settings) */
	const struct dotpool_zone_cfg* cfg;
};

/** Round-robin cursors per worker, by a hash of the zone name. */
#define DOTPOOL_RR_SLOTS 64

/** Per worker thread state. */
struct dotpool_worker {
	/** the module-wide state */
	struct dotpool_env* de;
	/** the worker's module environment (borrowed) */
	struct module_env* env;
	/** the worker's connection pool */
	struct dotpool_pool* pool;
	/** module id of the iterator in the worker's stack */
	int iter_id;
	/** thread number */
	int thread_num;
	/** round-robin cursors, by zone name hash */
	unsigned rr[DOTPOOL_RR_SLOTS];
	/** state of the random generator for selection and hedging */
	uint64_t rnd;
};

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
	/** its forward-addrs in the order of the configuration */
	struct delegpt_addr** targets;
	/** number of targets */
	int ntargets;
	/** CNAME/DNAME rrsets to prepend to the final answer */
	struct iter_prep_list* an_prepend_list;
	/** last of an_prepend_list */
	struct iter_prep_list* an_prepend_last;
	/** NSEC/NSEC3 rrsets to prepend to the authority section */
	struct iter_prep_list* ns_prepend_list;
	/** last of ns_prepend_list */
	struct iter_prep_list* ns_prepend_last;
	/** CNAME restarts so far */
	int restarts;
	/** attempts for the current name */
	int attempts;
	/** bitmask of forward-addr indexes tried for the current name */
	uint64_t tried;
	/** index of the upstream of the attempt in flight */
	int cur;
	/** the attempt in flight */
	struct dotpool_req req;
	/** whether req is with the pool (or the hedge timer runs) */
	int waiting;
	/** result of the last attempt: 0 or DOTPOOL_E* */
	int err;
	/** answer of the last attempt (copy in region) or NULL */
	uint8_t* ans;
	/** its length */
	size_t anslen;
	/** the upstream of the last attempt */
	struct dotpool_upstream* up;
	/** policy of the zone */
	enum dotpool_policy policy;
	/** authentication profile of the zone */
	enum dotpool_profile profile;
	/** hedge delay of the zone in ms, 0 = off */
	unsigned hedge_delay;
	/** the hedged second attempt */
	struct dotpool_req hreq;
	/** whether hreq is with the pool */
	int hwaiting;
	/** index of the hedge's upstream */
	int hcur;
	/** the hedge's upstream */
	struct dotpool_upstream* hup;
	/** whether a hedge was sent for the current name */
	int hedged;
	/** hedge timer */
	struct event htimer;
	/** whether htimer is assigned and may be pending */
	int htimer_set;
	/** empty NOERROR answers so far (counted where Unbound's own
	 * iterator counts them) */
	int empty_nodata;
	/** when the query started, ms of Unbound's clock */
	uint64_t start_ms;
};

/**
 * Decide whether dotpool serves this query and set it up.
 * @return the new per-query state, or NULL to pass the query on.
 */
struct dotpool_q* dotpool_query_claim(struct dotpool_env* de,
	struct module_qstate* qstate, int id);

/** Run a claimed query after a new/pass event. */
void dotpool_query_start(struct dotpool_q* dq);

/** Handle the result of an attempt (reply/noreply event). */
void dotpool_query_result(struct dotpool_q* dq);

/** Forget a query: cancel what is in flight. */
void dotpool_query_clear(struct dotpool_q* dq);

/** The worker slot of this thread, created on first use; NULL on error. */
struct dotpool_worker* dotpool_worker_get(struct dotpool_env* de,
	struct module_env* env);

#endif /* DOTPOOL_GLUE_H */
