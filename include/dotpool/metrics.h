/**
 * \file
 * The Prometheus endpoint: a small HTTP/1.1 server on a thread of its own
 * that answers `GET /metrics` in the text exposition format 0.0.4.
 *
 * Data flow: on every scrape the metrics thread empties a snapshot and calls
 * the glue's collect function, which adds one row per (upstream, zone) with
 * that upstream's counters and sets the module-level values. Rows with the
 * same labels are merged (the glue may add each worker's copy of an upstream
 * separately). The renderer turns the snapshot into text.
 *
 * Threading: the collect function runs on the metrics thread, never on a
 * worker. It reads only what the workers publish for it: their upstream
 * lists and each upstream's published counters (dotpool_metrics_add_pool,
 * see pool.h and stats.h), and memory figures; never a connection. No
 * lock: nothing here is called by, or waits for, a worker thread. The
 * server's own state (clients, snapshot, body) is the metrics thread's.
 *
 * Privacy: labels are upstream names and zone names only, never a query
 * name or a client address.
 *
 * Three units implement it: module/metrics.c the snapshot and renderer
 * (pure), module/httpreq.c the request parser (pure), module/httpd.c the
 * server thread.
 *
 * No Unbound headers here. Returns follow error.h: 0 or DOTPOOL_E*,
 * constructors NULL.
 */
#ifndef DOTPOOL_METRICS_H
#define DOTPOOL_METRICS_H
#include <stddef.h>
#include <stdint.h>
#include "dotpool/stats.h"

/** Longest request (line and headers) accepted, in bytes. */
#define DOTPOOL_METRICS_MAX_REQUEST 4096
/** Connections served at once. When all are taken, a new connection
 * replaces the oldest one that has had DOTPOOL_METRICS_GRACE_MS to send
 * its request and has not; one being answered is never dropped, and while
 * none can be dropped no connection is accepted (the listener rests). */
#define DOTPOOL_METRICS_MAX_CLIENTS 16
/** ms a connection may take to send its request and read the answer. */
#define DOTPOOL_METRICS_TIMEOUT_MS 2000
/** ms a new connection is kept, even when others wait, to send its
 * request: a flood of idle connections cannot push out a real scrape
 * whose request is on its way. */
#define DOTPOOL_METRICS_GRACE_MS 250
/** ms the listener rests after accept failed for lack of descriptors or
 * memory (it stays readable: polling it again at once would spin). */
#define DOTPOOL_METRICS_ACCEPT_PAUSE_MS 100

/** One row of a snapshot: one upstream as used by one zone. */
struct dotpool_metrics_row {
	/** "addr@port#name" (owned by the snapshot) */
	char* upstream;
	/** zone name with trailing dot (owned by the snapshot) */
	char* zone;
	/** counters and gauges, summed over worker threads; health is the
	 * worst of the workers' states */
	struct dotpool_stats stats;
};

/** What one scrape reports. */
struct dotpool_metrics_snapshot {
	/** rows, in the order first added */
	struct dotpool_metrics_row* rows;
	/** rows in use */
	size_t num;
	/** rows allocated */
	size_t cap;
	/** dotpool version for dotpool_build_info */
	char version[32];
	/** Unbound version the module was built for */
	char unbound_version[32];
	/** bytes the module holds (as get_mem reports) */
	uint64_t memory_bytes;
};

/** A growable, NUL-terminated text buffer. */
struct dotpool_metrics_buf {
	/** the text (owned), NULL until the first write */
	char* data;
	/** bytes of text, without the NUL */
	size_t len;
	/** bytes allocated */
	size_t cap;
};

/**
 * Allocate an empty snapshot.
 * @return the snapshot or NULL (out of memory).
 */
struct dotpool_metrics_snapshot* dotpool_metrics_snapshot_new(void);

/** Free a snapshot and its rows; snap may be NULL. */
void dotpool_metrics_snapshot_free(struct dotpool_metrics_snapshot* snap);

/**
 * Forget every row and module value, keeping the allocation for the next
 * scrape.
 */
void dotpool_metrics_snapshot_clear(struct dotpool_metrics_snapshot* snap);

/**
 * Add an upstream's counters under (upstream, zone). When a row with the
 * same labels exists, counters and gauges are added to it and its health
 * becomes the worse of the two.
 * @param snap: the snapshot.
 * @param upstream: "addr@port#name" (copied).
 * @param zone: zone name (copied); NULL is stored as "".
 * @param st: the counters (copied).
 * @return 0, DOTPOOL_EINVAL (upstream NULL) or DOTPOOL_ENOMEM.
 */
int dotpool_metrics_snapshot_add(struct dotpool_metrics_snapshot* snap,
	const char* upstream, const char* zone, const struct dotpool_stats* st);

struct dotpool_pool;

/**
 * Add every upstream of a worker's pool, with the counters its owner
 * published, one row each (merged with rows of the same labels); safe on
 * any thread while the pool exists.
 * @param snap: the snapshot.
 * @param p: the pool (borrowed), may be NULL.
 * @return 0 or DOTPOOL_ENOMEM (some rows may be missing).
 */
int dotpool_metrics_add_pool(struct dotpool_metrics_snapshot* snap,
	struct dotpool_pool* p);

/**
 * Set the module-level values.
 * @param snap: the snapshot.
 * @param version: dotpool's version (copied, truncated to fit), or NULL.
 * @param unbound_version: Unbound's version (copied), or NULL.
 * @param memory_bytes: bytes the module holds.
 */
void dotpool_metrics_snapshot_module(struct dotpool_metrics_snapshot* snap,
	const char* version, const char* unbound_version,
	uint64_t memory_bytes);

/**
 * Render a snapshot in the Prometheus text format 0.0.4. Every metric
 * family is written (HELP and TYPE) even with no rows.
 * @param snap: the snapshot (borrowed).
 * @param out: replaced by the text (its allocation is reused).
 * @return 0 or DOTPOOL_ENOMEM (out then holds a partial text).
 */
int dotpool_metrics_render(const struct dotpool_metrics_snapshot* snap,
	struct dotpool_metrics_buf* out);

/**
 * Append n bytes to a buffer, keeping it NUL-terminated.
 * @param buf: the buffer.
 * @param s: the bytes (copied).
 * @param n: how many.
 * @return 0 or DOTPOOL_ENOMEM (buf then holds what it had).
 */
int dotpool_metrics_buf_add(struct dotpool_metrics_buf* buf, const char* s,
	size_t n);

/** Free a buffer's text and zero it; buf may be NULL. */
void dotpool_metrics_buf_free(struct dotpool_metrics_buf* buf);

/**
 * Append a label value escaped for the text format (backslash, double
 * quote and newline), without the surrounding quotes.
 * @return 0 or DOTPOOL_ENOMEM.
 */
int dotpool_metrics_escape(struct dotpool_metrics_buf* buf, const char* s);

/** What a request to the endpoint asks for, as far as it has arrived. */
enum dotpool_metrics_req {
	/** the end of the headers has not arrived: read more */
	DOTPOOL_METRICS_REQ_INCOMPLETE = 0,
	/** GET /metrics (a query string or fragment is ignored): 200 */
	DOTPOOL_METRICS_REQ_GET,
	/** HEAD /metrics: 200, headers only */
	DOTPOOL_METRICS_REQ_HEAD,
	/** no "METHOD SP target SP HTTP/1.x" line, or a NUL byte: 400 */
	DOTPOOL_METRICS_REQ_BAD,
	/** a method other than GET and HEAD: 405 */
	DOTPOOL_METRICS_REQ_METHOD,
	/** a path other than /metrics: 404 */
	DOTPOOL_METRICS_REQ_NOT_FOUND,
	/** DOTPOOL_METRICS_MAX_REQUEST bytes without the end of the
	 * headers: 431 */
	DOTPOOL_METRICS_REQ_TOO_LARGE
};

/** Name of a request verdict for logs and tests. */
const char* dotpool_metrics_req_str(enum dotpool_metrics_req r);

/**
 * Judge the bytes a client has sent so far. The request is complete at the
 * first empty line (CRLF CRLF, or LF LF); only its request line is read,
 * headers are ignored. Bytes after a NUL are never looked at.
 * @param req: the bytes received (borrowed; need not be NUL-terminated).
 * @param len: how many.
 * @return the verdict; INCOMPLETE means wait for more bytes.
 */
enum dotpool_metrics_req dotpool_metrics_parse_request(const char* req,
	size_t len);

/**
 * Fill a snapshot for one scrape; called on the metrics thread with an
 * empty snapshot.
 * @param snap: add rows and module values here.
 * @param arg: the arg given to dotpool_metrics_start.
 * @return 0, or a DOTPOOL_E* code: the scrape then gets a 500.
 */
typedef int (*dotpool_metrics_collect_fn)(
	struct dotpool_metrics_snapshot* snap, void* arg);

struct dotpool_metrics;

/**
 * Listen on an address and serve scrapes on a new thread. All signals are
 * blocked on that thread.
 * @param addr: "IP@port", IPv4 or IPv6 (e.g. "127.0.0.1@9153",
 *	"::1@9153"); port 0 picks a free port (see dotpool_metrics_port).
 * @param collect: fills a snapshot per scrape.
 * @param arg: passed to collect (borrowed; must stay valid until
 *	dotpool_metrics_stop returns).
 * @param err: returns a message on failure ("metrics-listen IP@port: ...").
 * @param errlen: size of err.
 * @return the server or NULL (message in err).
 */
struct dotpool_metrics* dotpool_metrics_start(const char* addr,
	dotpool_metrics_collect_fn collect, void* arg, char* err,
	size_t errlen);

/** The port the server listens on (useful after port 0). */
int dotpool_metrics_port(const struct dotpool_metrics* m);

/**
 * Wake the server thread, join it, close every socket and free the server.
 * Safe in Unbound's deinit (touches no event base). m may be NULL.
 */
void dotpool_metrics_stop(struct dotpool_metrics* m);

#endif /* DOTPOOL_METRICS_H */
