/**
 * \file
 * Inside the transport: the structures of pool, upstream and connection,
 * shared by module/pool.c (requests, queues, health) and module/conn.c
 * (one DoT connection: socket, TLS, framing, ID map). Not for the glue:
 * it uses dotpool/pool.h only.
 *
 * Callbacks into the glue (a request's done()) are made only from
 * libevent callbacks the pool owns: a request timer, a connection's I/O,
 * or the pool's deferred-work event. Functions the glue calls (send,
 * cancel) never complete a request synchronously, and closing a connection
 * only queues the work; objects are freed in the deferred-work event.
 *
 * Threading: everything here belongs to the worker that owns the pool.
 * Other threads may read only what pool.h says is safe from any thread:
 * the upstream list (p->ups, published with a release store and only ever
 * prepended to), an upstream's label, zone and published counters (pub),
 * and the pool's memory figure (mem_pub). Connections, queues and the
 * graveyard are never read by another thread.
 */
#ifndef DOTPOOL_CONN_H
#define DOTPOOL_CONN_H
#include <stdint.h>
#include <sys/socket.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include "dotpool/pool.h"
#include "dotpool/board.h"
#include "dotpool/tls.h"
#include "dotpool/frame.h"
#include "dotpool/idmap.h"
#include "dotpool/stats.h"

/** Shortest idle time (ms) dotpool learns from a server's idle closes: a
 * server that seems to close idle connections sooner is not trusted to
 * set a shorter pace (its connections are simply closed by it). */
#define DOTPOOL_IDLE_LEARN_MIN_MS 1000
/** A server close this soon (ms) after the last frame, or after the
 * handshake of a connection that carried nothing, is not an idle timeout
 * (a server closing after N queries, a restart): nothing is learned, and
 * an unused connection closed that soon is not replaced. */
#define DOTPOOL_CLOSE_GRACE_MS 250
/** Self-closes at the learned idle time in a row after which the learned
 * time is raised by a quarter: the server may keep connections longer. */
#define DOTPOOL_IDLE_RAISE_AFTER 2
/** Rewarm (and prewarm) opens an upstream allows at once: whatever a
 * server does, dotpool never reconnects to it on its own faster than this
 * burst and then one per DOTPOOL_REWARM_INTERVAL_MS. */
#define DOTPOOL_REWARM_BURST 3
/** Steady rate of rewarm opens per upstream: one per this many ms. */
#define DOTPOOL_REWARM_INTERVAL_MS 1000
/** Most frames one read event of a connection delivers before it yields
 * to the event loop (and continues on its next iteration). */
#define DOTPOOL_CONN_READ_FRAMES 64
/** Most bytes one read event takes from the TLS layer before it yields. */
#define DOTPOOL_CONN_READ_BYTES (128 * 1024)

/** Connection lifetime. */
enum dotpool_conn_state {
	/** TCP connect in progress */
	DOTPOOL_CONN_CONNECTING = 0,
	/** TLS handshake in progress */
	DOTPOOL_CONN_HANDSHAKING,
	/** takes new queries */
	DOTPOOL_CONN_READY,
	/** takes no new queries; closes when nothing is in flight */
	DOTPOOL_CONN_DRAINING,
	/** done; waits in the pool's graveyard to be freed */
	DOTPOOL_CONN_CLOSED
};

/** Name of a connection state for logs. */
const char* dotpool_conn_state_str(enum dotpool_conn_state s);

/** Which list a request is on (private to the pool). */
enum dotpool_req_list {
	/** none */
	DOTPOOL_REQ_ON_NONE = 0,
	/** its upstream's wait queue */
	DOTPOOL_REQ_ON_QUEUE,
	/** the pool's list of requests to fail from the event loop */
	DOTPOOL_REQ_ON_FAIL
};

/** One DoT connection. */
struct dotpool_conn {
	/** next in the upstream's list, or in the pool's graveyard */
	struct dotpool_conn* next;
	/** the upstream */
	struct dotpool_upstream* up;
	/** state; written only by dotpool_conn_set_state */
	enum dotpool_conn_state state;
	/** socket, -1 when closed */
	int fd;
	/** TLS object, NULL before the handshake starts */
	struct ssl_st* ssl;
	/** readable socket */
	struct event ev_read;
	/** writable socket; added only when a write would block */
	struct event ev_write;
	/** connect timeout, then idle timeout */
	struct event ev_timer;
	/** zero-delay timer: go on reading after a read event used up its
	 * budget (the TLS layer may hold the rest already read ahead, and the
	 * socket would then not become readable again) */
	struct event ev_more;
	/** whether the four events are assigned */
	int ev_assigned;
	/** whether ev_write is added; follows the three reasons below (and
	 * the connect and handshake) through conn_interest() */
	int writing;
	/** SSL_read cannot go on before the socket takes a write (the TLS
	 * layer answers a key update, sends an alert): nothing to do with
	 * the queued queries */
	int read_wants_write;
	/** SSL_write cannot go on before the socket is readable (the TLS
	 * layer must read first): the queued bytes wait for the read event */
	int write_wants_read;
	/** DNS IDs in flight (owners: struct dotpool_req) */
	struct dotpool_idmap* ids;
	/** framed queries not yet written */
	struct dotpool_wbuf wbuf;
	/** answers being reassembled */
	struct dotpool_frame_reader rd;
	/** cancelled IDs reserved now: when half the map is lost to them the
	 * server has probably dropped those queries; drain the connection */
	unsigned stale;
	/** whether the connection reached READY */
	int was_ready;
	/** whether the server is authenticated (opportunistic may not be);
	 * a strict upstream's queries are written only when it is */
	int authenticated;
	/** ms this connection may idle: idle_timeout, or less when the
	 * server's edns-tcp-keepalive asks for it (RFC 7828) or closes idle
	 * connections sooner (learned) */
	unsigned idle_ms;
	/** whether idle_ms is the upstream's learned idle time */
	int idle_learned;
	/** monotonic µs of the last activity: the connection became ready,
	 * or a frame was written or read. Idle time is measured from it. */
	uint64_t last_activity_us;
	/** queries sent on this connection */
	unsigned sent;
	/** answers this connection delivered */
	unsigned answered;
	/** key of the question hashes its cancelled IDs keep */
	uint32_t qseed;
};

/** One upstream (address, port, name, profile) on one worker. The profile
 * is part of the identity: a server that one zone uses strictly and
 * another opportunistically is two upstreams, which share no connection,
 * TLS session or health. */
struct dotpool_upstream {
	/** next in the pool */
	struct dotpool_upstream* next;
	/** the pool */
	struct dotpool_pool* pool;
	/** address and port */
	struct sockaddr_storage addr;
	/** length of addr */
	socklen_t addrlen;
	/** TLS authentication name (owned), or NULL */
	char* name;
	/** "addr@port#name", then " (opportunistic)" for that profile
	 * (owned): the whole identity, never cut, because health slots and
	 * metrics rows are keyed by it */
	char* label;
	/** zone it was first used for, for metrics labels (owned), or NULL */
	char* zone;
	/** authentication data and saved session; auth.profile is fixed
	 * when the upstream is created */
	struct dotpool_tls_auth auth;
	/** open connections (not CLOSED) */
	struct dotpool_conn* conns;
	/** number of connections in conns */
	unsigned nconns;
	/** first waiting request */
	struct dotpool_req* qhead;
	/** last waiting request */
	struct dotpool_req* qtail;
	/** number of waiting requests */
	unsigned qlen;
	/** counters; the owning worker's only */
	struct dotpool_stats stats;
	/** stats as published for other threads (dotpool_stats_publish) */
	struct dotpool_stats pub;
	/** bytes its connections held when the gauges were last updated */
	size_t mem_conns;
	/** health; written only by the pool's set_health */
	enum dotpool_health health;
	/** failures in a row */
	unsigned fails;
	/** ms after which this server was seen closing idle connections,
	 * less a margin, never below DOTPOOL_IDLE_LEARN_MIN_MS; 0 = not
	 * seen. New connections idle no longer. */
	unsigned learned_idle_ms;
	/** our own idle closes at the learned time in a row (the server kept
	 * those connections that long) */
	unsigned idle_kept;
	/** monotonic µs until which a failing upstream is not tried */
	uint64_t backoff_until;
	/** this upstream's slot on the pool's health board, or NULL */
	struct dotpool_board_slot* shared;
	/** smoothed answer latency in µs, 0 unknown */
	uint64_t srtt;
	/** open a connection again from the event loop (an idle connection
	 * was closed and prewarm or the rewarm window asks for one) */
	int rewarm;
	/** rewarm rate limit (a token bucket kept as its theoretical arrival
	 * time, GCRA): monotonic µs; an open is allowed while it is less than
	 * now + (DOTPOOL_REWARM_BURST - 1) intervals */
	uint64_t rewarm_tat_us;
	/** monotonic µs when a query was last sent to this upstream, 0 never
	 * (probes do not count) */
	uint64_t last_query_us;
	/** timer of the active probe while DOWN */
	struct event probe_ev;
	/** whether probe_ev is added */
	int probe_armed;
	/** the probe request (". NS"), owned by the upstream */
	struct dotpool_req probe;
	/** its query */
	uint8_t probe_wire[17];
};

/** The per-worker pool. */
struct dotpool_pool {
	/** libevent base (borrowed) */
	struct event_base* base;
	/** settings (borrowed) */
	const struct dotpool_config* cfg;
	/** TLS context (borrowed) */
	struct dotpool_tls* tls;
	/** clock refresh hook */
	void (*wake)(void*);
	/** its argument */
	void* wake_arg;
	/** upstreams */
	struct dotpool_upstream* ups;
	/** closed connections to free from the event loop */
	struct dotpool_conn* grave;
	/** first request to fail from the event loop */
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

/**
 * 16 unpredictable bits for a DNS ID. OpenSSL's generator is drawn 256
 * bytes at a time: one call per query cost more than the rest of the ID
 * handling together.
 */
uint16_t dotpool_pool_rand16(struct dotpool_pool* p);

/** Monotonic clock in µs. */
uint64_t dotpool_now_us(void);

/** Call the pool's wake hook (first thing in every callback). */
void dotpool_pool_wake(struct dotpool_pool* p);

/** Schedule the pool's deferred work for the next loop iteration. */
void dotpool_pool_defer(struct dotpool_pool* p);

/**
 * Open a new connection for an upstream and start connecting. The
 * connection joins up->conns; on an immediate failure it is closed at once
 * (nothing is completed synchronously).
 * @return 0, or DOTPOOL_ENOMEM (nothing was created).
 */
int dotpool_conn_open(struct dotpool_upstream* up);

/**
 * Put a request on a READY connection: reserve an ID, frame it, arm the
 * write.
 * @return 0, DOTPOOL_EFULL (no ID or buffer room), DOTPOOL_EAGAIN (not
 *	READY), DOTPOOL_EVERIFY (the upstream is strict and the connection
 *	did not authenticate it) or DOTPOOL_ENOMEM; the request is unchanged
 *	on error.
 */
int dotpool_conn_send(struct dotpool_conn* c, struct dotpool_req* req);

/** Whether a connection can take another query now: READY, with room,
 * and authenticated when its upstream is strict. */
int dotpool_conn_has_room(const struct dotpool_conn* c);

/** Forget a SENT request; its ID stays reserved until its answer. */
void dotpool_conn_cancel(struct dotpool_conn* c, struct dotpool_req* req);

/**
 * Close a connection: events removed, socket closed, requests in flight
 * handed to dotpool_up_lost, unlinked from the upstream and put in the
 * graveyard. No request callback runs here.
 * @param c: the connection (not CLOSED yet, else nothing happens).
 * @param err: why (0 for a normal close).
 * @param failure: whether it counts against the upstream's health.
 */
void dotpool_conn_close(struct dotpool_conn* c, int err, int failure);

/**
 * Free a closed connection's memory.
 * @param c: the connection, may be NULL.
 * @param base_alive: 0 when the event base is gone (no event_del).
 */
void dotpool_conn_free(struct dotpool_conn* c, int base_alive);

/** Bytes a connection holds, roughly. */
size_t dotpool_conn_mem(const struct dotpool_conn* c);

/** Send waiting requests of an upstream on connections with room, opening
 * one more connection when allowed. Never completes a request. */
void dotpool_up_dispatch(struct dotpool_upstream* up);

/** A SENT request lost its connection: queue it again once, else fail it
 * with DOTPOOL_ECLOSED from the event loop. */
void dotpool_up_lost(struct dotpool_req* req, int progress);

/** A connection that never became ready failed: when no connection of the
 * upstream is left, fail the waiting requests with err (from the event
 * loop) so the caller can try another upstream. */
void dotpool_up_connect_failed(struct dotpool_upstream* up, int err);

/**
 * Account a failure (timeout, connect/TLS/verify error) in health.
 * @param up: the upstream.
 * @param why: short reason for the log line of a health change.
 */
void dotpool_up_failure(struct dotpool_upstream* up, const char* why);

/** Recompute the upstream's gauges and memory from its structures and
 * publish them and its counters for other threads. Called after every
 * change of the upstream's counters or connections. */
void dotpool_up_gauges(struct dotpool_upstream* up);

/**
 * Hand a matched answer to its request (state, timer, stats, health) and
 * call done(). The caller re-checks its own state afterwards.
 * @param req: the request; its ID is already released.
 * @param answer: the answer (borrowed).
 * @param len: its length.
 */
void dotpool_req_deliver(struct dotpool_req* req, uint8_t* answer,
	size_t len);

#endif /* DOTPOOL_CONN_H */
