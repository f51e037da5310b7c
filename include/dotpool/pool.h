/**
 * \file
 * The transport: per worker thread, a pool of DoT connections to upstreams.
 * An upstream is keyed by (address, port, TLS authentication name,
 * authentication profile) and owns
 * its connections, the queue of requests waiting for one, its health and its
 * counters. A request is one attempt to get an answer for one query from one
 * upstream.
 *
 * Threading: a pool and everything in it belong to one worker thread and its
 * libevent base; nothing here locks, and no other thread ever dereferences
 * its connections, queues or requests. What other threads (the metrics
 * endpoint, get_mem run by another worker) need, the owner publishes:
 *  - the upstream list: only ever prepended to (release store), never
 *    freed before dotpool_pool_free, which runs after those threads have
 *    stopped; dotpool_pool_foreach walks it;
 *  - per upstream: its label (fixed at creation), its zone (set once,
 *    release store), and a copy of its counters republished after every
 *    change (dotpool_upstream_stats_read, see stats.h);
 *  - the pool's memory figure, kept by the owner as it opens, closes and
 *    frees connections (dotpool_pool_mem).
 * Every function below is for the owning thread only unless it says "any
 * thread". No Unbound headers here: the glue hands in an event base and a
 * wake-up hook.
 *
 * Re-entrancy: a request's done() callback may, before it returns, send new
 * requests and cancel others, on any upstream of the same pool, including
 * requests on the very connection that is delivering. The pool re-checks its
 * state after every callback and never frees an object inside its own
 * callback (frees are deferred to the event loop).
 */
#ifndef DOTPOOL_POOL_H
#define DOTPOOL_POOL_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include "dotpool/config.h"
#include "dotpool/stats.h"
/* logging: dotpool_log_set() in dotpool/log.h; messages name upstreams */
#include "dotpool/log.h"

struct dotpool_pool;
struct dotpool_upstream;
struct dotpool_conn;
struct dotpool_tls;
struct dotpool_req;
struct dotpool_board;

/** Query lifetime, owned by the pool. */
enum dotpool_req_state {
	/** not handed to the pool, or finished */
	DOTPOOL_REQ_IDLE = 0,
	/** waiting for a connection with room */
	DOTPOOL_REQ_QUEUED,
	/** written (or being written) on a connection, awaiting the answer */
	DOTPOOL_REQ_SENT,
	/** failed (lost twice, or no connection could be set up); waits on
	 * the pool's fail list for done() from the event loop */
	DOTPOOL_REQ_FAILING
};

/** Name of a request state for logs. */
const char* dotpool_req_state_str(enum dotpool_req_state s);

/**
 * Called exactly once per dotpool_pool_send that returned 0, unless the
 * request is cancelled first.
 * @param req: the request; the pool no longer references it.
 * @param err: 0 when an answer arrived, else: DOTPOOL_ETIMEOUT (its
 *	timeout_ms passed, or no connection could be set up within
 *	connect_timeout), DOTPOOL_ECLOSED (the connection was lost with the
 *	query in flight, twice; a protocol error by the server counts as a
 *	loss), DOTPOOL_EIO (TCP connect failed), DOTPOOL_ETLS (handshake
 *	failed), DOTPOOL_EVERIFY (the server could not be authenticated).
 *	Connection errors fail only the requests that were waiting for that
 *	connection when no other connection to the upstream is left.
 * @param answer: the answer (borrowed, valid during the call), its ID and
 *	question already checked against the query; NULL on error.
 * @param len: answer length.
 */
typedef void (*dotpool_done_fn)(struct dotpool_req* req, int err,
	uint8_t* answer, size_t len);

/**
 * One attempt. The caller allocates it (in the query's region), fills the
 * public fields, and must keep it alive until done() runs or it calls
 * dotpool_pool_cancel(). Private fields are zeroed by the caller and
 * belong to the pool.
 */
struct dotpool_req {
	/* ---- set by the caller ---- */
	/** the query in wire format (borrowed); the pool rewrites its ID */
	uint8_t* wire;
	/** its length */
	size_t len;
	/** ms until done(DOTPOOL_ETIMEOUT) */
	unsigned timeout_ms;
	/** completion callback */
	dotpool_done_fn done;
	/** caller's data */
	void* arg;
	/** its round trip is no sample for the estimate (a hedge: it is
	 * sent only when another upstream is slow, and the first of the
	 * two answers cancels the other, so its times are not a fair
	 * sample of the upstream) */
	int no_rtt;

	/* ---- private to the pool ---- */
	/** state, which also says which list it is on (QUEUED: its
	 * upstream's wait queue, FAILING: the pool's fail list); written
	 * only by the pool's req_set_state */
	enum dotpool_req_state state;
	/** the upstream it was sent to */
	struct dotpool_upstream* up;
	/** the connection it is on, when SENT */
	struct dotpool_conn* conn;
	/** DNS ID on that connection */
	uint16_t id;
	/** times re-sent after a lost connection (counted for the
	 * give-up rule) */
	uint8_t resent;
	/** it lost a connection and was queued again: its answer is no RTT
	 * sample (Karn: which write does it answer?) */
	uint8_t requeued;
	/** list links when QUEUED or FAILING */
	struct dotpool_req* next;
	/** list links when QUEUED or FAILING */
	struct dotpool_req* prev;
	/** monotonic µs when sent, for latency */
	uint64_t sent_us;
	/** timeout timer */
	struct event timer;
	/** whether timer is assigned */
	int timer_set;
	/** error to complete with, when FAILING */
	int err;
};

/** Health of an upstream. */
enum dotpool_health {
	/** answering */
	DOTPOOL_UP = 0,
	/** failing; retried after a backoff */
	DOTPOOL_BACKOFF,
	/** failed fail_threshold times in a row; probed on a schedule */
	DOTPOOL_DOWN
};

/** Name of a health state for logs and metrics. */
const char* dotpool_health_str(enum dotpool_health h);

/**
 * Create a pool for one worker.
 * @param base: the worker's libevent base (borrowed).
 * @param cfg: settings (borrowed, outlives the pool).
 * @param tls: TLS client context (borrowed, outlives the pool).
 * @param wake: called first thing in every libevent callback of the pool,
 *	before any request callback (Unbound refreshes its clock there); may
 *	be NULL.
 * @param wake_arg: passed to wake.
 * @return the pool or NULL.
 */
struct dotpool_pool* dotpool_pool_create(struct event_base* base,
	const struct dotpool_config* cfg, struct dotpool_tls* tls,
	void (*wake)(void*), void* wake_arg);

/**
 * Share upstream health with other pools (one per worker thread): a
 * failure seen here makes the others avoid the upstream for the same
 * backoff, and an answer seen anywhere clears it. Call before the first
 * upstream is created.
 * @param p: the pool.
 * @param board: the board (borrowed, outlives the pool), or NULL.
 */
void dotpool_pool_set_board(struct dotpool_pool* p,
	struct dotpool_board* board);

/**
 * Free a pool, its upstreams and connections (fds closed, SSL freed).
 * Requests still in it are forgotten without callbacks.
 * @param p: the pool, may be NULL.
 * @param base_alive: 0 when the event base has already been freed (Unbound's
 *	reload order): then no event is deleted, only memory is freed.
 */
void dotpool_pool_free(struct dotpool_pool* p, int base_alive);

/**
 * Find or create the upstream for (address, port, name, profile). The
 * profile is the upstream: section's when it sets one, else the one the
 * caller's zone asks for. Strict and opportunistic use of one server are
 * two upstreams: their connections, TLS sessions, health and metrics are
 * apart, so a connection that authenticated nothing never carries a strict
 * zone's query.
 * @param p: the pool.
 * @param sa: address and port (copied).
 * @param salen: its length.
 * @param auth_name: TLS authentication name (copied), NULL for none.
 * @param ucfg: its upstream: section or NULL (borrowed, outlives the pool).
 * @param profile: the zone's profile (used when ucfg sets none).
 * @return the upstream (owned by the pool) or NULL (out of memory).
 */
struct dotpool_upstream* dotpool_pool_upstream(struct dotpool_pool* p,
	const struct sockaddr* sa, socklen_t salen, const char* auth_name,
	const struct dotpool_upstream_cfg* ucfg, enum dotpool_profile profile);

/**
 * Send a request to an upstream: on an open connection with room, else on a
 * new connection (up to max_connections), else queued.
 * @param up: the upstream.
 * @param req: the request (borrowed until done or cancel).
 * @return 0 (done() will be called), DOTPOOL_EFULL (queue full) or
 *	DOTPOOL_ENOMEM; on error done() is not called.
 */
int dotpool_pool_send(struct dotpool_upstream* up, struct dotpool_req* req);

/**
 * Withdraw a request: done() will not be called. Its ID stays reserved on
 * its connection until the late answer arrives or the connection closes.
 * Safe on a request that is IDLE.
 */
void dotpool_pool_cancel(struct dotpool_req* req);

/**
 * Name the zone the upstream's probes ask about: its apex SOA, which a
 * server for that zone answers, where ". NS" (the default) may be refused
 * by one that serves only this zone. Owner thread only.
 * @param up: the upstream (borrowed).
 * @param zone: the zone's name in wire format (copied).
 * @param len: its length.
 * @return 0, DOTPOOL_EINVAL for a bad name, DOTPOOL_EAGAIN while a probe
 *	is in flight.
 */
int dotpool_upstream_set_probe(struct dotpool_upstream* up,
	const uint8_t* zone, size_t len);

/**
 * Probe the upstream now (its zone's SOA, see dotpool_upstream_set_probe;
 * ". NS" without one), as a DOWN upstream is probed: the
 * answer verifies it (dotpool_upstream_up), a failure counts against its
 * health, and it is probed every probe-interval until it has answered.
 * Nothing when a probe is in flight or due, or with probe-interval 0.
 * Owner thread only.
 * @param up: the upstream (borrowed).
 */
void dotpool_upstream_probe(struct dotpool_upstream* up);

/** Health of an upstream now. */
enum dotpool_health dotpool_upstream_health(const struct dotpool_upstream* up);

/**
 * Whether a request sent now would be tried: UP, or a backoff that
 * expired, and not suspect (a suspicion that lapsed is cleared here).
 */
int dotpool_upstream_usable(struct dotpool_upstream* up);

/** What the glue learned from an answer, for health bookkeeping. */
enum dotpool_outcome {
	/** a usable answer */
	DOTPOOL_OUTCOME_OK = 0,
	/** SERVFAIL, REFUSED, or an answer that failed to parse */
	DOTPOOL_OUTCOME_BAD_ANSWER
};

/**
 * Report the outcome of an answer the pool delivered (timeouts and
 * connection errors are accounted by the pool itself).
 */
void dotpool_upstream_report(struct dotpool_upstream* up,
	enum dotpool_outcome o);

/** Events the glue counts on an upstream (query-level decisions). */
enum dotpool_count {
	/** an attempt moved to this upstream after another one failed */
	DOTPOOL_COUNT_FAILOVER = 0,
	/** a hedged second attempt went to this upstream after the zone's
	 * fixed hedge-delay */
	DOTPOOL_COUNT_HEDGE,
	/** a hedged second attempt went to this upstream at the soft
	 * deadline of the first (hedge-delay: auto) */
	DOTPOOL_COUNT_HEDGE_SOFT,
	/** an attempt on this upstream was past its hedge time but the
	 * worker's hedge budget was spent: no hedge */
	DOTPOOL_COUNT_HEDGE_REFUSED
};

/** Count a query-level event on an upstream's counters. */
void dotpool_upstream_count(struct dotpool_upstream* up,
	enum dotpool_count what);

/** Smoothed round-trip estimate in µs (0 when unknown). */
uint64_t dotpool_upstream_srtt(const struct dotpool_upstream* up);

/**
 * The soft deadline (ms) of an attempt sent to the upstream now: what it
 * normally takes (SRTT + 4 * RTTVAR) within soft-deadline-min and
 * soft-deadline-max; soft-deadline-max while nothing was measured.
 */
unsigned dotpool_upstream_soft_ms(const struct dotpool_upstream* up);

/** Whether the round-trip estimate is missing or has had no sample for
 * a long while (selection asks for a probe to refresh it). */
int dotpool_upstream_rtt_stale(const struct dotpool_upstream* up);

/**
 * The request (sent to up, in flight) is past its soft deadline: the
 * upstream turns suspect unless it answered anything since the request
 * was written. A suspect upstream is skipped by new queries
 * (dotpool_upstream_usable) and probed until it answers; the request
 * itself goes on until its answer or its hard timeout.
 * @return whether the upstream is suspect now.
 */
int dotpool_upstream_overdue(struct dotpool_upstream* up,
	const struct dotpool_req* req);

/** "addr@port#name" of an upstream, with " (opportunistic)" after it for
 * that profile, for logs and metrics labels; any thread (fixed when the
 * upstream is created). */
const char* dotpool_upstream_name(const struct dotpool_upstream* up);

/** The zone an upstream was first used for (metrics label), or NULL; any
 * thread. */
const char* dotpool_upstream_zone(const struct dotpool_upstream* up);

/**
 * Record the zone an upstream serves, for metrics labels; the first one
 * set stays (an upstream shared by zones is labelled by its first).
 * @param up: the upstream.
 * @param zone: zone name, presentation format (copied).
 */
void dotpool_upstream_set_zone(struct dotpool_upstream* up, const char* zone);

/** The upstream's counters (live, owned by the upstream): the owning
 * thread only; others use dotpool_upstream_stats_read. */
const struct dotpool_stats* dotpool_upstream_stats(
	const struct dotpool_upstream* up);

/**
 * Copy the counters the upstream's owner last published; any thread.
 * @param up: the upstream (from dotpool_pool_foreach).
 * @param out: the copy (the caller's).
 */
void dotpool_upstream_stats_read(const struct dotpool_upstream* up,
	struct dotpool_stats* out);

/**
 * Visit every upstream of a pool (for metrics and tests); any thread. From
 * another thread, fn may only call the functions marked "any thread".
 * @param p: the pool.
 * @param fn: called with each upstream.
 * @param arg: passed to fn.
 */
void dotpool_pool_foreach(struct dotpool_pool* p,
	void (*fn)(struct dotpool_upstream* up, void* arg), void* arg);

/** Bytes the pool holds (for get_mem), as its owner last published them
 * (after every change of its connections); any thread. */
size_t dotpool_pool_mem(const struct dotpool_pool* p);

#endif /* DOTPOOL_POOL_H */
