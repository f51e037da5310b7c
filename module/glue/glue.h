/**
 * \file
 * The glue between dotpool and Unbound: the module-wide and per-worker
 * state. The glue files are the only ones that include Unbound's internal
 * headers (their struct layouts depend on Unbound's version and configure
 * options): dotpool.c (the module's entry points), worker.c (a worker's
 * state), query.c (a query's path), cname.c (CNAME chains), zoneplan.c
 * (plans from delegation points), warm.c (the start-up warm-up), and the
 * headers glue.h, compat.h, query.h, cname.h, zoneplan.h.
 */
#ifndef DOTPOOL_GLUE_H
#define DOTPOOL_GLUE_H
#include "config.h"
#include <pthread.h>
#include "util/module.h"
#include "iterator/iterator.h"
#include "dotpool/config.h"
#include "dotpool/pool.h"
#include "dotpool/attempt.h"

struct dotpool_tls;
struct dotpool_metrics;
struct dotpool_plans;
struct dotpool_timers;
struct dotpool_warm;
struct config_file;

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
	/** the start-up thread that has every worker build its upstreams,
	 * or NULL (module/glue/warm.c) */
	struct dotpool_warm* warm;
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

/** Per worker thread state. */
struct dotpool_worker {
	/** the module-wide state */
	struct dotpool_env* de;
	/** the worker's module environment (borrowed) */
	struct module_env* env;
	/** the worker's connection pool */
	struct dotpool_pool* pool;
	/** its forward zones' plans */
	struct dotpool_plans* plans;
	/** its queries' timers (hedging) */
	struct dotpool_timers* timers;
	/** what its queries' attempt controllers share */
	struct dotpool_ctl_env ctl;
	/** module id of the iterator in the worker's stack */
	int iter_id;
	/** thread number */
	int thread_num;
};

/** The worker slot of this thread, created on first use; NULL on error
 * (out of memory, or no TLS trust: then Unbound forwards by itself). */
struct dotpool_worker* dotpool_worker_get(struct dotpool_env* de,
	struct module_env* env);

/**
 * Free a worker's state (worker.c).
 * @param w: the worker, may be NULL.
 * @param base_alive: 0 when its event base is already freed (deinit):
 *	then no event is touched, only memory and sockets are freed.
 */
void dotpool_worker_free(struct dotpool_worker* w, int base_alive);

/** Bytes a worker holds, as its owner published them; any thread. */
size_t dotpool_worker_mem(const struct dotpool_worker* w);

/**
 * Start the warm-up thread: it asks Unbound's own listening address for
 * dotpool's reserved warm-up name until every worker has made its pool.
 * Called by init (no worker runs yet); the addresses are copied from cfg.
 * @param de: the module state; must outlive the thread.
 * @param cfg: Unbound's configuration.
 * @return the thread's state, or NULL (nothing to warm, or logged).
 */
struct dotpool_warm* dotpool_warm_start(struct dotpool_env* de,
	struct config_file* cfg);

/** Stop the warm-up thread and wait for it; NULL is fine. */
void dotpool_warm_stop(struct dotpool_warm* w);

/** Whether a query is dotpool's warm-up query (answered by operate on
 * the spot, never forwarded). */
int dotpool_warm_is_query(const struct query_info* q);

#endif /* DOTPOOL_GLUE_H */
