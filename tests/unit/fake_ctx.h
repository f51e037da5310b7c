/**
 * \file
 * A fake worker context (module/ctx.h) for the transport's unit suites:
 * a clock the test moves, random bits it sets, deferrals it counts, an
 * event base for the timers a unit assigns (never run).
 */
#ifndef DOTPOOL_TEST_FAKE_CTX_H
#define DOTPOOL_TEST_FAKE_CTX_H
#include <string.h>
#include <event2/event.h>
#include "module/ctx.h"

/** The fake world. */
struct fake_ctx {
	/** monotonic µs: what the clock says */
	uint64_t now;
	/** what rand16 returns */
	uint16_t rnd;
	/** defer() calls */
	int defers;
	/** settings (zero: the test sets what it needs) */
	struct dotpool_config cfg;
	/** the context handed to the unit */
	struct dotpool_ctx ctx;
	/** its event base */
	struct event_base* base;
};

static inline uint64_t
fake_ctx_now(void* arg)
{
	return ((struct fake_ctx*)arg)->now;
}

static inline uint16_t
fake_ctx_rand16(void* arg)
{
	return ((struct fake_ctx*)arg)->rnd;
}

static inline void
fake_ctx_defer(void* arg)
{
	((struct fake_ctx*)arg)->defers++;
}

/** Set up the fake context (clock at 1000 s). */
static inline void
fake_ctx_init(struct fake_ctx* f)
{
	memset(f, 0, sizeof(*f));
	f->now = 1000000000u;
	f->base = event_base_new();
	f->ctx.base = f->base;
	f->ctx.cfg = &f->cfg;
	f->ctx.now_us = fake_ctx_now;
	f->ctx.rand16 = fake_ctx_rand16;
	f->ctx.defer = fake_ctx_defer;
	f->ctx.arg = f;
}

/** Free what fake_ctx_init made. */
static inline void
fake_ctx_free(struct fake_ctx* f)
{
	event_base_free(f->base);
}

#endif /* DOTPOOL_TEST_FAKE_CTX_H */
