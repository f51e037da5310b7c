/**
 * \file
 * One upstream on one worker (module/upstream.c): its identity, its health
 * (an enum with one setter, capped jittered backoff, active probes while
 * DOWN or not yet verified, the shared health board), its RTT estimate,
 * and what it learned of
 * the server's idle timeout and the rewarm rate. The pool (module/pool.c)
 * keeps the upstream's connections and wait queue in the fields marked
 * "pool's"; this unit calls nothing of the pool's (its probes go out
 * through the send function it is given). Private to the transport; the
 * glue uses dotpool/pool.h only.
 *
 * Threading: the owning worker only, except what dotpool/pool.h marks
 * "any thread": the label (fixed at creation), the zone (set once, release
 * store) and the published counters (pub).
 */
#ifndef DOTPOOL_MODULE_UPSTREAM_H
#define DOTPOOL_MODULE_UPSTREAM_H
#include <stdint.h>
#include <sys/socket.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include "dotpool/board.h"
#include "dotpool/pool.h"
#include "dotpool/stats.h"
#include "dotpool/tls.h"
#include "ctx.h"

/** Self-closes at the learned idle time in a row after which the learned
 * time is raised by a quarter: the server may keep connections longer. */
#define DOTPOOL_IDLE_RAISE_AFTER 2
/** Rewarm (and prewarm) opens an upstream allows at once: whatever a
 * server does, dotpool never reconnects to it on its own faster than this
 * burst and then one per DOTPOOL_REWARM_INTERVAL_MS. */
#define DOTPOOL_REWARM_BURST 3
/** Steady rate of rewarm opens per upstream: one per this many ms. */
#define DOTPOOL_REWARM_INTERVAL_MS 1000
/** An RTT estimate with no sample for this long (ms) is only as sure as
 * one sample: the path or the server may have changed while it was not
 * used (its variation is widened, see dotpool_up_soft_us), and the next
 * sample starts it afresh. Short enough that an upstream the ordered
 * policy passes over for its round trip is probed (plan.c) and back in
 * use within seconds of recovering; a busy upstream never idles that
 * long. */
#define DOTPOOL_RTT_IDLE_MS 3000
/** Largest probe query: header, a name of 255 bytes, type and class. */
#define DOTPOOL_PROBE_MAX (12 + 255 + 4)

struct dotpool_conn;
struct dotpool_conn_end;
struct dotpool_upstream;

/** How an upstream sends its health probe: the pool's dotpool_pool_send,
 * handed in so that this unit does not call back up into the pool. */
typedef int (*dotpool_up_send_fn)(struct dotpool_upstream* up,
	struct dotpool_req* req);

/** One upstream (address, port, name, profile) on one worker. The profile
 * is part of the identity: a server that one zone uses strictly and
 * another opportunistically is two upstreams, which share no connection,
 * TLS session or health. */
struct dotpool_upstream {
	/** next in the pool */
	struct dotpool_upstream* next;
	/** the pool that owns it (set and used by the pool only) */
	struct dotpool_pool* pool;
	/** how its probes are sent, or NULL for no probes */
	dotpool_up_send_fn probe_send;
	/** the worker's context (borrowed) */
	const struct dotpool_ctx* ctx;
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
	/** counters; the owning worker's only */
	struct dotpool_stats stats;
	/** stats as published for other threads (dotpool_stats_publish) */
	struct dotpool_stats pub;

	/* ---- the pool's ---- */
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
	/** bytes its connections held when the gauges were last updated */
	size_t mem_conns;
	/** open a connection again from the event loop (an idle connection
	 * was closed and prewarm or the rewarm window asks for one) */
	int rewarm;

	/* ---- health and what was learned ---- */
	/** health; written only by dotpool_up_set_health */
	enum dotpool_health health;
	/** failures in a row */
	unsigned fails;
	/** monotonic µs until which a failing upstream is not tried */
	uint64_t backoff_until;
	/** this upstream's slot on the pool's health board, or NULL */
	struct dotpool_board_slot* shared;
	/** smoothed round trip (SRTT) in µs, 0 unknown; written only by
	 * dotpool_up_rtt */
	uint64_t srtt;
	/** its variation (RTTVAR) in µs */
	uint64_t rttvar;
	/** samples folded into srtt since it last started afresh */
	unsigned rtt_samples;
	/** monotonic µs of the last sample, 0 never */
	uint64_t last_sample_us;
	/** monotonic µs of the last answer (any, probes too), 0 never */
	uint64_t last_answer_us;
	/** suspect: an attempt went past its soft deadline with no answer
	 * since it was sent; new queries skip it while probes ask it.
	 * Written only by up_set_suspect */
	int suspect;
	/** monotonic µs when the suspicion lapses on its own: never while
	 * probes run (an answer ends it); without probes once the hard
	 * attempt-timeout of the attempt that raised it has passed, from
	 * where on failures and backoff speak */
	uint64_t suspect_until;
	/** ms after which this server was seen closing idle connections,
	 * less a margin, never below DOTPOOL_IDLE_LEARN_MIN_MS; 0 = not
	 * seen. New connections idle no longer. */
	unsigned learned_idle_ms;
	/** our own idle closes at the learned time in a row (the server kept
	 * those connections that long) */
	unsigned idle_kept;
	/** rewarm rate limit (a token bucket kept as its theoretical arrival
	 * time, GCRA): monotonic µs; an open is allowed while it is less than
	 * now + (DOTPOOL_REWARM_BURST - 1) intervals */
	uint64_t rewarm_tat_us;
	/** monotonic µs when a query was last sent to this upstream, 0 never
	 * (probes do not count) */
	uint64_t last_query_us;
	/** timer of the active probe while DOWN or unverified */
	struct event probe_ev;
	/** whether probe_ev is added */
	int probe_armed;
	/** the probe request, owned by the upstream */
	struct dotpool_req probe;
	/** its query: the zone's apex SOA once dotpool_upstream_set_probe
	 * named the zone, else ". NS" */
	uint8_t probe_wire[DOTPOOL_PROBE_MAX];
	/** length of probe_wire's query, 0 until set */
	size_t probe_len;
};

/**
 * Make an upstream (UP, no connection).
 * @param ctx: the worker's context (borrowed, outlives it).
 * @param probe_send: how its probes are sent, or NULL for none.
 * @param board: the health board (borrowed), or NULL.
 * @param sa: address and port (copied; AF_INET or AF_INET6).
 * @param salen: its length.
 * @param auth_name: TLS authentication name (copied), or NULL.
 * @param ucfg: its upstream: section or NULL (borrowed).
 * @param profile: its authentication profile.
 * @return the upstream or NULL (out of memory).
 */
struct dotpool_upstream* dotpool_up_new(const struct dotpool_ctx* ctx,
	dotpool_up_send_fn probe_send, struct dotpool_board* board,
	const struct sockaddr* sa, socklen_t salen, const char* auth_name,
	const struct dotpool_upstream_cfg* ucfg, enum dotpool_profile profile);

/**
 * Free an upstream's own memory (not its connections or requests).
 * @param up: the upstream, may be NULL.
 * @param base_alive: 0 when the event base is gone (no event_del).
 */
void dotpool_up_free(struct dotpool_upstream* up, int base_alive);

/** Bytes an upstream itself holds. */
size_t dotpool_up_mem(const struct dotpool_upstream* up);

/** Whether the upstream is (address, port, name, profile). */
int dotpool_up_is(const struct dotpool_upstream* up, const struct sockaddr* sa,
	socklen_t salen, const char* auth_name, enum dotpool_profile profile);

/**
 * The only writer of up->health and its mirror in the counters: logs a
 * change, republishes the counters, arms the probe when DOWN and stops it
 * when UP.
 * @param up: the upstream.
 * @param h: the new health.
 * @param why: short reason for the log line of a change, or NULL.
 */
void dotpool_up_set_health(struct dotpool_upstream* up, enum dotpool_health h,
	const char* why);

/**
 * Account a failure (timeout, connect/TLS/verify error, bad answer):
 * backoff, board, health.
 * @param up: the upstream.
 * @param why: short reason for the log line of a health change.
 */
void dotpool_up_failure(struct dotpool_upstream* up, const char* why);

/** An answer: the upstream works (health UP, backoff and board cleared). */
void dotpool_up_success(struct dotpool_upstream* up);

/**
 * Fold one round trip (µs) into the estimate: the caller applies Karn's
 * rule (no sample from a re-sent request or a hedge).
 */
void dotpool_up_rtt(struct dotpool_upstream* up, uint64_t lat_us);

/**
 * The soft deadline in µs of an attempt sent now: SRTT + 4 * RTTVAR,
 * within soft-deadline-min and soft-deadline-max; soft-deadline-max while
 * nothing was measured.
 */
uint64_t dotpool_up_soft_us(const struct dotpool_upstream* up);

/**
 * An attempt sent at sent_us (monotonic µs, 0 = not written yet) is past
 * its soft deadline: the upstream turns suspect unless it answered
 * anything since. @return whether it is suspect now.
 */
int dotpool_up_overdue(struct dotpool_upstream* up, uint64_t sent_us);

/** Whether req is the upstream's own health probe. */
int dotpool_up_is_probe(const struct dotpool_upstream* up,
	const struct dotpool_req* req);

/** The idle time (ms) a new connection of the upstream gets, and whether
 * it is the learned one. */
unsigned dotpool_up_conn_idle_ms(const struct dotpool_upstream* up,
	int* learned);

/** Learn from how one of its connections ended (the server's idle
 * timeout, or that it kept our connections as long as we learned). */
void dotpool_up_learn_idle(struct dotpool_upstream* up,
	const struct dotpool_conn_end* end);

/**
 * Whether a connection that ended so should be replaced at once (and
 * wanted: the caller opens it from the event loop, rate-limited by
 * dotpool_up_rewarm_allowed).
 */
int dotpool_up_rewarm_wanted(const struct dotpool_upstream* up,
	const struct dotpool_conn_end* end);

/** Whether a rewarm connection may be opened now; if so the token is
 * taken. */
int dotpool_up_rewarm_allowed(struct dotpool_upstream* up);

#endif /* DOTPOOL_MODULE_UPSTREAM_H */
