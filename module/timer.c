/**
 * \file
 * Timers in a binary heap under one libevent event. The event is kept
 * pending at or before the earliest deadline: stopping the earliest timer
 * leaves it as it is (it then fires early, finds nothing due and is
 * re-armed), so answers that arrive before their hedge delay cost no
 * libevent call.
 */
#include <stdlib.h>
#include <time.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include "dotpool/timer.h"
#include "dotpool/error.h"

/** The set. */
struct dotpool_timers {
	/** event base, or NULL (driven by the caller) */
	struct event_base* base;
	/** the one event, when base is set */
	struct event ev;
	/** whether ev is pending */
	int ev_pending;
	/** when ev fires, ms of the clock */
	uint64_t ev_when;
	/** inside dotpool_timers_run: re-arm once at its end */
	int running;
	/** clock */
	dotpool_clock_fn clock;
	/** its argument */
	void* clock_arg;
	/** wake-up hook */
	void (*wake)(void*);
	/** its argument */
	void* wake_arg;
	/** the heap, earliest deadline first */
	struct dotpool_timer** heap;
	/** timers in the heap */
	size_t n;
	/** heap slots allocated */
	size_t cap;
};

uint64_t
dotpool_timers_monotonic_ms(void* arg)
{
	struct timespec ts;
	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/** Put t at heap index i. */
static void
heap_put(struct dotpool_timers* ts, size_t i, struct dotpool_timer* t)
{
	ts->heap[i] = t;
	t->pos = i + 1;
}

/** Move the timer at index i up until its parent is not later. */
static void
heap_up(struct dotpool_timers* ts, size_t i)
{
	struct dotpool_timer* t = ts->heap[i];
	while(i > 0) {
		size_t p = (i - 1) / 2;
		if(ts->heap[p]->when <= t->when)
			break;
		heap_put(ts, i, ts->heap[p]);
		i = p;
	}
	heap_put(ts, i, t);
}

/** Move the timer at index i down until no child is earlier. */
static void
heap_down(struct dotpool_timers* ts, size_t i)
{
	struct dotpool_timer* t = ts->heap[i];
	for(;;) {
		size_t c = 2 * i + 1;
		if(c >= ts->n)
			break;
		if(c + 1 < ts->n && ts->heap[c + 1]->when < ts->heap[c]->when)
			c++;
		if(t->when <= ts->heap[c]->when)
			break;
		heap_put(ts, i, ts->heap[c]);
		i = c;
	}
	heap_put(ts, i, t);
}

/** Take an armed timer out of the heap. */
static void
heap_remove(struct dotpool_timers* ts, struct dotpool_timer* t)
{
	size_t i = t->pos - 1;
	struct dotpool_timer* last = ts->heap[--ts->n];
	t->pos = 0;
	if(last == t)
		return;
	heap_put(ts, i, last);
	if(i > 0 && ts->heap[(i - 1) / 2]->when > last->when)
		heap_up(ts, i);
	else	heap_down(ts, i);
}

static void timers_event_cb(evutil_socket_t fd, short what, void* arg);

/** Keep the event pending no later than the earliest deadline. */
static void
event_sync(struct dotpool_timers* ts)
{
	struct timeval tv;
	uint64_t now, first, ms;
	if(!ts->base || ts->running)
		return;
	if(ts->n == 0) {
		if(ts->ev_pending) {
			(void)event_del(&ts->ev);
			ts->ev_pending = 0;
		}
		return;
	}
	first = ts->heap[0]->when;
	if(ts->ev_pending && ts->ev_when <= first)
		return;
	now = dotpool_timers_now(ts);
	ms = first > now ? first - now : 0;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)((ms % 1000) * 1000);
	if(event_add(&ts->ev, &tv) == 0) {
		ts->ev_pending = 1;
		ts->ev_when = now + ms;
	}
}

/** The event: run what is due. libevent's own (monotonic) clock says that
 * ev_when has come even when the set's clock reads a little less. */
static void
timers_event_cb(evutil_socket_t fd, short what, void* arg)
{
	struct dotpool_timers* ts = (struct dotpool_timers*)arg;
	uint64_t when = ts->ev_when;
	(void)fd; (void)what;
	ts->ev_pending = 0;
	if(ts->wake)
		ts->wake(ts->wake_arg);
	ts->running = 1;
	while(ts->n > 0 && (ts->heap[0]->when <= when ||
		ts->heap[0]->when <= dotpool_timers_now(ts))) {
		struct dotpool_timer* t = ts->heap[0];
		heap_remove(ts, t);
		t->fn(t->arg);
	}
	ts->running = 0;
	event_sync(ts);
}

struct dotpool_timers*
dotpool_timers_create(struct event_base* base, dotpool_clock_fn clock,
	void* clock_arg, void (*wake)(void*), void* wake_arg)
{
	struct dotpool_timers* ts;
	if(!clock)
		return NULL;
	ts = calloc(1, sizeof(*ts));
	if(!ts)
		return NULL;
	ts->base = base;
	ts->clock = clock;
	ts->clock_arg = clock_arg;
	ts->wake = wake;
	ts->wake_arg = wake_arg;
	if(base && event_assign(&ts->ev, base, -1, 0, timers_event_cb,
		ts) != 0) {
		free(ts);
		return NULL;
	}
	return ts;
}

void
dotpool_timers_free(struct dotpool_timers* ts, int base_alive)
{
	size_t i;
	if(!ts)
		return;
	if(base_alive && ts->ev_pending)
		(void)event_del(&ts->ev);
	for(i = 0; i < ts->n; i++)
		ts->heap[i]->pos = 0;
	free(ts->heap);
	free(ts);
}

uint64_t
dotpool_timers_now(const struct dotpool_timers* ts)
{
	return ts->clock(ts->clock_arg);
}

void
dotpool_timers_run(struct dotpool_timers* ts)
{
	uint64_t now = dotpool_timers_now(ts);
	int was = ts->running;
	ts->running = 1;
	while(ts->n > 0 && ts->heap[0]->when <= now) {
		struct dotpool_timer* t = ts->heap[0];
		heap_remove(ts, t);
		t->fn(t->arg);
	}
	ts->running = was;
	event_sync(ts);
}

size_t
dotpool_timers_count(const struct dotpool_timers* ts)
{
	return ts->n;
}

size_t
dotpool_timers_mem(const struct dotpool_timers* ts)
{
	return ts ? sizeof(*ts) + ts->cap * sizeof(*ts->heap) : 0;
}

void
dotpool_timer_init(struct dotpool_timer* t, struct dotpool_timers* ts,
	dotpool_timer_fn fn, void* arg)
{
	t->set = ts;
	t->fn = fn;
	t->arg = arg;
	t->when = 0;
	t->pos = 0;
}

int
dotpool_timer_start(struct dotpool_timer* t, unsigned ms)
{
	struct dotpool_timers* ts = t->set;
	if(t->pos)
		heap_remove(ts, t);
	if(ts->n == ts->cap) {
		size_t cap = ts->cap ? ts->cap * 2 : 64;
		struct dotpool_timer** h = realloc(ts->heap,
			cap * sizeof(*h));
		if(!h)
			return DOTPOOL_ENOMEM;
		ts->heap = h;
		ts->cap = cap;
	}
	t->when = dotpool_timers_now(ts) + ms;
	heap_put(ts, ts->n++, t);
	heap_up(ts, ts->n - 1);
	event_sync(ts);
	return 0;
}

void
dotpool_timer_stop(struct dotpool_timer* t)
{
	if(!t->pos)
		return;
	heap_remove(t->set, t);
	if(t->set->n == 0)
		event_sync(t->set);
}

int
dotpool_timer_armed(const struct dotpool_timer* t)
{
	return t->pos != 0;
}
