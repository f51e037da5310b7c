/**
 * \file
 * One-shot timers of one worker thread, on a clock of its choosing. The
 * timers live in their owners' memory (a query's region) and sit in a
 * binary heap by deadline; the set keeps a single libevent event on the
 * worker's base armed for (no later than) the earliest deadline. Without an
 * event base the set is driven by its owner: a test advances a fake clock
 * and calls dotpool_timers_run(). No libevent type appears in a timer, so
 * the units that use timers do not depend on libevent's headers.
 *
 * Threading: a set and its timers belong to one thread.
 */
#ifndef DOTPOOL_TIMER_H
#define DOTPOOL_TIMER_H
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct dotpool_timers;

/** Called when a timer expires; the timer is no longer armed then. */
typedef void (*dotpool_timer_fn)(void* arg);

/**
 * One timer. The owner allocates it, gives it to dotpool_timer_init() and
 * stops it before its memory goes. Fields are private to timer.c.
 */
struct dotpool_timer {
	/** the set it belongs to */
	struct dotpool_timers* set;
	/** callback */
	dotpool_timer_fn fn;
	/** its argument */
	void* arg;
	/** deadline, ms of the set's clock */
	uint64_t when;
	/** 1 + its index in the set's heap; 0 when not armed */
	size_t pos;
};

/** A clock in ms (monotonic, or a test's fake one). */
typedef uint64_t (*dotpool_clock_fn)(void* arg);

/** CLOCK_MONOTONIC in ms; arg unused (a dotpool_clock_fn). */
uint64_t dotpool_timers_monotonic_ms(void* arg);

/**
 * Create a set of timers.
 * @param base: the libevent base that fires them (borrowed), or NULL when
 *	the caller runs dotpool_timers_run() itself.
 * @param clock: the clock deadlines are on.
 * @param clock_arg: passed to clock.
 * @param wake: called first thing when the libevent event fires, before
 *	any timer callback (Unbound refreshes its clock there); may be NULL.
 * @param wake_arg: passed to wake.
 * @return the set or NULL (out of memory).
 */
struct dotpool_timers* dotpool_timers_create(struct event_base* base,
	dotpool_clock_fn clock, void* clock_arg, void (*wake)(void*),
	void* wake_arg);

/**
 * Free a set. Timers still armed are forgotten (their callbacks never run).
 * @param ts: the set, may be NULL.
 * @param base_alive: 0 when the event base is already freed (Unbound's
 *	reload order): then no event is deleted, only memory is freed.
 */
void dotpool_timers_free(struct dotpool_timers* ts, int base_alive);

/** Now on the set's clock, in ms. */
uint64_t dotpool_timers_now(const struct dotpool_timers* ts);

/**
 * Run the callbacks of every timer whose deadline has come (now >=
 * deadline), earliest first. A callback may start and stop timers,
 * itself included.
 */
void dotpool_timers_run(struct dotpool_timers* ts);

/** Number of armed timers. */
size_t dotpool_timers_count(const struct dotpool_timers* ts);

/** Bytes the set holds (its heap). */
size_t dotpool_timers_mem(const struct dotpool_timers* ts);

/** Prepare a timer (not armed). */
void dotpool_timer_init(struct dotpool_timer* t, struct dotpool_timers* ts,
	dotpool_timer_fn fn, void* arg);

/**
 * Arm (or re-arm) a timer to fire ms from now.
 * @return 0, or DOTPOOL_ENOMEM (the timer is then not armed).
 */
int dotpool_timer_start(struct dotpool_timer* t, unsigned ms);

/** Disarm a timer; safe on one that is not armed. */
void dotpool_timer_stop(struct dotpool_timer* t);

/** Whether a timer is armed. */
int dotpool_timer_armed(const struct dotpool_timer* t);

#endif /* DOTPOOL_TIMER_H */
