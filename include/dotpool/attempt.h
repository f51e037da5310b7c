/**
 * \file
 * A query's attempt controller: which upstream the next attempt goes to
 * (the zone's plan and policy, never one already tried for this name),
 * within the query's budgets (max-attempts, query-timeout, attempt-timeout),
 * and hedging: at the attempt's soft deadline (hedge-delay: auto, what its
 * upstream normally takes by its round-trip estimate) or after a fixed
 * hedge-delay without an answer, a second attempt goes to another
 * upstream without withdrawing the first; the first good answer wins and
 * the other is withdrawn, a failure waits for the other one. Only the
 * hard attempt-timeout is a failure. At the soft deadline the first
 * attempt's upstream also turns suspect when it answered nothing since
 * (dotpool_upstream_overdue). Hedges come out of the worker's budget (a
 * token bucket: hedge-max-percent of its queries, hedge-burst at once), so
 * a period when everything is slow cannot double the upstreams' load.
 *
 * States (one setter, ctl_set_state in attempt.c):
 *
 *   IDLE --send--> WAITING --hedge timer--> HEDGED
 *                   |  ^                     |
 *                   |  +--- one attempt fails+
 *                   v                        |
 *                  DONE <--answer, or both failed
 *                   |  --send--> WAITING
 *   any but CANCELLED --cancel--> CANCELLED (nothing in flight, ever again)
 *   DONE/IDLE --restart (a new name)--> IDLE
 *
 * The controller knows nothing of Unbound: the query it serves encodes the
 * wire query and takes the result through a small callback table, the
 * transport and the timers come from the worker's context, so CUnit drives
 * it with a fake transport and a fake clock.
 *
 * Threading: a controller belongs to its worker's thread.
 */
#ifndef DOTPOOL_ATTEMPT_H
#define DOTPOOL_ATTEMPT_H
#include <stddef.h>
#include <stdint.h>
#include "dotpool/pool.h"
#include "dotpool/timer.h"

struct dotpool_plan;
struct dotpool_ctl;

/** No attempt starts with less of the query's time left than this (ms). */
#define DOTPOOL_CTL_MIN_LEFT_MS 10
/** Hedged attempts per name. */
#define DOTPOOL_CTL_MAX_HEDGES 1

/** The controller's lifetime (see the diagram above). */
enum dotpool_ctl_state {
	/** no attempt for this name yet */
	DOTPOOL_CTL_IDLE = 0,
	/** the lead attempt is in flight; the hedge timer may run */
	DOTPOOL_CTL_WAITING,
	/** the lead attempt and a hedge are in flight */
	DOTPOOL_CTL_HEDGED,
	/** the attempts are over for now, their result handed out */
	DOTPOOL_CTL_DONE,
	/** withdrawn: nothing in flight, no attempt starts again */
	DOTPOOL_CTL_CANCELLED
};

/** Name of a controller state for logs. */
const char* dotpool_ctl_state_str(enum dotpool_ctl_state s);

/** What the controllers of one worker share. */
struct dotpool_ctl_env {
	/** hedge timers, and the clock of the time budget */
	struct dotpool_timers* timers;
	/** max_attempts, attempt_timeout, query_timeout (borrowed) */
	const struct dotpool_config* cfg;
	/** the transport: dotpool_pool_send in the module */
	int (*send)(struct dotpool_upstream* up, struct dotpool_req* req);
	/** dotpool_pool_cancel in the module */
	void (*cancel)(struct dotpool_req* req);
	/** xorshift state for selection; the owner seeds it (non-zero) */
	uint64_t rnd;
	/** the hedge budget, kept as what was spent of a full bucket, in
	 * hundredths of a hedge: 0 (as zeroed) is full, each query pays
	 * back hedge-max-percent, each hedge costs 100, and a hedge is sent
	 * only while the bucket holds one (written by the controllers) */
	unsigned hedge_spent;
};

/** What the controller asks of the query it serves. */
struct dotpool_ctl_ops {
	/**
	 * Encode the query for an attempt to plan entry i.
	 * @param arg: the query.
	 * @param i: the entry.
	 * @param len: returns the length.
	 * @return the wire query in memory that lives as long as the query,
	 *	or NULL: no attempt can be made.
	 */
	uint8_t* (*encode)(void* arg, int i, size_t* len);
	/**
	 * The attempts are over for now: the first good answer, or the
	 * error of the last one. The controller is DONE and does not touch
	 * itself after the call, which may end the query.
	 * @param arg: the query.
	 * @param err: 0 or DOTPOOL_E*.
	 * @param answer: the answer (borrowed, valid during the call) or NULL.
	 * @param len: its length.
	 */
	void (*finish)(void* arg, int err, uint8_t* answer, size_t len);
};

/** One attempt: a request to one upstream. */
struct dotpool_attempt {
	/** the request handed to the transport */
	struct dotpool_req req;
	/** its plan entry */
	int target;
	/** its upstream */
	struct dotpool_upstream* up;
	/** the controller */
	struct dotpool_ctl* ctl;
};

/** The controller of one query (in the query's memory). */
struct dotpool_ctl {
	/** state: written by ctl_set_state only */
	enum dotpool_ctl_state state;
	/** index in a[] of the lead attempt (the one in flight when
	 * WAITING, the one whose result was handed out when DONE); written
	 * by ctl_set_state only */
	int lead;
	/** the two attempts a hedged query may have in flight */
	struct dotpool_attempt a[2];
	/** the worker's context (borrowed) */
	struct dotpool_ctl_env* env;
	/** the query's callbacks */
	const struct dotpool_ctl_ops* ops;
	/** their argument */
	void* arg;
	/** the zone's plan (borrowed: the query holds a reference) */
	struct dotpool_plan* plan;
	/** bit i: plan entry i was tried for this name */
	uint64_t tried;
	/** attempts for this name */
	int attempts;
	/** hedges sent for this name */
	int hedges;
	/** the hedge timer runs to the lead attempt's soft deadline
	 * (hedge-delay: auto), not a fixed delay */
	int hedge_soft;
	/** when the query started, ms of the timers' clock */
	uint64_t start_ms;
	/** the hedge timer */
	struct dotpool_timer hedge;
};

/**
 * Set up a controller; the query's time budget starts now, and it pays
 * its share into the worker's hedge budget.
 * @param ctl: the controller (caller's memory, zeroed or not).
 * @param env: the worker's context (borrowed, outlives the controller).
 * @param ops: the query's callbacks (borrowed).
 * @param arg: their argument.
 */
void dotpool_ctl_init(struct dotpool_ctl* ctl, struct dotpool_ctl_env* env,
	const struct dotpool_ctl_ops* ops, void* arg);

/** Use this zone plan from the next attempt on (at the start and after a
 * CNAME into another zone); not while an attempt is in flight. */
void dotpool_ctl_set_plan(struct dotpool_ctl* ctl, struct dotpool_plan* p);

/** A new name (a CNAME was followed): its attempts, tried upstreams and
 * hedges start from zero; the time budget goes on. Not while an attempt
 * is in flight. */
void dotpool_ctl_restart(struct dotpool_ctl* ctl);

/**
 * Send the next attempt: to the upstream the zone's policy picks among
 * those not tried for this name, within the budgets, and arm the hedge
 * timer when the zone hedges. An upstream that refuses the request (queue
 * full) is skipped for the next one.
 * @return 0 (finish will be called), or DOTPOOL_ETIMEOUT when no upstream,
 *	attempt or time is left, DOTPOOL_ENOMEM when encoding failed.
 */
int dotpool_ctl_send(struct dotpool_ctl* ctl);

/** Withdraw whatever is in flight and stop the hedge timer; the
 * controller is CANCELLED for good. Idempotent. */
void dotpool_ctl_cancel(struct dotpool_ctl* ctl);

/** Whether an attempt is in flight (WAITING or HEDGED). */
int dotpool_ctl_waiting(const struct dotpool_ctl* ctl);

/** Whether another attempt for this name could start: attempts and time
 * are left and some plan entry was not tried yet. */
int dotpool_ctl_can_retry(const struct dotpool_ctl* ctl);

/** Plan entry of the lead attempt (the last result's), -1 before any. */
int dotpool_ctl_target(const struct dotpool_ctl* ctl);

/** Upstream of the lead attempt (the last result's), NULL before any. */
struct dotpool_upstream* dotpool_ctl_upstream(const struct dotpool_ctl* ctl);

#endif /* DOTPOOL_ATTEMPT_H */
