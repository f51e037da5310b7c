/**
 * \file
 * What the transport's lower units (module/upstream.c, module/conn.c) get
 * from the worker that owns them instead of reaching into the pool: the
 * event base, the settings, the TLS context, a clock, random bits, the
 * deferred-work event and the wake-up hook. The pool (module/pool.c) fills
 * one per worker with the real ones; unit tests fill one with a fake clock.
 * Private to the transport; the glue uses dotpool/pool.h only.
 *
 * Threading: a context belongs to the worker that owns the pool, as does
 * everything made with it.
 */
#ifndef DOTPOOL_MODULE_CTX_H
#define DOTPOOL_MODULE_CTX_H
#include <stdint.h>
#include "dotpool/config.h"

struct event_base;
struct dotpool_tls;

/** One worker's context (borrowed by everything made with it). */
struct dotpool_ctx {
	/** libevent base (borrowed) */
	struct event_base* base;
	/** settings (borrowed) */
	const struct dotpool_config* cfg;
	/** TLS client context (borrowed) */
	struct dotpool_tls* tls;
	/** monotonic clock in µs */
	uint64_t (*now_us)(void* arg);
	/** 16 unpredictable bits (DNS IDs, question-hash keys, jitter) */
	uint16_t (*rand16)(void* arg);
	/** schedule the owner's deferred work for the next loop iteration
	 * (frees closed connections, completes failed requests) */
	void (*defer)(void* arg);
	/** first thing in every libevent callback (Unbound refreshes its
	 * clock there); may be NULL */
	void (*wake)(void* arg);
	/** passed to the four functions */
	void* arg;
};

/** The clock of a context. */
static inline uint64_t
dotpool_ctx_now(const struct dotpool_ctx* x)
{
	return x->now_us(x->arg);
}

/** Call the wake hook of a context, if any. */
static inline void
dotpool_ctx_wake(const struct dotpool_ctx* x)
{
	if(x->wake)
		x->wake(x->arg);
}

/** Monotonic clock in µs (the real one a pool's context uses). */
uint64_t dotpool_now_us(void);

#endif /* DOTPOOL_MODULE_CTX_H */
