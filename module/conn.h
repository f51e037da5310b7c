/**
 * \file
 * One DoT connection (module/conn.c): socket, TLS, framing, ID map. It
 * knows nothing of upstreams or pools: it gets a context (module/ctx.h),
 * the address and authentication data, a label for its log lines and a
 * borrowed counters struct, and reports to its owner through a callback
 * table (struct dotpool_conn_ops). Private to the transport.
 *
 * Callbacks into the owner run only from the connection's own libevent
 * callbacks or from dotpool_conn_start/dotpool_conn_close; functions the
 * owner calls (send, cancel) never call back into it. A closed connection
 * is never freed by this unit: the owner frees it (dotpool_conn_free) from
 * its deferred work, so a caller up the stack may still look at it.
 *
 * Threading: the owning worker only.
 */
#ifndef DOTPOOL_MODULE_CONN_H
#define DOTPOOL_MODULE_CONN_H
#include <stdint.h>
#include <sys/socket.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include "dotpool/frame.h"
#include "dotpool/idmap.h"
#include "dotpool/pool.h"
#include "dotpool/stats.h"
#include "dotpool/tls.h"
#include "ctx.h"

/** Shortest idle time (ms) dotpool learns from a server's idle closes: a
 * server that seems to close idle connections sooner is not trusted to
 * set a shorter pace (its connections are simply closed by it). */
#define DOTPOOL_IDLE_LEARN_MIN_MS 1000
/** A server close this soon (ms) after the last frame, or after the
 * handshake of a connection that carried nothing, is not an idle timeout
 * (a server closing after N queries, a restart): nothing is learned, and
 * an unused connection closed that soon is not replaced. */
#define DOTPOOL_CLOSE_GRACE_MS 250
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
	/** done; waits for its owner to free it */
	DOTPOOL_CONN_CLOSED
};

/** Name of a connection state for logs. */
const char* dotpool_conn_state_str(enum dotpool_conn_state s);

struct dotpool_conn;

/** How a connection ended, for its owner's bookkeeping (health, rewarm,
 * idle learning). */
struct dotpool_conn_end {
	/** why (0 for a normal close) */
	int err;
	/** whether it counts against the upstream's health */
	int failure;
	/** whether the connection ever reached READY */
	int was_ready;
	/** whether nothing was live on it when it closed */
	int idle;
	/** queries sent on it */
	unsigned sent;
	/** answers it delivered */
	unsigned answered;
	/** ms it was allowed to idle */
	unsigned idle_ms;
	/** µs from its last activity to the close */
	uint64_t quiet_us;
	/** the server closed it while idle, long enough after its last
	 * activity and before our idle timer, with nothing reserved on it:
	 * the ms it idled, for the owner to learn from; else 0 */
	uint64_t peer_idle_ms;
	/** our idle timer closed it at an idle time learned from the server
	 * (the server kept it that long): that time in ms, else 0 */
	unsigned kept_idle_ms;
};

/** What a connection reports to its owner. */
struct dotpool_conn_ops {
	/** The connection can take queries (it became READY, answers freed
	 * IDs, or its write buffer drained): send what waits on it with
	 * dotpool_conn_send. */
	void (*ready)(void* owner, struct dotpool_conn* c);
	/** A matched answer for req (its ID already released; the
	 * connection no longer references req). The owner completes the
	 * request; the connection re-checks its own state afterwards. */
	void (*answer)(void* owner, struct dotpool_conn* c,
		struct dotpool_req* req, uint8_t* msg, size_t len);
	/** A request in flight lost the connection, which is closing;
	 * progress: whether the connection answered anything. */
	void (*lost)(void* owner, struct dotpool_req* req, int progress);
	/** The connection closed (CLOSED, every request handed to lost). The
	 * owner stops listing it and frees it later, never in here. */
	void (*closed)(void* owner, struct dotpool_conn* c,
		const struct dotpool_conn_end* end);
	/** Its counters, queries in flight or memory changed: the owner's
	 * gauges are due. */
	void (*changed)(void* owner, struct dotpool_conn* c);
};

/** What a new connection is for (everything borrowed, outliving it). */
struct dotpool_conn_args {
	/** the worker's context */
	const struct dotpool_ctx* ctx;
	/** the owner's callbacks */
	const struct dotpool_conn_ops* ops;
	/** passed to them */
	void* owner;
	/** server address and port */
	const struct sockaddr_storage* addr;
	/** its length */
	socklen_t addrlen;
	/** authentication data and saved session (auth->profile: whether
	 * queries may go out on an unauthenticated connection) */
	struct dotpool_tls_auth* auth;
	/** "addr@port#name" for log lines */
	const char* label;
	/** counters the connection adds to */
	struct dotpool_stats* stats;
	/** ms the connection may idle at first */
	unsigned idle_ms;
	/** whether idle_ms was learned from the server */
	int idle_learned;
};

/** One DoT connection. */
struct dotpool_conn {
	/** the owner's list link; the connection never touches it */
	struct dotpool_conn* next;
	/** what it is for: context, owner, address, authentication, label,
	 * counters (all borrowed); with.idle_ms is only the initial idle */
	struct dotpool_conn_args with;
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
	/** monotonic µs of the last whole frame read (or of the connection
	 * becoming ready): what tells a live connection from a dead one */
	uint64_t last_read_us;
	/** queries sent on this connection */
	unsigned sent;
	/** answers this connection delivered */
	unsigned answered;
	/** key of the question hashes its cancelled IDs keep */
	uint32_t qseed;
};

/**
 * Make a connection (CONNECTING, nothing on the wire yet). The owner lists
 * it, then calls dotpool_conn_start.
 * @param a: what it is for (copied; what it points to is borrowed).
 * @return the connection or NULL (out of memory).
 */
struct dotpool_conn* dotpool_conn_new(const struct dotpool_conn_args* a);

/** Start connecting. On an immediate failure the connection is closed at
 * once (ops->closed runs before this returns). */
void dotpool_conn_start(struct dotpool_conn* c);

/**
 * Put a request on a READY connection: reserve an ID, frame it, arm the
 * write. The request's own fields are the owner's to set.
 * @param c: the connection.
 * @param req: the request (its wire gets the ID).
 * @param id: the ID it got.
 * @return 0, DOTPOOL_EFULL (no ID or buffer room), DOTPOOL_EAGAIN (not
 *	READY), DOTPOOL_EVERIFY (a strict connection that did not
 *	authenticate the server) or DOTPOOL_ENOMEM; nothing changed on error.
 */
int dotpool_conn_send(struct dotpool_conn* c, struct dotpool_req* req,
	uint16_t* id);

/** Whether a connection can take another query now: READY, with room,
 * and authenticated when its profile is strict. */
int dotpool_conn_has_room(const struct dotpool_conn* c);

/** Whether the connection is still coming up (connect or handshake). */
int dotpool_conn_pending(const struct dotpool_conn* c);

/** Whether it is READY with nothing in flight. */
int dotpool_conn_idle(const struct dotpool_conn* c);

/** Whether a whole frame arrived on it at or after t_us (the context's
 * clock). A connection that delivered nothing since a query was written
 * and then let that query time out is dead: a blackhole, or stuck in a
 * frame the server never finishes, where no later answer can be read. */
int dotpool_conn_heard_since(const struct dotpool_conn* c, uint64_t t_us);

/** Queries in flight on it. */
unsigned dotpool_conn_live(const struct dotpool_conn* c);

/** Forget a SENT request; its ID stays reserved until its answer. */
void dotpool_conn_cancel(struct dotpool_conn* c, struct dotpool_req* req);

/**
 * Close a connection: events removed, socket closed, requests in flight
 * handed to ops->lost, then ops->closed; the owner's deferred work is
 * scheduled to free it. No request callback runs here.
 * @param c: the connection (not CLOSED yet, else nothing happens).
 * @param err: why (0 for a normal close).
 * @param failure: whether it counts against the upstream's health.
 */
void dotpool_conn_close(struct dotpool_conn* c, int err, int failure);

/**
 * Free a connection's memory (requests still on it are not told).
 * @param c: the connection, may be NULL.
 * @param base_alive: 0 when the event base is gone (no event_del).
 */
void dotpool_conn_free(struct dotpool_conn* c, int base_alive);

/** Hand every request in flight on a connection to fn and forget them
 * (its ID map is emptied); for an owner freeing everything. */
void dotpool_conn_drain(struct dotpool_conn* c,
	void (*fn)(struct dotpool_req* req, void* arg), void* arg);

/** Bytes a connection holds, roughly. */
size_t dotpool_conn_mem(const struct dotpool_conn* c);

#endif /* DOTPOOL_MODULE_CONN_H */
