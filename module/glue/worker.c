/**
 * \file
 * A worker thread's state: created on the worker's first query, on its own
 * thread (Unbound copies the module environment per worker, with its own
 * event base), and freed in deinit after Unbound has freed the event
 * bases. What other threads read of it is published (dotpool_worker_mem).
 */
#include "module/glue/glue.h"
#include "module/glue/zoneplan.h"
#include <stdlib.h>
#include "util/netevent.h"
#include "util/ub_event.h"
#include "util/random.h"
#include "daemon/worker.h"
#include "services/mesh.h"
#include "services/modstack.h"
#include "dotpool/plan.h"
#include "dotpool/timer.h"

/** Refresh Unbound's clock at the top of each of our event callbacks. */
static void
worker_wake(void* arg)
{
	ub_comm_base_now((struct comm_base*)arg);
}

struct dotpool_worker*
dotpool_worker_get(struct dotpool_env* de, struct module_env* env)
{
	struct worker* wk = (struct worker*)env->worker;
	struct dotpool_worker* w;
	int n;
	if(!wk)
		return NULL;
	n = wk->thread_num;
	if(n < 0 || n >= de->num_workers)
		return NULL;
	if(de->workers[n])
		return de->workers[n];
	if(!de->tls)
		return NULL;
	w = calloc(1, sizeof(*w));
	if(!w)
		return NULL;
	w->de = de;
	w->env = env;
	w->thread_num = n;
	w->iter_id = modstack_find(&env->mesh->mods, "iterator");
	/* with libevent, Unbound's ub_event_base is the event_base */
	w->pool = dotpool_pool_create(
		(struct event_base*)comm_base_internal(env->worker_base),
		de->cfg, de->tls, worker_wake, env->worker_base);
	dotpool_pool_set_board(w->pool, de->board);
	w->plans = dotpool_plans_create();
	w->timers = dotpool_timers_create(
		(struct event_base*)comm_base_internal(env->worker_base),
		dotpool_timers_monotonic_ms, NULL, worker_wake, env->worker_base);
	if(!w->pool || !w->plans || !w->timers || w->iter_id < 0) {
		dotpool_worker_free(w, 1);
		return NULL;
	}
	w->ctl.timers = w->timers;
	w->ctl.cfg = de->cfg;
	w->ctl.send = dotpool_pool_send;
	w->ctl.cancel = dotpool_pool_cancel;
	/* selection's generator, seeded from Unbound's per-worker one */
	w->ctl.rnd = ((uint64_t)ub_random(env->rnd) << 32) |
		(uint64_t)ub_random(env->rnd) | 1;
	/* before the slot is published: whoever sees the slot (the warm-up
	 * thread, the metrics) sees every upstream of the worker */
	(void)dotpool_zone_plans_prepare(w);
	/* the metrics thread reads the slot */
	__atomic_store_n(&de->workers[n], w, __ATOMIC_RELEASE);
	return w;
}

void
dotpool_worker_free(struct dotpool_worker* w, int base_alive)
{
	if(!w)
		return;
	dotpool_plans_free(w->plans);
	dotpool_timers_free(w->timers, base_alive);
	dotpool_pool_free(w->pool, base_alive);
	free(w);
}

size_t
dotpool_worker_mem(const struct dotpool_worker* w)
{
	return sizeof(*w) + dotpool_pool_mem(w->pool) +
		dotpool_plans_mem(w->plans) + dotpool_timers_mem(w->timers);
}
