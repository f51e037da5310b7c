/**
 * \file
 * Timers (module/timer.c): on a fake clock they fire at their deadline,
 * earliest first, never when stopped; re-arming moves them; a callback may
 * arm and stop others; and on a real event base they fire by themselves.
 */
#include <string.h>
#include <event2/event.h>
#include "unit.h"
#include "dotpool/timer.h"

/** Most firings a test records. */
#define MAX_FIRED 512

/** A test's state: a fake clock and what fired. */
struct world {
	/** fake clock, ms */
	uint64_t now;
	/** the set */
	struct dotpool_timers* ts;
	/** the timers */
	struct dotpool_timer t[MAX_FIRED];
	/** deadline asked of each */
	uint64_t want[MAX_FIRED];
	/** indexes fired, in order */
	int fired[MAX_FIRED];
	/** how many */
	int nfired;
	/** the clock when each fired */
	uint64_t at[MAX_FIRED];
};

/** Argument of a timer's callback. */
struct arg {
	/** the world */
	struct world* w;
	/** timer index */
	int i;
};

static struct arg args[MAX_FIRED];

static uint64_t
fake_clock(void* arg)
{
	return *(uint64_t*)arg;
}

static void
record(void* arg)
{
	struct arg* a = (struct arg*)arg;
	struct world* w = a->w;
	if(w->nfired < MAX_FIRED) {
		w->at[w->nfired] = w->now;
		w->fired[w->nfired++] = a->i;
	}
}

static void
world_init(struct world* w, struct event_base* base)
{
	int i;
	memset(w, 0, sizeof(*w));
	w->now = 5000;
	w->ts = dotpool_timers_create(base, base ?
		dotpool_timers_monotonic_ms : fake_clock, &w->now, NULL, NULL);
	UNIT_REQUIRE(w->ts != NULL, "timer: set created");
	for(i = 0; i < MAX_FIRED; i++) {
		args[i].w = w;
		args[i].i = i;
		dotpool_timer_init(&w->t[i], w->ts, record, &args[i]);
	}
}

static void
test_order(void)
{
	struct world w;
	uint32_t r = 7;
	int i, ok = 1;
	world_init(&w, NULL);
	/* 300 timers at pseudo-random delays, every tenth stopped again */
	for(i = 0; i < 300; i++) {
		unsigned ms;
		r = r * 1103515245u + 12345u;
		ms = (r >> 8) % 1000;
		UNIT_REQUIRE(dotpool_timer_start(&w.t[i], ms) == 0,
			"timer: armed");
		w.want[i] = w.now + ms;
	}
	for(i = 0; i < 300; i += 10)
		dotpool_timer_stop(&w.t[i]);
	UNIT_CHECK(dotpool_timers_count(w.ts) == 270,
		"timer: stopped timers leave the set");
	for(;;) {
		dotpool_timers_run(w.ts);
		if(dotpool_timers_count(w.ts) == 0)
			break;
		w.now++;
	}
	UNIT_CHECK(w.nfired == 270, "timer: every armed timer fired once");
	for(i = 0; i < w.nfired; i++) {
		int k = w.fired[i];
		if(k % 10 == 0 || w.at[i] != w.want[k] ||
			(i > 0 && w.want[w.fired[i - 1]] > w.want[k]))
			ok = 0;
	}
	UNIT_CHECK(ok, "timer: each fired at its deadline, earliest first, "
		"none that was stopped");
	dotpool_timers_free(w.ts, 0);
}

static void
test_rearm_and_stop(void)
{
	struct world w;
	world_init(&w, NULL);
	UNIT_REQUIRE(dotpool_timer_start(&w.t[0], 100) == 0, "timer: armed");
	UNIT_CHECK(dotpool_timer_armed(&w.t[0]), "timer: is armed");
	UNIT_REQUIRE(dotpool_timer_start(&w.t[0], 300) == 0, "timer: re-armed");
	UNIT_CHECK(dotpool_timers_count(w.ts) == 1,
		"timer: re-arming does not add a second entry");
	w.now += 100;
	dotpool_timers_run(w.ts);
	UNIT_CHECK(w.nfired == 0, "timer: re-armed, not at the old deadline");
	w.now += 200;
	dotpool_timers_run(w.ts);
	UNIT_CHECK(w.nfired == 1 && !dotpool_timer_armed(&w.t[0]),
		"timer: fired at the new deadline and is no longer armed");
	dotpool_timer_stop(&w.t[0]);
	UNIT_CHECK(dotpool_timers_count(w.ts) == 0,
		"timer: stopping one that fired is harmless");
	/* zero delay: due at once */
	UNIT_REQUIRE(dotpool_timer_start(&w.t[1], 0) == 0, "timer: armed");
	dotpool_timers_run(w.ts);
	UNIT_CHECK(w.nfired == 2 && w.fired[1] == 1,
		"timer: a zero delay is due at the next run");
	/* freeing the set with a timer armed forgets it */
	UNIT_REQUIRE(dotpool_timer_start(&w.t[2], 10) == 0, "timer: armed");
	dotpool_timers_free(w.ts, 0);
	UNIT_CHECK(!dotpool_timer_armed(&w.t[2]),
		"timer: freeing the set disarms its timers");
}

/** A callback that stops timer 1 and arms timer 2. */
static void
meddle(void* arg)
{
	struct world* w = (struct world*)arg;
	dotpool_timer_stop(&w->t[1]);
	(void)dotpool_timer_start(&w->t[2], 0);
	record(&args[0]);
}

static void
test_callback_reentry(void)
{
	struct world w;
	world_init(&w, NULL);
	dotpool_timer_init(&w.t[0], w.ts, meddle, &w);
	UNIT_REQUIRE(dotpool_timer_start(&w.t[0], 10) == 0 &&
		dotpool_timer_start(&w.t[1], 10) == 0, "timer: armed");
	w.now += 10;
	dotpool_timers_run(w.ts);
	UNIT_CHECK(w.nfired == 2 && w.fired[0] == 0 && w.fired[1] == 2,
		"timer: a callback may stop a due timer and arm a new one");
	UNIT_CHECK(dotpool_timers_count(w.ts) == 0, "timer: none left");
	dotpool_timers_free(w.ts, 0);
}

static void
test_event_base(void)
{
	struct world w;
	struct event_base* base = event_base_new();
	UNIT_REQUIRE(base != NULL, "timer: event base");
	world_init(&w, base);
	UNIT_REQUIRE(dotpool_timer_start(&w.t[0], 30) == 0 &&
		dotpool_timer_start(&w.t[1], 10) == 0 &&
		dotpool_timer_start(&w.t[2], 20) == 0, "timer: armed");
	/* the earliest is stopped: the event fires early and re-arms */
	dotpool_timer_stop(&w.t[1]);
	(void)event_base_dispatch(base);
	UNIT_CHECK(w.nfired == 2 && w.fired[0] == 2 && w.fired[1] == 0,
		"timer: libevent fires them in order, not the stopped one");
	UNIT_CHECK(dotpool_timers_count(w.ts) == 0 &&
		event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED) == 0,
		"timer: nothing left pending on the base");
	dotpool_timers_free(w.ts, 1);
	event_base_free(base);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "deadlines and order", test_order },
		{ "re-arm, stop, zero delay", test_rearm_and_stop },
		{ "callbacks arm and stop timers", test_callback_reentry },
		{ "on a libevent base", test_event_base },
		{ NULL, NULL }
	};
	return unit_run("timer", tests);
}
