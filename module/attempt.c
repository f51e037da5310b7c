/**
 * \file
 * The attempt controller: failover, hedging and the budgets of one query.
 */
#include <string.h>
#include "dotpool/attempt.h"
#include "dotpool/plan.h"
#include "dotpool/error.h"
#include "dotpool/log.h"

const char*
dotpool_ctl_state_str(enum dotpool_ctl_state s)
{
	switch(s) {
	case DOTPOOL_CTL_IDLE: return "idle";
	case DOTPOOL_CTL_WAITING: return "waiting";
	case DOTPOOL_CTL_HEDGED: return "hedged";
	case DOTPOOL_CTL_DONE: return "done";
	case DOTPOOL_CTL_CANCELLED: return "cancelled";
	}
	return "?";
}

/**
 * The one writer of state and lead. Transitions are not logged one by
 * one: a query makes several and the log hook formats before Unbound's
 * verbosity is looked at; an illegal one is an error.
 * @return 0, or DOTPOOL_EINVAL (nothing changed).
 */
static int
ctl_set_state(struct dotpool_ctl* ctl, enum dotpool_ctl_state n, int lead)
{
	enum dotpool_ctl_state o = ctl->state;
	int ok = 0;
	switch(o) {
	case DOTPOOL_CTL_IDLE:
		ok = n == DOTPOOL_CTL_IDLE || n == DOTPOOL_CTL_WAITING ||
			n == DOTPOOL_CTL_CANCELLED;
		break;
	case DOTPOOL_CTL_WAITING:
		ok = n == DOTPOOL_CTL_HEDGED || n == DOTPOOL_CTL_DONE ||
			n == DOTPOOL_CTL_CANCELLED;
		break;
	case DOTPOOL_CTL_HEDGED:
		ok = n == DOTPOOL_CTL_WAITING || n == DOTPOOL_CTL_DONE ||
			n == DOTPOOL_CTL_CANCELLED;
		break;
	case DOTPOOL_CTL_DONE:
		ok = n == DOTPOOL_CTL_IDLE || n == DOTPOOL_CTL_WAITING ||
			n == DOTPOOL_CTL_CANCELLED;
		break;
	case DOTPOOL_CTL_CANCELLED:
		ok = 0;
		break;
	}
	if(!ok) {
		dotpool_log(DOTPOOL_LOG_ERR, "dotpool: illegal attempt state "
			"change %s -> %s", dotpool_ctl_state_str(o),
			dotpool_ctl_state_str(n));
		return DOTPOOL_EINVAL;
	}
	ctl->state = n;
	ctl->lead = lead;
	return 0;
}

/** Next pseudo-random 32 bits of the worker (selection, not security). */
static uint32_t
ctl_rand(struct dotpool_ctl_env* env)
{
	/* xorshift64* */
	env->rnd ^= env->rnd >> 12;
	env->rnd ^= env->rnd << 25;
	env->rnd ^= env->rnd >> 27;
	return (uint32_t)((env->rnd * 0x2545F4914F6CDD1DULL) >> 32);
}

/** Milliseconds of the query's time budget that are left. */
static unsigned
budget_left(const struct dotpool_ctl* ctl)
{
	unsigned limit = ctl->env->cfg->query_timeout;
	uint64_t now = dotpool_timers_now(ctl->env->timers);
	uint64_t used = now > ctl->start_ms ? now - ctl->start_ms : 0;
	return used >= limit ? 0 : (unsigned)(limit - used);
}

/** Whether attempt slot is in flight. */
static int
in_flight(const struct dotpool_ctl* ctl, int slot)
{
	return ctl->state == DOTPOOL_CTL_HEDGED ||
		(ctl->state == DOTPOOL_CTL_WAITING && ctl->lead == slot);
}

/**
 * Transport callback: an attempt ended. The first good answer wins and
 * the other attempt, if any, is withdrawn; a failure waits for the other
 * attempt when there is one.
 */
static void
attempt_done(struct dotpool_req* req, int err, uint8_t* answer, size_t len)
{
	struct dotpool_attempt* at = (struct dotpool_attempt*)req->arg;
	struct dotpool_ctl* ctl = at->ctl;
	int slot = (int)(at - ctl->a);
	if(!in_flight(ctl, slot)) {
		/* the transport withdraws what is cancelled: this is a bug
		 * somewhere, and must not end the query twice */
		dotpool_log(DOTPOOL_LOG_ERR, "dotpool: upstream %s: an answer "
			"for an attempt that is over (%s), ignored",
			dotpool_upstream_name(at->up),
			dotpool_ctl_state_str(ctl->state));
		return;
	}
	if(ctl->state == DOTPOOL_CTL_HEDGED) {
		struct dotpool_attempt* other = &ctl->a[1 - slot];
		if(err != 0) {
			/* let the other attempt speak */
			dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: upstream %s: "
				"%s", dotpool_upstream_name(at->up),
				dotpool_strerror(err));
			(void)ctl_set_state(ctl, DOTPOOL_CTL_WAITING,
				1 - slot);
			return;
		}
		ctl->env->cancel(&other->req);
	}
	dotpool_timer_stop(&ctl->hedge);
	(void)ctl_set_state(ctl, DOTPOOL_CTL_DONE, slot);
	/* last: it may end the query and free the controller */
	ctl->ops->finish(ctl->arg, err, answer, len);
}

/**
 * Start one attempt in a slot on the next upstream the policy picks,
 * skipping upstreams that refuse it; a hedge's round trip is no sample of
 * its upstream's (see dotpool_req.no_rtt).
 * @return 0, DOTPOOL_ETIMEOUT (no upstream, attempt or time left) or
 *	DOTPOOL_ENOMEM (encoding failed).
 */
static int
start_attempt(struct dotpool_ctl* ctl, int slot, int hedge)
{
	const struct dotpool_config* cfg = ctl->env->cfg;
	struct dotpool_attempt* at = &ctl->a[slot];
	for(;;) {
		struct dotpool_upstream* up;
		unsigned left = budget_left(ctl);
		uint8_t* wire;
		size_t len;
		int i, r;
		if(!ctl->plan || ctl->attempts >= (int)cfg->max_attempts ||
			left < DOTPOOL_CTL_MIN_LEFT_MS)
			return DOTPOOL_ETIMEOUT;
		if((i = dotpool_plan_pick(ctl->plan, ctl->tried,
			ctl_rand(ctl->env))) < 0)
			return DOTPOOL_ETIMEOUT;
		up = ctl->plan->e[i].up;
		/* a hedge to an upstream that is failing or suspect (the
		 * policy's last resort) would only add load: none, and the
		 * entry stays untried for a failover */
		if(hedge && !dotpool_upstream_usable(up))
			return DOTPOOL_ETIMEOUT;
		ctl->tried |= (uint64_t)1 << i;
		if(!(wire = ctl->ops->encode(ctl->arg, i, &len)))
			return DOTPOOL_ENOMEM;
		memset(&at->req, 0, sizeof(at->req));
		at->req.wire = wire;
		at->req.len = len;
		at->req.timeout_ms = cfg->attempt_timeout < left ?
			cfg->attempt_timeout : left;
		at->req.done = attempt_done;
		at->req.arg = at;
		at->req.no_rtt = hedge;
		ctl->attempts++;
		if((r = ctl->env->send(up, &at->req)) != 0) {
			dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: upstream %s: %s",
				dotpool_upstream_name(up), dotpool_strerror(r));
			continue;
		}
		at->target = i;
		at->up = up;
		return 0;
	}
}

/** The hedge budget's size in hundredths of a hedge (at least one). */
static unsigned
budget_size(const struct dotpool_config* cfg)
{
	return (cfg->hedge_burst ? cfg->hedge_burst : 1) * 100u;
}

/** Take a hedge from the worker's budget. @return 0 when it is spent. */
static int
budget_take(struct dotpool_ctl_env* env)
{
	if(env->cfg->hedge_percent == 0 ||
		env->hedge_spent + 100 > budget_size(env->cfg))
		return 0;
	env->hedge_spent += 100;
	return 1;
}

/**
 * Hedge timer: no answer yet at the soft deadline (or the fixed delay),
 * so also ask another upstream, keeping the first attempt. An upstream
 * that answered nothing since the first attempt was written is suspect
 * from now on, whether or not the budget allows the hedge: new queries
 * need not wait for the hard timeout to learn it.
 */
static void
hedge_fire(void* arg)
{
	struct dotpool_ctl* ctl = (struct dotpool_ctl*)arg;
	struct dotpool_attempt* lead = &ctl->a[ctl->lead];
	int slot = 1 - ctl->lead;
	if(ctl->state != DOTPOOL_CTL_WAITING ||
		ctl->hedges >= DOTPOOL_CTL_MAX_HEDGES)
		return;
	/* a fixed delay shorter than the soft deadline says nothing of
	 * the upstream yet */
	if(ctl->hedge_soft || ctl->plan->hedge_delay >=
		dotpool_upstream_soft_ms(lead->up))
		(void)dotpool_upstream_overdue(lead->up, &lead->req);
	if(!budget_take(ctl->env)) {
		dotpool_upstream_count(lead->up, DOTPOOL_COUNT_HEDGE_REFUSED);
		return;
	}
	if(start_attempt(ctl, slot, 1) != 0) {
		ctl->env->hedge_spent -= 100; /* nothing was sent */
		return;
	}
	ctl->hedges++;
	dotpool_upstream_count(ctl->a[slot].up, ctl->hedge_soft ?
		DOTPOOL_COUNT_HEDGE_SOFT : DOTPOOL_COUNT_HEDGE);
	(void)ctl_set_state(ctl, DOTPOOL_CTL_HEDGED, ctl->lead);
}

/** Arm the hedge timer for the lead attempt just sent, when the zone
 * hedges and a hedge could still help: at the attempt's soft deadline
 * (auto) or after the zone's fixed delay. */
static void
hedge_arm(struct dotpool_ctl* ctl)
{
	unsigned delay = ctl->plan->hedge_delay;
	ctl->hedge_soft = delay == DOTPOOL_HEDGE_AUTO;
	if(ctl->hedge_soft)
		delay = dotpool_upstream_soft_ms(ctl->a[ctl->lead].up);
	if(delay == 0 || ctl->hedges >= DOTPOOL_CTL_MAX_HEDGES ||
		ctl->plan->n < 2 || delay >= ctl->a[ctl->lead].req.timeout_ms)
		return;
	/* out of memory: no hedge, the attempt goes on alone */
	(void)dotpool_timer_start(&ctl->hedge, delay);
}

void
dotpool_ctl_init(struct dotpool_ctl* ctl, struct dotpool_ctl_env* env,
	const struct dotpool_ctl_ops* ops, void* arg)
{
	int i;
	memset(ctl, 0, sizeof(*ctl)); /* DOTPOOL_CTL_IDLE */
	ctl->env = env;
	ctl->ops = ops;
	ctl->arg = arg;
	for(i = 0; i < 2; i++) {
		ctl->a[i].ctl = ctl;
		ctl->a[i].target = -1;
	}
	dotpool_timer_init(&ctl->hedge, env->timers, hedge_fire, ctl);
	ctl->start_ms = dotpool_timers_now(env->timers);
	/* every query earns hedge-max-percent of a hedge */
	env->hedge_spent = env->hedge_spent > env->cfg->hedge_percent ?
		env->hedge_spent - env->cfg->hedge_percent : 0;
}

void
dotpool_ctl_set_plan(struct dotpool_ctl* ctl, struct dotpool_plan* p)
{
	ctl->plan = p;
}

void
dotpool_ctl_restart(struct dotpool_ctl* ctl)
{
	ctl->attempts = 0;
	ctl->tried = 0;
	ctl->hedges = 0;
	(void)ctl_set_state(ctl, DOTPOOL_CTL_IDLE, ctl->lead);
}

int
dotpool_ctl_send(struct dotpool_ctl* ctl)
{
	struct dotpool_upstream* prev;
	int slot = ctl->lead, r;
	if(ctl->state == DOTPOOL_CTL_CANCELLED || dotpool_ctl_waiting(ctl))
		return DOTPOOL_EINVAL;
	prev = ctl->attempts > 0 ? ctl->a[slot].up : NULL;
	if((r = start_attempt(ctl, slot, 0)) != 0)
		return r;
	if(prev && prev != ctl->a[slot].up)
		dotpool_upstream_count(ctl->a[slot].up, DOTPOOL_COUNT_FAILOVER);
	(void)ctl_set_state(ctl, DOTPOOL_CTL_WAITING, slot);
	hedge_arm(ctl);
	return 0;
}

void
dotpool_ctl_cancel(struct dotpool_ctl* ctl)
{
	if(ctl->state == DOTPOOL_CTL_CANCELLED)
		return;
	dotpool_timer_stop(&ctl->hedge);
	if(ctl->state == DOTPOOL_CTL_HEDGED)
		ctl->env->cancel(&ctl->a[1 - ctl->lead].req);
	if(dotpool_ctl_waiting(ctl))
		ctl->env->cancel(&ctl->a[ctl->lead].req);
	(void)ctl_set_state(ctl, DOTPOOL_CTL_CANCELLED, ctl->lead);
}

int
dotpool_ctl_waiting(const struct dotpool_ctl* ctl)
{
	return ctl->state == DOTPOOL_CTL_WAITING ||
		ctl->state == DOTPOOL_CTL_HEDGED;
}

int
dotpool_ctl_can_retry(const struct dotpool_ctl* ctl)
{
	int i;
	if(!ctl->plan || ctl->attempts >= (int)ctl->env->cfg->max_attempts ||
		budget_left(ctl) < DOTPOOL_CTL_MIN_LEFT_MS)
		return 0;
	for(i = 0; i < ctl->plan->n; i++)
		if(!(ctl->tried & ((uint64_t)1 << i)))
			return 1;
	return 0;
}

int
dotpool_ctl_target(const struct dotpool_ctl* ctl)
{
	return ctl->a[ctl->lead].target;
}

struct dotpool_upstream*
dotpool_ctl_upstream(const struct dotpool_ctl* ctl)
{
	return ctl->a[ctl->lead].up;
}
