/**
 * \file
 * Inside the pool (module/pool.c): the per-worker structure that owns the
 * upstreams (module/upstream.h), their connections (module/conn.h) and
 * the requests waiting on them. Private to the transport (and its
 * component tests); the glue uses dotpool/pool.h only.
 *
 * Callbacks into the glue (a request's done()) are made only from
 * libevent callbacks the pool owns: a request timer, a connection's I/O,
 * or the pool's deferred-work event. Functions the glue calls (send,
 * cancel) never complete a request synchronously, and closing a connection
 * only queues the work; objects are freed in the deferred-work event.
 *
 * Threading: everything here belongs to the worker that owns the pool.
 * Other threads may read only what dotpool/pool.h says is safe from any
 * thread: the upstream list (ups, published with a release store and only
 * ever prepended to), an upstream's label, zone and published counters,
 * and the pool's memory figure (mem_pub). Connections, queues and the
 * graveyard are never read by another thread.
 */
#ifndef DOTPOOL_MODULE_POOL_H
#define DOTPOOL_MODULE_POOL_H
#include <stdint.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include "dotpool/pool.h"
#include "ctx.h"

/** The per-worker pool. */
struct dotpool_pool {
	/** what its upstreams and connections get: base, settings, TLS,
	 * clock, random bits, deferral, wake hook */
	struct dotpool_ctx ctx;
	/** clock refresh hook */
	void (*wake)(void*);
	/** its argument */
	void* wake_arg;
	/** upstreams */
	struct dotpool_upstream* ups;
	/** closed connections to free from the event loop */
	struct dotpool_conn* grave;
	/** first request to fail from the event loop (FAILING) */
	struct dotpool_req* fhead;
	/** last request to fail from the event loop */
	struct dotpool_req* ftail;
	/** deferred work: free the graveyard, dispatch, fail requests */
	struct event ev_defer;
	/** health shared with the other workers (borrowed), or NULL */
	struct dotpool_board* board;
	/** random bytes for DNS IDs, drawn from OpenSSL in batches */
	uint8_t rnd[256];
	/** bytes of rnd already used */
	unsigned rnd_used;
	/** bytes of the upstreams and their open connections, as of their
	 * last gauge update (owner only) */
	size_t mem_ups;
	/** the memory figure other threads read (dotpool_pool_mem): written
	 * by the owner with relaxed atomic stores */
	size_t mem_pub;
};

#endif /* DOTPOOL_MODULE_POOL_H */
