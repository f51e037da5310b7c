/**
 * \file
 * The attempt controller (module/attempt.c) against a fake transport and a
 * fake clock: failover to an untried upstream, the attempt and time
 * budgets, hedging (the first good answer wins, a failure waits for the
 * other attempt), cancel, and answers that arrive after the query is
 * over. The upstreams are real ones of a pool that never opens a
 * connection: the transport is the fake.
 */
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include "unit.h"
#include "unit_pool.h"
#include "dotpool/attempt.h"
#include "dotpool/plan.h"
#include "dotpool/error.h"
#include "module/ctx.h"
#include "module/upstream.h"

/** Most requests a test sends. */
#define MAX_SENT 16

/** The test's world: pool, plan, fake clock and transport, one query. */
struct world {
	/** the pool that owns the upstreams */
	struct unit_pool u;
	/** its settings */
	struct dotpool_config* cfg;
	/** plans */
	struct dotpool_plans* plans;
	/** the zone's plan */
	struct dotpool_plan* plan;
	/** fake clock, ms */
	uint64_t now;
	/** timers on it */
	struct dotpool_timers* timers;
	/** the controllers' context */
	struct dotpool_ctl_env env;
	/** the controller under test */
	struct dotpool_ctl ctl;
	/** requests the transport took, in order */
	struct dotpool_req* sent[MAX_SENT];
	/** their upstreams */
	struct dotpool_upstream* sent_up[MAX_SENT];
	/** how many */
	int nsent;
	/** requests withdrawn, in order */
	struct dotpool_req* cancelled[MAX_SENT];
	/** how many */
	int ncancelled;
	/** the transport marks what it takes written now (SENT), as the
	 * pool does once a connection carries it */
	int written;
	/** the transport refuses requests to this upstream (queue full) */
	struct dotpool_upstream* refuse;
	/** encode fails */
	int encode_fails;
	/** wire query handed out by encode */
	uint8_t wire[32];
	/** finish calls */
	int finished;
	/** err of the last finish */
	int fin_err;
	/** answer length of the last finish (0 without an answer) */
	size_t fin_len;
	/** first answer byte of the last finish */
	uint8_t fin_byte;
};

/** The one world of the running test (the transport has no argument). */
static struct world* cur;

static uint64_t
fake_clock(void* arg)
{
	return *(uint64_t*)arg;
}

static int
fake_send(struct dotpool_upstream* up, struct dotpool_req* req)
{
	if(up == cur->refuse)
		return DOTPOOL_EFULL;
	if(cur->nsent >= MAX_SENT)
		return DOTPOOL_ENOMEM;
	cur->sent_up[cur->nsent] = up;
	cur->sent[cur->nsent++] = req;
	if(cur->written) {
		req->state = DOTPOOL_REQ_SENT;
		req->sent_us = dotpool_now_us();
	}
	return 0;
}

static void
fake_cancel(struct dotpool_req* req)
{
	if(cur->ncancelled < MAX_SENT)
		cur->cancelled[cur->ncancelled++] = req;
}

static uint8_t*
fake_encode(void* arg, int i, size_t* len)
{
	struct world* w = (struct world*)arg;
	(void)i;
	if(w->encode_fails)
		return NULL;
	*len = sizeof(w->wire);
	return w->wire;
}

static void
fake_finish(void* arg, int err, uint8_t* answer, size_t len)
{
	struct world* w = (struct world*)arg;
	w->finished++;
	w->fin_err = err;
	w->fin_len = answer ? len : 0;
	w->fin_byte = answer && len ? answer[0] : 0;
}

static const struct dotpool_ctl_ops fake_ops = { fake_encode, fake_finish };

/** Set up a world with n upstreams (127.0.0.1 ports 853, 854, ...) in
 * one zone with the given policy and hedge delay. */
static void
world_init(struct world* w, int n, enum dotpool_policy policy,
	unsigned hedge_delay)
{
	uint8_t zone[] = "\007example\003com";
	int i;
	memset(w, 0, sizeof(*w));
	cur = w;
	unit_pool_init(&w->u);
	w->cfg = w->u.cfg;
	w->cfg->max_attempts = 4;
	w->cfg->attempt_timeout = 700;
	w->cfg->query_timeout = 3000;
	w->plans = dotpool_plans_create();
	w->plan = dotpool_plan_new(zone, sizeof(zone), 1, n);
	UNIT_REQUIRE(w->plans && w->plan, "attempt: plan created");
	w->plan->policy = policy;
	w->plan->hedge_delay = hedge_delay;
	w->plan->profile = DOTPOOL_PROFILE_OPPORTUNISTIC;
	for(i = 0; i < n; i++) {
		struct sockaddr_in sin;
		struct dotpool_upstream* up;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons((uint16_t)(853 + i));
		up = dotpool_pool_upstream(w->u.pool, (struct sockaddr*)&sin,
			sizeof(sin), NULL, NULL, w->plan->profile);
		UNIT_REQUIRE(up != NULL, "attempt: upstream created");
		UNIT_REQUIRE(dotpool_plan_set_entry(w->plan, i,
			(struct sockaddr*)&sin, sizeof(sin), NULL, up,
			NULL) == 0, "attempt: plan entry set");
	}
	dotpool_plans_install(w->plans, w->plan);
	w->now = 1000;
	w->timers = dotpool_timers_create(NULL, fake_clock, &w->now, NULL,
		NULL);
	UNIT_REQUIRE(w->timers != NULL, "attempt: timers created");
	w->env.timers = w->timers;
	w->env.cfg = w->cfg;
	w->env.send = fake_send;
	w->env.cancel = fake_cancel;
	w->env.rnd = 0x9e3779b97f4a7c15ULL;
	dotpool_ctl_init(&w->ctl, &w->env, &fake_ops, w);
	dotpool_ctl_set_plan(&w->ctl, w->plan);
}

/** Tear down; nothing may be left armed. */
static void
world_free(struct world* w)
{
	UNIT_CHECK(dotpool_timers_count(w->timers) == 0,
		"attempt: no timer left armed");
	dotpool_timers_free(w->timers, 0);
	dotpool_plans_free(w->plans);
	unit_pool_free(&w->u);
	cur = NULL;
}

/** The upstream of plan entry i. */
static struct dotpool_upstream*
up_of(struct world* w, int i)
{
	return w->plan->e[i].up;
}

/** Let ms pass on the fake clock and fire what is due. */
static void
advance(struct world* w, unsigned ms)
{
	w->now += ms;
	dotpool_timers_run(w->timers);
}

/** The transport ends request k: an answer (byte b) or an error. */
static void
complete(struct world* w, int k, int err, uint8_t b)
{
	uint8_t answer[12];
	struct dotpool_req* req = w->sent[k];
	memset(answer, 0, sizeof(answer));
	answer[0] = b;
	req->done(req, err, err ? NULL : answer, err ? 0 : sizeof(answer));
}

/** Whether request k was withdrawn. */
static int
was_cancelled(struct world* w, int k)
{
	int i;
	for(i = 0; i < w->ncancelled; i++)
		if(w->cancelled[i] == w->sent[k])
			return 1;
	return 0;
}

static void
test_failover(void)
{
	struct world w;
	world_init(&w, 3, DOTPOOL_POLICY_ORDERED, 0);
	UNIT_CHECK(w.ctl.state == DOTPOOL_CTL_IDLE &&
		!dotpool_ctl_waiting(&w.ctl), "attempt: starts idle");
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: first sent");
	UNIT_CHECK(w.nsent == 1 && w.sent_up[0] == up_of(&w, 0),
		"attempt: ordered sends to the first upstream");
	UNIT_CHECK(w.ctl.state == DOTPOOL_CTL_WAITING &&
		dotpool_ctl_waiting(&w.ctl), "attempt: waiting after send");
	UNIT_CHECK(dotpool_ctl_send(&w.ctl) == DOTPOOL_EINVAL && w.nsent == 1,
		"attempt: no second lead attempt while one is in flight");
	complete(&w, 0, DOTPOOL_ETIMEOUT, 0);
	UNIT_CHECK(w.finished == 1 && w.fin_err == DOTPOOL_ETIMEOUT,
		"attempt: a failure without another attempt is the result");
	UNIT_CHECK(w.ctl.state == DOTPOOL_CTL_DONE &&
		dotpool_ctl_upstream(&w.ctl) == up_of(&w, 0) &&
		dotpool_ctl_target(&w.ctl) == 0,
		"attempt: done, with the failed upstream as the last one");
	UNIT_CHECK(dotpool_ctl_can_retry(&w.ctl),
		"attempt: two upstreams are left to try");
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: second sent");
	UNIT_CHECK(w.nsent == 2 && w.sent_up[1] == up_of(&w, 1),
		"attempt: failover to the next upstream, not the failed one");
	UNIT_CHECK(dotpool_upstream_stats(up_of(&w, 1))->failovers == 1 &&
		dotpool_upstream_stats(up_of(&w, 0))->failovers == 0,
		"attempt: the failover is counted on the upstream taking over");
	complete(&w, 1, 0, 0x42);
	UNIT_CHECK(w.finished == 2 && w.fin_err == 0 && w.fin_byte == 0x42 &&
		w.fin_len == 12, "attempt: the answer is handed out");
	UNIT_CHECK(dotpool_ctl_target(&w.ctl) == 1,
		"attempt: the answer's plan entry is known");
	/* the glue found the answer unusable: the third is the last one */
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: third sent");
	UNIT_CHECK(w.sent_up[2] == up_of(&w, 2),
		"attempt: the third upstream at last");
	complete(&w, 2, DOTPOOL_ECLOSED, 0);
	UNIT_CHECK(!dotpool_ctl_can_retry(&w.ctl),
		"attempt: every upstream was tried");
	UNIT_CHECK(dotpool_ctl_send(&w.ctl) == DOTPOOL_ETIMEOUT &&
		w.nsent == 3, "attempt: nothing is sent twice to an upstream");
	/* a new name (CNAME): every upstream again */
	dotpool_ctl_restart(&w.ctl);
	UNIT_CHECK(w.ctl.state == DOTPOOL_CTL_IDLE &&
		dotpool_ctl_can_retry(&w.ctl),
		"attempt: a new name may try every upstream again");
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0 &&
		w.sent_up[3] == up_of(&w, 0),
		"attempt: after a restart the first upstream again");
	UNIT_CHECK(dotpool_upstream_stats(up_of(&w, 0))->failovers == 0,
		"attempt: a new name's first attempt is no failover");
	dotpool_ctl_cancel(&w.ctl);
	world_free(&w);
}

static void
test_max_attempts_and_refusal(void)
{
	struct world w;
	world_init(&w, 3, DOTPOOL_POLICY_ORDERED, 0);
	w.cfg->max_attempts = 2;
	w.refuse = up_of(&w, 0);
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0,
		"attempt: sent despite a refusing upstream");
	UNIT_CHECK(w.nsent == 1 && w.sent_up[0] == up_of(&w, 1),
		"attempt: an upstream that refuses is skipped at once");
	UNIT_CHECK(w.ctl.attempts == 2,
		"attempt: the refused attempt counts against max-attempts");
	complete(&w, 0, DOTPOOL_ETIMEOUT, 0);
	UNIT_CHECK(!dotpool_ctl_can_retry(&w.ctl) &&
		dotpool_ctl_send(&w.ctl) == DOTPOOL_ETIMEOUT && w.nsent == 1,
		"attempt: max-attempts stops a third attempt");
	dotpool_ctl_cancel(&w.ctl);
	world_free(&w);
}

static void
test_time_budget(void)
{
	struct world w;
	world_init(&w, 3, DOTPOOL_POLICY_ORDERED, 0);
	w.cfg->query_timeout = 1000;
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: first sent");
	UNIT_CHECK(w.sent[0]->timeout_ms == 700,
		"attempt: an attempt gets attempt-timeout when time is left");
	w.now += 700;
	complete(&w, 0, DOTPOOL_ETIMEOUT, 0);
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: second sent");
	UNIT_CHECK(w.sent[1]->timeout_ms == 300,
		"attempt: the last attempt gets what is left of query-timeout");
	w.now += 295;
	complete(&w, 1, DOTPOOL_ETIMEOUT, 0);
	UNIT_CHECK(!dotpool_ctl_can_retry(&w.ctl),
		"attempt: 5 ms left is too little for another attempt");
	UNIT_CHECK(dotpool_ctl_send(&w.ctl) == DOTPOOL_ETIMEOUT &&
		w.nsent == 2, "attempt: no attempt past the time budget");
	/* the budget is the query's: a new name does not renew it */
	dotpool_ctl_restart(&w.ctl);
	UNIT_CHECK(dotpool_ctl_send(&w.ctl) == DOTPOOL_ETIMEOUT,
		"attempt: a CNAME restart keeps the query's time budget");
	dotpool_ctl_cancel(&w.ctl);
	world_free(&w);
}

static void
test_hedge_first_answer_wins(void)
{
	struct world w;
	world_init(&w, 2, DOTPOOL_POLICY_ORDERED, 100);
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: first sent");
	UNIT_CHECK(dotpool_timers_count(w.timers) == 1,
		"attempt: the hedge timer runs");
	advance(&w, 99);
	UNIT_CHECK(w.nsent == 1 && w.ctl.state == DOTPOOL_CTL_WAITING,
		"attempt: no hedge before hedge-delay");
	advance(&w, 1);
	UNIT_REQUIRE(w.nsent == 2, "attempt: hedged at hedge-delay");
	UNIT_CHECK(w.sent_up[1] == up_of(&w, 1) &&
		w.ctl.state == DOTPOOL_CTL_HEDGED,
		"attempt: the hedge goes to the other upstream");
	UNIT_CHECK(dotpool_upstream_stats(up_of(&w, 1))->hedges == 1 &&
		dotpool_upstream_stats(up_of(&w, 1))->failovers == 0,
		"attempt: the hedge is counted as a hedge, not a failover");
	UNIT_CHECK(w.sent[1]->timeout_ms == 700,
		"attempt: the hedge has its own attempt-timeout");
	complete(&w, 1, 0, 0x17);
	UNIT_CHECK(w.finished == 1 && w.fin_err == 0 && w.fin_byte == 0x17,
		"attempt: the hedge's answer is the result");
	UNIT_CHECK(was_cancelled(&w, 0) && !was_cancelled(&w, 1),
		"attempt: the slower attempt is withdrawn");
	UNIT_CHECK(dotpool_ctl_upstream(&w.ctl) == up_of(&w, 1) &&
		dotpool_ctl_target(&w.ctl) == 1,
		"attempt: the result is the hedge's upstream's");
	/* a late answer for the withdrawn attempt changes nothing */
	complete(&w, 0, 0, 0x99);
	UNIT_CHECK(w.finished == 1 && w.fin_byte == 0x17 &&
		w.ctl.state == DOTPOOL_CTL_DONE,
		"attempt: an answer after done is ignored");
	world_free(&w);
}

static void
test_hedge_failure_waits(void)
{
	struct world w;
	world_init(&w, 3, DOTPOOL_POLICY_ORDERED, 50);
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: first sent");
	advance(&w, 50);
	UNIT_REQUIRE(w.nsent == 2, "attempt: hedged");
	/* the lead fails: the hedge may still answer */
	complete(&w, 0, DOTPOOL_ECLOSED, 0);
	UNIT_CHECK(w.finished == 0 && w.ctl.state == DOTPOOL_CTL_WAITING &&
		dotpool_ctl_waiting(&w.ctl),
		"attempt: one failure of two waits for the other attempt");
	complete(&w, 1, DOTPOOL_ETIMEOUT, 0);
	UNIT_CHECK(w.finished == 1 && w.fin_err == DOTPOOL_ETIMEOUT &&
		dotpool_ctl_upstream(&w.ctl) == up_of(&w, 1),
		"attempt: the last failure is the result");
	UNIT_CHECK(w.ncancelled == 0,
		"attempt: nothing to withdraw after two failures");
	/* the next attempt for the name: no second hedge */
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0 &&
		w.sent_up[2] == up_of(&w, 2), "attempt: third upstream");
	UNIT_CHECK(dotpool_upstream_stats(up_of(&w, 2))->failovers == 1,
		"attempt: failover after a hedged pair failed");
	UNIT_CHECK(dotpool_timers_count(w.timers) == 0,
		"attempt: one hedge per name");
	complete(&w, 2, 0, 1);
	UNIT_CHECK(w.finished == 2 && w.fin_err == 0,
		"attempt: the third answers");
	/* a new name hedges again */
	dotpool_ctl_restart(&w.ctl);
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: new name sent");
	UNIT_CHECK(dotpool_timers_count(w.timers) == 1,
		"attempt: a new name may hedge again");
	/* the hedge's failure waits for the lead too */
	advance(&w, 50);
	UNIT_REQUIRE(w.nsent == 5, "attempt: new name hedged");
	complete(&w, 4, DOTPOOL_EIO, 0);
	UNIT_CHECK(w.finished == 2 && w.ctl.state == DOTPOOL_CTL_WAITING,
		"attempt: a failed hedge waits for the lead");
	complete(&w, 3, 0, 7);
	UNIT_CHECK(w.finished == 3 && w.fin_err == 0 && w.fin_byte == 7 &&
		dotpool_ctl_upstream(&w.ctl) == w.sent_up[3],
		"attempt: the lead's answer after the hedge failed");
	world_free(&w);
}

static void
test_hedge_not_armed(void)
{
	struct world w;
	/* one upstream: nobody to hedge to */
	world_init(&w, 1, DOTPOOL_POLICY_ORDERED, 100);
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: sent");
	UNIT_CHECK(dotpool_timers_count(w.timers) == 0,
		"attempt: no hedge timer with a single upstream");
	dotpool_ctl_cancel(&w.ctl);
	world_free(&w);
	/* a hedge delay as long as the attempt: pointless */
	world_init(&w, 2, DOTPOOL_POLICY_ORDERED, 700);
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: sent");
	UNIT_CHECK(dotpool_timers_count(w.timers) == 0,
		"attempt: no hedge at or past attempt-timeout");
	dotpool_ctl_cancel(&w.ctl);
	world_free(&w);
	/* the lead answers first: the timer stops */
	world_init(&w, 2, DOTPOOL_POLICY_ORDERED, 100);
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: sent");
	complete(&w, 0, 0, 3);
	UNIT_CHECK(w.finished == 1 && dotpool_timers_count(w.timers) == 0,
		"attempt: an answer stops the hedge timer");
	advance(&w, 200);
	UNIT_CHECK(w.nsent == 1, "attempt: no hedge after the answer");
	world_free(&w);
}

static void
test_cancel(void)
{
	struct world w;
	world_init(&w, 2, DOTPOOL_POLICY_ORDERED, 100);
	/* cancel before anything was sent */
	dotpool_ctl_cancel(&w.ctl);
	UNIT_CHECK(w.ctl.state == DOTPOOL_CTL_CANCELLED && w.ncancelled == 0,
		"attempt: cancel when idle withdraws nothing");
	UNIT_CHECK(dotpool_ctl_send(&w.ctl) == DOTPOOL_EINVAL && w.nsent == 0,
		"attempt: nothing starts after cancel");
	world_free(&w);

	/* waiting, with the hedge timer armed */
	world_init(&w, 2, DOTPOOL_POLICY_ORDERED, 100);
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: sent");
	dotpool_ctl_cancel(&w.ctl);
	UNIT_CHECK(w.ncancelled == 1 && was_cancelled(&w, 0),
		"attempt: cancel withdraws the attempt in flight");
	UNIT_CHECK(dotpool_timers_count(w.timers) == 0 &&
		!dotpool_ctl_waiting(&w.ctl),
		"attempt: cancel stops the hedge timer");
	advance(&w, 500);
	UNIT_CHECK(w.nsent == 1, "attempt: no hedge after cancel");
	complete(&w, 0, 0, 1);
	UNIT_CHECK(w.finished == 0,
		"attempt: an answer after cancel is ignored");
	dotpool_ctl_cancel(&w.ctl);
	UNIT_CHECK(w.ncancelled == 1, "attempt: cancel twice is harmless");
	world_free(&w);

	/* hedged: both go */
	world_init(&w, 2, DOTPOOL_POLICY_ORDERED, 100);
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: sent");
	advance(&w, 100);
	UNIT_REQUIRE(w.nsent == 2, "attempt: hedged");
	dotpool_ctl_cancel(&w.ctl);
	UNIT_CHECK(w.ncancelled == 2 && was_cancelled(&w, 0) &&
		was_cancelled(&w, 1), "attempt: cancel withdraws both attempts");
	complete(&w, 1, DOTPOOL_ETIMEOUT, 0);
	UNIT_CHECK(w.finished == 0, "attempt: a failure after cancel is "
		"ignored");
	world_free(&w);
}

static void
test_encode_failure(void)
{
	struct world w;
	world_init(&w, 2, DOTPOOL_POLICY_ORDERED, 0);
	w.encode_fails = 1;
	UNIT_CHECK(dotpool_ctl_send(&w.ctl) == DOTPOOL_ENOMEM && w.nsent == 0,
		"attempt: nothing is sent when the query cannot be encoded");
	UNIT_CHECK(w.ctl.state == DOTPOOL_CTL_IDLE,
		"attempt: a send that failed leaves nothing in flight");
	dotpool_ctl_cancel(&w.ctl);
	world_free(&w);
}

static void
test_round_robin_across_queries(void)
{
	struct world w;
	int i;
	world_init(&w, 3, DOTPOOL_POLICY_ROUND_ROBIN, 0);
	for(i = 0; i < 6; i++) {
		dotpool_ctl_init(&w.ctl, &w.env, &fake_ops, &w);
		dotpool_ctl_set_plan(&w.ctl, w.plan);
		UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: sent");
		UNIT_CHECKF(w.sent_up[i] == up_of(&w, i % 3),
			"attempt: round robin query %d goes to upstream %d", i,
			i % 3);
		complete(&w, i, 0, 1);
	}
	world_free(&w);
}

/** Give upstream i a steady measured round trip of ms. */
static void
measured(struct world* w, int i, unsigned ms)
{
	int k;
	for(k = 0; k < 200; k++)
		dotpool_up_rtt(up_of(w, i), (uint64_t)ms * 1000);
}

/** hedge-delay auto: the hedge goes out at the lead attempt's soft
 * deadline (its upstream's SRTT + 4 RTTVAR within the bounds), the lead
 * attempt is kept, the hedge is no RTT sample, it is counted as a
 * soft-deadline hedge, and the lead's upstream, silent since the attempt
 * was written, is suspect. */
static void
test_hedge_auto(void)
{
	struct world w;
	world_init(&w, 2, DOTPOOL_POLICY_ORDERED, DOTPOOL_HEDGE_AUTO);
	w.written = 1;
	dotpool_up_success(up_of(&w, 0));
	measured(&w, 0, 40);
	UNIT_REQUIRE(dotpool_upstream_soft_ms(up_of(&w, 0)) == 50,
		"attempt: a steady 40 ms upstream's soft deadline is "
		"soft-deadline-min");
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: sent");
	UNIT_CHECK(w.sent[0]->no_rtt == 0, "attempt: the lead attempt is an "
		"RTT sample");
	advance(&w, 49);
	UNIT_CHECK(w.nsent == 1 && dotpool_upstream_usable(up_of(&w, 0)),
		"attempt: nothing before the soft deadline");
	advance(&w, 1);
	UNIT_REQUIRE(w.nsent == 2, "attempt: hedged at the soft deadline");
	UNIT_CHECK(w.sent_up[1] == up_of(&w, 1) && w.ncancelled == 0 &&
		w.ctl.state == DOTPOOL_CTL_HEDGED, "attempt: to the other "
		"upstream, the first attempt kept");
	UNIT_CHECK(w.sent[1]->no_rtt == 1, "attempt: a hedge is no RTT "
		"sample");
	UNIT_CHECK(dotpool_upstream_stats(up_of(&w, 1))->hedges == 1 &&
		dotpool_upstream_stats(up_of(&w, 1))->hedges_soft == 1,
		"attempt: counted as a soft-deadline hedge");
	UNIT_CHECK(!dotpool_upstream_usable(up_of(&w, 0)) &&
		dotpool_upstream_stats(up_of(&w, 0))->suspect == 1,
		"attempt: the silent lead upstream is suspect");
	complete(&w, 0, 0, 0x21);
	UNIT_CHECK(w.finished == 1 && w.fin_byte == 0x21 &&
		was_cancelled(&w, 1), "attempt: the first attempt may still "
		"win; the hedge is withdrawn");
	/* the next query skips the suspect upstream at once */
	dotpool_ctl_init(&w.ctl, &w.env, &fake_ops, &w);
	dotpool_ctl_set_plan(&w.ctl, w.plan);
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: sent");
	UNIT_CHECK(w.sent_up[2] == up_of(&w, 1), "attempt: a new query goes "
		"past the suspect upstream");
	dotpool_ctl_cancel(&w.ctl);
	world_free(&w);

	/* nothing measured yet: soft-deadline-max */
	world_init(&w, 2, DOTPOOL_POLICY_ORDERED, DOTPOOL_HEDGE_AUTO);
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: sent");
	advance(&w, 399);
	UNIT_CHECK(w.nsent == 1, "attempt: unmeasured, no hedge before "
		"soft-deadline-max");
	advance(&w, 1);
	UNIT_CHECK(w.nsent == 2, "attempt: hedged at soft-deadline-max");
	dotpool_ctl_cancel(&w.ctl);
	world_free(&w);

	/* a slow upstream that answered since the attempt was written is
	 * hedged but not suspect */
	world_init(&w, 2, DOTPOOL_POLICY_ORDERED, DOTPOOL_HEDGE_AUTO);
	w.written = 1;
	measured(&w, 0, 40);
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: sent");
	advance(&w, 10);
	dotpool_up_success(up_of(&w, 0)); /* another query's answer */
	advance(&w, 40);
	UNIT_CHECK(w.nsent == 2 && dotpool_upstream_usable(up_of(&w, 0)),
		"attempt: hedged, but an upstream that answers is no suspect");
	dotpool_ctl_cancel(&w.ctl);
	world_free(&w);
}

/** No hedge to an upstream that is not usable (backing off, down or
 * suspect): it would only add load; a failover may still try it. */
static void
test_hedge_not_to_unusable(void)
{
	struct world w;
	world_init(&w, 2, DOTPOOL_POLICY_ORDERED, 100);
	dotpool_up_failure(up_of(&w, 1), "test");
	UNIT_REQUIRE(!dotpool_upstream_usable(up_of(&w, 1)),
		"attempt: the secondary backs off");
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: sent");
	advance(&w, 100);
	UNIT_CHECK(w.nsent == 1 && w.ctl.state == DOTPOOL_CTL_WAITING &&
		dotpool_upstream_stats(up_of(&w, 1))->hedges == 0,
		"attempt: no hedge to a backing-off upstream");
	complete(&w, 0, DOTPOOL_ETIMEOUT, 0);
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: failover sent");
	UNIT_CHECK(w.nsent == 2 && w.sent_up[1] == up_of(&w, 1),
		"attempt: the failover still tries it, the last one left");
	dotpool_ctl_cancel(&w.ctl);
	world_free(&w);
}

/** The worker's hedge budget: hedge-burst at once, then
 * hedge-max-percent of the queries; a refused hedge is counted on the
 * slow attempt's upstream and the attempt goes on; 0 percent: none. */
static void
test_hedge_budget(void)
{
	struct world w;
	int q, hedged = 0, refused_at = -1;
	world_init(&w, 2, DOTPOOL_POLICY_ORDERED, 100);
	w.cfg->hedge_burst = 2;
	w.cfg->hedge_percent = 50;
	for(q = 0; q < 8; q++) {
		int before = w.nsent;
		dotpool_ctl_init(&w.ctl, &w.env, &fake_ops, &w);
		dotpool_ctl_set_plan(&w.ctl, w.plan);
		UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: sent");
		advance(&w, 100);
		if(w.nsent == before + 2)
			hedged++;
		else if(refused_at < 0)
			refused_at = q;
		dotpool_ctl_cancel(&w.ctl);
	}
	/* full (2), then each query earns half a hedge: q0, q1, q2 hedge
	 * (2 + 0.5 earned by q1 and q2), q3 is refused, then every
	 * second query */
	UNIT_CHECKF(refused_at == 3 && hedged == 5, "attempt: burst then "
		"the share: first refusal at query 3 (got %d), 5 of 8 hedged "
		"(got %d)", refused_at, hedged);
	UNIT_CHECK(dotpool_upstream_stats(up_of(&w, 0))->hedges_refused == 3 &&
		dotpool_upstream_stats(up_of(&w, 1))->hedges == 5 &&
		dotpool_upstream_stats(up_of(&w, 1))->hedges_soft == 0,
		"attempt: refusals counted on the slow upstream, fixed-delay "
		"hedges apart from soft-deadline ones");
	world_free(&w);

	world_init(&w, 2, DOTPOOL_POLICY_ORDERED, 100);
	w.cfg->hedge_percent = 0;
	UNIT_REQUIRE(dotpool_ctl_send(&w.ctl) == 0, "attempt: sent");
	advance(&w, 100);
	UNIT_CHECK(w.nsent == 1 && w.ctl.state == DOTPOOL_CTL_WAITING,
		"attempt: hedge-max-percent 0 sends no hedge, the attempt "
		"goes on");
	complete(&w, 0, 0, 5);
	UNIT_CHECK(w.finished == 1 && w.fin_byte == 5, "attempt: and "
		"its answer is the result");
	world_free(&w);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "failover to an untried upstream", test_failover },
		{ "max-attempts and a refusing upstream",
			test_max_attempts_and_refusal },
		{ "the query's time budget", test_time_budget },
		{ "hedge: the first answer wins", test_hedge_first_answer_wins },
		{ "hedge: a failure waits for the other",
			test_hedge_failure_waits },
		{ "hedge: not armed when it cannot help", test_hedge_not_armed },
		{ "cancel in every state, late answers", test_cancel },
		{ "encode failure", test_encode_failure },
		{ "round robin across queries",
			test_round_robin_across_queries },
		{ "hedge at the soft deadline, suspect", test_hedge_auto },
		{ "the hedge budget", test_hedge_budget },
		{ "no hedge to an unusable upstream",
			test_hedge_not_to_unusable },
		{ NULL, NULL }
	};
	return unit_run("attempt", tests);
}
