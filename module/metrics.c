/**
 * \file
 * The Prometheus endpoint: snapshot, text renderer and a one-thread HTTP
 * server. The server polls its listening socket, a self-pipe that stop()
 * writes to, and at most DOTPOOL_METRICS_MAX_CLIENTS non-blocking
 * connections, each with a deadline, so that neither a slow nor a silent
 * client can hold up a scrape or the shutdown. Worker threads never wait
 * for anything here: the collect function reads what they publish.
 */
#ifndef _GNU_SOURCE
/* accept4() and pipe2() */
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include "dotpool/error.h"
#include "dotpool/log.h"
#include "dotpool/metrics.h"
#include "dotpool/pool.h"

/* ------------------------------------------------------------------------ */
/* text buffer */

/**
 * Make room for n more bytes and the NUL.
 * @return 0 or DOTPOOL_ENOMEM.
 */
static int
buf_reserve(struct dotpool_metrics_buf* b, size_t n)
{
	size_t want = b->len + n + 1;
	size_t cap;
	char* d;
	if(want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 1024;
	while(cap < want)
		cap *= 2;
	d = realloc(b->data, cap);
	if(!d)
		return DOTPOOL_ENOMEM;
	b->data = d;
	b->cap = cap;
	return 0;
}

/** Append n bytes. @return 0 or DOTPOOL_ENOMEM. */
static int
buf_add(struct dotpool_metrics_buf* b, const char* s, size_t n)
{
	if(buf_reserve(b, n) < 0)
		return DOTPOOL_ENOMEM;
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = 0;
	return 0;
}

/** Append a string. @return 0 or DOTPOOL_ENOMEM. */
static int
buf_str(struct dotpool_metrics_buf* b, const char* s)
{
	return buf_add(b, s, strlen(s));
}

/** Append formatted text. @return 0 or DOTPOOL_ENOMEM. */
static int
buf_printf(struct dotpool_metrics_buf* b, const char* fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int
buf_printf(struct dotpool_metrics_buf* b, const char* fmt, ...)
{
	va_list ap;
	int n;
	if(buf_reserve(b, 128) < 0)
		return DOTPOOL_ENOMEM;
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if(n < 0)
		return DOTPOOL_EINVAL;
	if((size_t)n >= b->cap - b->len) {
		if(buf_reserve(b, (size_t)n) < 0) {
			b->data[b->len] = 0;
			return DOTPOOL_ENOMEM;
		}
		va_start(ap, fmt);
		n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if(n < 0)
			return DOTPOOL_EINVAL;
	}
	b->len += (size_t)n;
	return 0;
}

void
dotpool_metrics_buf_free(struct dotpool_metrics_buf* buf)
{
	if(!buf)
		return;
	free(buf->data);
	buf->data = NULL;
	buf->len = 0;
	buf->cap = 0;
}

int
dotpool_metrics_escape(struct dotpool_metrics_buf* buf, const char* s)
{
	const char* run = s;
	for(; *s; s++) {
		const char* rep;
		if(*s == '\\')
			rep = "\\\\";
		else if(*s == '"')
			rep = "\\\"";
		else if(*s == '\n')
			rep = "\\n";
		else
			continue;
		if(buf_add(buf, run, (size_t)(s - run)) < 0 ||
			buf_str(buf, rep) < 0)
			return DOTPOOL_ENOMEM;
		run = s + 1;
	}
	return buf_add(buf, run, (size_t)(s - run));
}

/* ------------------------------------------------------------------------ */
/* snapshot */

struct dotpool_metrics_snapshot*
dotpool_metrics_snapshot_new(void)
{
	return calloc(1, sizeof(struct dotpool_metrics_snapshot));
}

void
dotpool_metrics_snapshot_clear(struct dotpool_metrics_snapshot* snap)
{
	size_t i;
	if(!snap)
		return;
	for(i = 0; i < snap->num; i++) {
		free(snap->rows[i].upstream);
		free(snap->rows[i].zone);
	}
	snap->num = 0;
	snap->version[0] = 0;
	snap->unbound_version[0] = 0;
	snap->memory_bytes = 0;
}

void
dotpool_metrics_snapshot_free(struct dotpool_metrics_snapshot* snap)
{
	if(!snap)
		return;
	dotpool_metrics_snapshot_clear(snap);
	free(snap->rows);
	free(snap);
}

/** Merge src into dst: sums, except health, which takes the worse. */
static void
stats_merge(struct dotpool_stats* dst, const struct dotpool_stats* src)
{
	int64_t health = dst->health > src->health ? dst->health :
		src->health;
	dotpool_stats_add(dst, src);
	dst->health = health;
}

int
dotpool_metrics_snapshot_add(struct dotpool_metrics_snapshot* snap,
	const char* upstream, const char* zone, const struct dotpool_stats* st)
{
	struct dotpool_metrics_row* r;
	size_t i;
	if(!snap || !upstream || !st)
		return DOTPOOL_EINVAL;
	if(!zone)
		zone = "";
	for(i = 0; i < snap->num; i++) {
		r = &snap->rows[i];
		if(strcmp(r->upstream, upstream) == 0 &&
			strcmp(r->zone, zone) == 0) {
			stats_merge(&r->stats, st);
			return 0;
		}
	}
	if(snap->num == snap->cap) {
		size_t cap = snap->cap ? snap->cap * 2 : 8;
		r = realloc(snap->rows, cap * sizeof(*r));
		if(!r)
			return DOTPOOL_ENOMEM;
		snap->rows = r;
		snap->cap = cap;
	}
	r = &snap->rows[snap->num];
	r->upstream = strdup(upstream);
	r->zone = strdup(zone);
	if(!r->upstream || !r->zone) {
		free(r->upstream);
		free(r->zone);
		return DOTPOOL_ENOMEM;
	}
	r->stats = *st;
	snap->num++;
	return 0;
}

/** What dotpool_metrics_add_pool hands to each upstream. */
struct add_pool_arg {
	/** the snapshot */
	struct dotpool_metrics_snapshot* snap;
	/** 0, or the first error */
	int rc;
};

/** dotpool_metrics_add_pool: one upstream, with its published counters. */
static void
add_upstream(struct dotpool_upstream* up, void* arg)
{
	struct add_pool_arg* a = arg;
	struct dotpool_stats st;
	const char* zone = dotpool_upstream_zone(up);
	int rc;
	dotpool_upstream_stats_read(up, &st);
	rc = dotpool_metrics_snapshot_add(a->snap, dotpool_upstream_name(up),
		zone ? zone : "", &st);
	if(rc < 0 && a->rc == 0)
		a->rc = rc;
}

int
dotpool_metrics_add_pool(struct dotpool_metrics_snapshot* snap,
	struct dotpool_pool* p)
{
	struct add_pool_arg a;
	a.snap = snap;
	a.rc = 0;
	dotpool_pool_foreach(p, add_upstream, &a);
	return a.rc;
}

void
dotpool_metrics_snapshot_module(struct dotpool_metrics_snapshot* snap,
	const char* version, const char* unbound_version,
	uint64_t memory_bytes)
{
	snprintf(snap->version, sizeof(snap->version), "%s",
		version ? version : "");
	snprintf(snap->unbound_version, sizeof(snap->unbound_version), "%s",
		unbound_version ? unbound_version : "");
	snap->memory_bytes = memory_bytes;
}

/* ------------------------------------------------------------------------ */
/* renderer */

/** A per-row metric that is one field of struct dotpool_stats. */
struct metric_field {
	/** metric name */
	const char* name;
	/** help text (no backslash or newline) */
	const char* help;
	/** offset of the field in struct dotpool_stats */
	size_t off;
};

/** Counters without an extra label. */
static const struct metric_field counters[] = {
	{ "dotpool_queries_sent_total",
	  "Queries written to the upstream, re-sends included.",
	  offsetof(struct dotpool_stats, queries) },
	{ "dotpool_timeouts_total",
	  "Attempts that got no answer in time.",
	  offsetof(struct dotpool_stats, timeouts) },
	{ "dotpool_dropped_answers_total",
	  "Answers dropped: unknown ID, wrong question or duplicate.",
	  offsetof(struct dotpool_stats, dropped) },
	{ "dotpool_resends_total",
	  "Queries re-sent after a lost connection.",
	  offsetof(struct dotpool_stats, resends) },
	{ "dotpool_failovers_total",
	  "Attempts moved from this upstream to another.",
	  offsetof(struct dotpool_stats, failovers) },
	{ "dotpool_hedges_total",
	  "Hedged second attempts sent to this upstream.",
	  offsetof(struct dotpool_stats, hedges) },
	{ "dotpool_connections_opened_total",
	  "TCP connections opened.",
	  offsetof(struct dotpool_stats, conns_opened) },
	{ "dotpool_idle_closed_by_peer_total",
	  "Idle connections closed by the upstream (not a failure).",
	  offsetof(struct dotpool_stats, idle_closed_by_peer) },
	{ NULL, NULL, 0 }
};

/** Gauges without an extra label. */
static const struct metric_field gauges[] = {
	{ "dotpool_queries_inflight",
	  "Queries sent and waiting for their answer.",
	  offsetof(struct dotpool_stats, inflight) },
	{ "dotpool_queries_queued",
	  "Queries waiting for a connection.",
	  offsetof(struct dotpool_stats, queued) },
	{ "dotpool_connections_open",
	  "Connections open.",
	  offsetof(struct dotpool_stats, conns_open) },
	{ "dotpool_connections_idle",
	  "Connections open with no query in flight.",
	  offsetof(struct dotpool_stats, conns_idle) },
	{ NULL, NULL, 0 }
};

/** Error classes: value of the class label and the field. */
static const struct metric_field error_classes[] = {
	{ "connect", NULL, offsetof(struct dotpool_stats, err_connect) },
	{ "tls", NULL, offsetof(struct dotpool_stats, err_tls) },
	{ "verify", NULL, offsetof(struct dotpool_stats, err_verify) },
	{ "protocol", NULL, offsetof(struct dotpool_stats, err_proto) },
	{ "closed", NULL, offsetof(struct dotpool_stats, err_closed) },
	{ NULL, NULL, 0 }
};

/** Handshake kinds: value of the kind label and the field. */
static const struct metric_field handshake_kinds[] = {
	{ "full", NULL, offsetof(struct dotpool_stats, hs_full) },
	{ "resumed", NULL, offsetof(struct dotpool_stats, hs_resumed) },
	{ NULL, NULL, 0 }
};

/** Names of the DNS rcodes 0..15 (RFC 6895 registry). */
static const char* const rcode_names[16] = {
	"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
	"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "DSOTYPENI",
	"RCODE12", "RCODE13", "RCODE14", "RCODE15"
};

/** Rcodes below this always get a series; the rest only once seen. */
#define RCODE_ALWAYS 6

/** Health states in enum dotpool_health order, for the state label. */
static const char* const health_states[] = { "up", "backoff", "down" };

/** Name of the latency histogram. */
#define LATENCY "dotpool_upstream_latency_seconds"

/** The unsigned counter at an offset in stats. */
static uint64_t
field_u64(const struct dotpool_stats* st, size_t off)
{
	uint64_t v;
	memcpy(&v, (const char*)st + off, sizeof(v));
	return v;
}

/** The signed gauge at an offset in stats. */
static int64_t
field_i64(const struct dotpool_stats* st, size_t off)
{
	int64_t v;
	memcpy(&v, (const char*)st + off, sizeof(v));
	return v;
}

/** Write the HELP and TYPE lines of a family. */
static int
family(struct dotpool_metrics_buf* b, const char* name, const char* type,
	const char* help)
{
	return buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
		name, type);
}

/**
 * Write `name{upstream="..",zone=".."` and, when extra is given,
 * `,extra="value"`, then `} `. Leaves the value to the caller.
 */
static int
series(struct dotpool_metrics_buf* b, const char* name,
	const struct dotpool_metrics_row* r, const char* extra,
	const char* value)
{
	if(buf_str(b, name) < 0 || buf_str(b, "{upstream=\"") < 0 ||
		dotpool_metrics_escape(b, r->upstream) < 0 ||
		buf_str(b, "\",zone=\"") < 0 ||
		dotpool_metrics_escape(b, r->zone) < 0 ||
		buf_str(b, "\"") < 0)
		return DOTPOOL_ENOMEM;
	if(extra && (buf_printf(b, ",%s=\"", extra) < 0 ||
		dotpool_metrics_escape(b, value) < 0 || buf_str(b, "\"") < 0))
		return DOTPOOL_ENOMEM;
	return buf_str(b, "} ");
}

/** Write one family of plain per-row counters or gauges. */
static int
render_fields(struct dotpool_metrics_buf* b,
	const struct dotpool_metrics_snapshot* snap,
	const struct metric_field* f, int is_counter)
{
	size_t i;
	if(family(b, f->name, is_counter ? "counter" : "gauge", f->help) < 0)
		return DOTPOOL_ENOMEM;
	for(i = 0; i < snap->num; i++) {
		const struct dotpool_metrics_row* r = &snap->rows[i];
		if(series(b, f->name, r, NULL, NULL) < 0)
			return DOTPOOL_ENOMEM;
		if(is_counter) {
			if(buf_printf(b, "%" PRIu64 "\n",
				field_u64(&r->stats, f->off)) < 0)
				return DOTPOOL_ENOMEM;
		} else if(buf_printf(b, "%" PRId64 "\n",
			field_i64(&r->stats, f->off)) < 0)
			return DOTPOOL_ENOMEM;
	}
	return 0;
}

/** Write a counter family with one extra label taken from a table. */
static int
render_labelled(struct dotpool_metrics_buf* b,
	const struct dotpool_metrics_snapshot* snap, const char* name,
	const char* help, const char* label,
	const struct metric_field* values)
{
	size_t i;
	const struct metric_field* v;
	if(family(b, name, "counter", help) < 0)
		return DOTPOOL_ENOMEM;
	for(i = 0; i < snap->num; i++) {
		for(v = values; v->name; v++) {
			if(series(b, name, &snap->rows[i], label, v->name) < 0
				|| buf_printf(b, "%" PRIu64 "\n",
				field_u64(&snap->rows[i].stats, v->off)) < 0)
				return DOTPOOL_ENOMEM;
		}
	}
	return 0;
}

/** Write the answers by rcode. */
static int
render_rcodes(struct dotpool_metrics_buf* b,
	const struct dotpool_metrics_snapshot* snap)
{
	const char* name = "dotpool_answers_total";
	size_t i;
	int rc;
	if(family(b, name, "counter",
		"Answers received, by DNS response code.") < 0)
		return DOTPOOL_ENOMEM;
	for(i = 0; i < snap->num; i++) {
		const struct dotpool_metrics_row* r = &snap->rows[i];
		for(rc = 0; rc < 16; rc++) {
			if(rc >= RCODE_ALWAYS && r->stats.rcode[rc] == 0)
				continue;
			if(series(b, name, r, "rcode", rcode_names[rc]) < 0 ||
				buf_printf(b, "%" PRIu64 "\n",
				r->stats.rcode[rc]) < 0)
				return DOTPOOL_ENOMEM;
		}
	}
	return 0;
}

/**
 * Write a histogram bound in seconds from milliseconds, in the shortest
 * form that reads back as the same double.
 */
static void
format_le(char* out, size_t len, double ms)
{
	double s = ms / 1000.0;
	int prec;
	for(prec = 1; prec < 17; prec++) {
		snprintf(out, len, "%.*g", prec, s);
		if(strtod(out, NULL) == s)
			return;
	}
	snprintf(out, len, "%.17g", s);
}

/**
 * Write the latency histogram. stats.h keeps a count per bucket; Prometheus
 * wants each bucket to count every sample at or below its bound, so the
 * counts are accumulated, and _count is the +Inf bucket so the two agree
 * even when a worker wrote in the middle of the read.
 */
static int
render_latency(struct dotpool_metrics_buf* b,
	const struct dotpool_metrics_snapshot* snap)
{
	size_t i;
	int k;
	char le[40];
	if(family(b, LATENCY, "histogram",
		"Time from writing a query to its answer, per upstream.") < 0)
		return DOTPOOL_ENOMEM;
	for(i = 0; i < snap->num; i++) {
		const struct dotpool_metrics_row* r = &snap->rows[i];
		uint64_t cum = 0;
		for(k = 0; k < DOTPOOL_LAT_BUCKETS; k++) {
			cum += r->stats.lat_bucket[k];
			if(k == DOTPOOL_LAT_BUCKETS - 1)
				snprintf(le, sizeof(le), "+Inf");
			else
				format_le(le, sizeof(le),
					dotpool_lat_bounds_ms[k]);
			if(series(b, LATENCY "_bucket", r, "le", le) < 0 ||
				buf_printf(b, "%" PRIu64 "\n", cum) < 0)
				return DOTPOOL_ENOMEM;
		}
		if(series(b, LATENCY "_sum", r, NULL, NULL) < 0 ||
			buf_printf(b, "%" PRIu64 ".%06" PRIu64 "\n",
			r->stats.lat_sum_us / 1000000,
			r->stats.lat_sum_us % 1000000) < 0 ||
			series(b, LATENCY "_count", r, NULL, NULL) < 0 ||
			buf_printf(b, "%" PRIu64 "\n", cum) < 0)
			return DOTPOOL_ENOMEM;
	}
	return 0;
}

/** Write dotpool_upstream_up and the dotpool_upstream_health state set. */
static int
render_health(struct dotpool_metrics_buf* b,
	const struct dotpool_metrics_snapshot* snap)
{
	size_t i, s;
	const size_t nstates = sizeof(health_states) / sizeof(health_states[0]);
	if(family(b, "dotpool_upstream_up", "gauge",
		"1 when the upstream is healthy, 0 when backing off or down.")
		< 0)
		return DOTPOOL_ENOMEM;
	for(i = 0; i < snap->num; i++) {
		if(series(b, "dotpool_upstream_up", &snap->rows[i], NULL,
			NULL) < 0 || buf_printf(b, "%d\n",
			snap->rows[i].stats.health == DOTPOOL_UP) < 0)
			return DOTPOOL_ENOMEM;
	}
	if(family(b, "dotpool_upstream_health", "gauge",
		"Health state of the upstream: 1 for the current state.") < 0)
		return DOTPOOL_ENOMEM;
	for(i = 0; i < snap->num; i++) {
		int64_t h = snap->rows[i].stats.health;
		for(s = 0; s < nstates; s++) {
			if(series(b, "dotpool_upstream_health", &snap->rows[i],
				"state", health_states[s]) < 0 ||
				buf_printf(b, "%d\n", h == (int64_t)s) < 0)
				return DOTPOOL_ENOMEM;
		}
	}
	return 0;
}

/** Write the module-level families. */
static int
render_module(struct dotpool_metrics_buf* b,
	const struct dotpool_metrics_snapshot* snap)
{
	if(family(b, "dotpool_build_info", "gauge",
		"Always 1; labels give the dotpool and Unbound versions.") < 0
		|| buf_str(b, "dotpool_build_info{version=\"") < 0 ||
		dotpool_metrics_escape(b, snap->version) < 0 ||
		buf_str(b, "\",unbound_version=\"") < 0 ||
		dotpool_metrics_escape(b, snap->unbound_version) < 0 ||
		buf_str(b, "\"} 1\n") < 0)
		return DOTPOOL_ENOMEM;
	if(family(b, "dotpool_memory_bytes", "gauge",
		"Bytes of memory the module holds.") < 0 ||
		buf_printf(b, "dotpool_memory_bytes %" PRIu64 "\n",
		snap->memory_bytes) < 0)
		return DOTPOOL_ENOMEM;
	return 0;
}

int
dotpool_metrics_render(const struct dotpool_metrics_snapshot* snap,
	struct dotpool_metrics_buf* out)
{
	const struct metric_field* f;
	out->len = 0;
	if(buf_reserve(out, 0) < 0)
		return DOTPOOL_ENOMEM;
	out->data[0] = 0;
	if(render_module(out, snap) < 0)
		return DOTPOOL_ENOMEM;
	for(f = counters; f->name; f++) {
		if(render_fields(out, snap, f, 1) < 0)
			return DOTPOOL_ENOMEM;
	}
	if(render_rcodes(out, snap) < 0 ||
		render_labelled(out, snap, "dotpool_errors_total",
		"Failed attempts and connections, by class.", "class",
		error_classes) < 0 ||
		render_labelled(out, snap, "dotpool_handshakes_total",
		"TLS handshakes completed, full or resumed.", "kind",
		handshake_kinds) < 0 ||
		render_latency(out, snap) < 0)
		return DOTPOOL_ENOMEM;
	for(f = gauges; f->name; f++) {
		if(render_fields(out, snap, f, 0) < 0)
			return DOTPOOL_ENOMEM;
	}
	return render_health(out, snap);
}

/* ------------------------------------------------------------------------ */
/* HTTP server */

/** One accepted connection. */
struct metrics_client {
	/** socket, -1 when the slot is free */
	int fd;
	/** monotonic ms when it was accepted */
	uint64_t accepted;
	/** monotonic ms after which the connection is dropped */
	uint64_t deadline;
	/** request bytes read so far */
	size_t reqlen;
	/** whether the response is being written */
	int writing;
	/** bytes of out already written */
	size_t outpos;
	/** the response */
	struct dotpool_metrics_buf out;
	/** the request, NUL-terminated */
	char req[DOTPOOL_METRICS_MAX_REQUEST + 1];
};

/** The server. */
struct dotpool_metrics {
	/** listening socket */
	int lfd;
	/** self-pipe: stop() writes to [1], the thread polls [0] */
	int wake[2];
	/** port listened on */
	int port;
	/** the server thread */
	pthread_t thread;
	/** whether the thread runs */
	int running;
	/** fills a snapshot */
	dotpool_metrics_collect_fn collect;
	/** for collect */
	void* arg;
	/** reused per scrape (metrics thread only) */
	struct dotpool_metrics_snapshot* snap;
	/** rendered body, reused per scrape (metrics thread only) */
	struct dotpool_metrics_buf body;
	/** connections */
	struct metrics_client clients[DOTPOOL_METRICS_MAX_CLIENTS];
	/** monotonic ms until which the listener is not polled (accept
	 * failed for lack of resources), 0 when it is */
	uint64_t accept_pause;
	/** whether the current run of failing accepts was logged */
	int accept_logged;
};

/** Monotonic time in ms. */
static uint64_t
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/** Close a connection and free its slot. */
static void
client_close(struct metrics_client* c)
{
	if(c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->reqlen = 0;
	c->writing = 0;
	c->outpos = 0;
	dotpool_metrics_buf_free(&c->out);
}

/**
 * Queue a response on a connection.
 * @param c: the connection.
 * @param status: "200 OK" etc.
 * @param ctype: content type.
 * @param body: body text.
 * @param blen: its length.
 * @param head_only: HEAD: headers only.
 */
static void
client_respond(struct metrics_client* c, const char* status,
	const char* ctype, const char* body, size_t blen, int head_only)
{
	c->out.len = 0;
	if(buf_printf(&c->out, "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
		"Content-Length: %zu\r\nCache-Control: no-store\r\n"
		"Connection: close\r\n\r\n", status, ctype, blen) < 0 ||
		(!head_only && buf_add(&c->out, body, blen) < 0)) {
		/* out of memory: nothing sensible can be sent */
		client_close(c);
		return;
	}
	c->writing = 1;
	c->outpos = 0;
}

/** Respond with a short plain-text error. */
static void
client_error(struct metrics_client* c, const char* status, const char* text)
{
	client_respond(c, status, "text/plain; charset=utf-8", text,
		strlen(text), 0);
}

/** Answer a request that dotpool_metrics_parse_request judged complete. */
static void
client_handle(struct dotpool_metrics* m, struct metrics_client* c,
	enum dotpool_metrics_req r)
{
	switch(r) {
	case DOTPOOL_METRICS_REQ_GET:
	case DOTPOOL_METRICS_REQ_HEAD:
		break;
	case DOTPOOL_METRICS_REQ_METHOD:
		client_error(c, "405 Method Not Allowed",
			"only GET and HEAD\n");
		return;
	case DOTPOOL_METRICS_REQ_NOT_FOUND:
		client_error(c, "404 Not Found", "not found; try /metrics\n");
		return;
	case DOTPOOL_METRICS_REQ_TOO_LARGE:
		client_error(c, "431 Request Header Fields Too Large",
			"request too large\n");
		return;
	case DOTPOOL_METRICS_REQ_INCOMPLETE:
	case DOTPOOL_METRICS_REQ_BAD:
	default:
		client_error(c, "400 Bad Request", "bad request\n");
		return;
	}
	dotpool_metrics_snapshot_clear(m->snap);
	if(m->collect(m->snap, m->arg) < 0 ||
		dotpool_metrics_render(m->snap, &m->body) < 0) {
		client_error(c, "500 Internal Server Error",
			"could not collect the metrics\n");
		return;
	}
	client_respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8",
		m->body.data, m->body.len, r == DOTPOOL_METRICS_REQ_HEAD);
}

/** Read what a connection sent; answer when the request is complete. */
static void
client_read(struct dotpool_metrics* m, struct metrics_client* c)
{
	ssize_t n;
	size_t room = DOTPOOL_METRICS_MAX_REQUEST - c->reqlen;
	enum dotpool_metrics_req r;
	n = recv(c->fd, c->req + c->reqlen, room, 0);
	if(n == 0) {
		client_close(c);
		return;
	}
	if(n < 0) {
		if(errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			client_close(c);
		return;
	}
	c->reqlen += (size_t)n;
	c->req[c->reqlen] = 0;
	r = dotpool_metrics_parse_request(c->req, c->reqlen);
	if(r != DOTPOOL_METRICS_REQ_INCOMPLETE)
		client_handle(m, c, r);
}

/** Write more of the response; close when all is written. */
static void
client_write(struct metrics_client* c)
{
	ssize_t n = send(c->fd, c->out.data + c->outpos,
		c->out.len - c->outpos, MSG_NOSIGNAL);
	if(n < 0) {
		if(errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			client_close(c);
		return;
	}
	c->outpos += (size_t)n;
	if(c->outpos == c->out.len) {
		shutdown(c->fd, SHUT_WR);
		client_close(c);
	}
}

/**
 * A slot for a new connection: a free one, else the oldest connection that
 * has had its grace time and has not sent a whole request (it is dropped).
 * A connection being answered is never dropped.
 * @return the slot, or NULL when none can be had now.
 */
static struct metrics_client*
server_slot(struct dotpool_metrics* m, uint64_t now)
{
	struct metrics_client* victim = NULL;
	int i;
	for(i = 0; i < DOTPOOL_METRICS_MAX_CLIENTS; i++) {
		struct metrics_client* c = &m->clients[i];
		if(c->fd == -1)
			return c;
		if(c->writing || now < c->accepted + DOTPOOL_METRICS_GRACE_MS)
			continue;
		if(!victim || c->accepted < victim->accepted)
			victim = c;
	}
	if(victim)
		client_close(victim);
	return victim;
}

/**
 * When a slot for a new connection can be had: now (0) or the monotonic ms
 * when the first connection's grace time ends.
 */
static uint64_t
server_slot_at(const struct dotpool_metrics* m)
{
	uint64_t at = 0;
	int i;
	for(i = 0; i < DOTPOOL_METRICS_MAX_CLIENTS; i++) {
		const struct metrics_client* c = &m->clients[i];
		uint64_t t;
		if(c->fd == -1)
			return 0;
		if(c->writing)
			continue;
		t = c->accepted + DOTPOOL_METRICS_GRACE_MS;
		if(at == 0 || t < at)
			at = t;
	}
	/* every connection is being answered: one finishes by its deadline */
	if(at == 0)
		for(i = 0; i < DOTPOOL_METRICS_MAX_CLIENTS; i++)
			if(at == 0 || m->clients[i].deadline < at)
				at = m->clients[i].deadline;
	return at;
}

/** Accept waiting connections while slots can be had. */
static void
server_accept(struct dotpool_metrics* m, uint64_t now)
{
	int n, fd;
	for(n = 0; n < DOTPOOL_METRICS_MAX_CLIENTS; n++) {
		struct metrics_client* slot;
		if(server_slot_at(m) > now)
			return; /* the rest wait in the kernel's queue */
		fd = accept4(m->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if(fd == -1) {
			if(errno == EAGAIN || errno == EWOULDBLOCK ||
				errno == EINTR)
				return;
			if(errno == ECONNABORTED || errno == EPROTO)
				continue; /* that one is gone; others may wait */
			/* out of descriptors or memory: the connection stays
			 * queued and the listener readable; rest instead of
			 * spinning on it */
			m->accept_pause = now + DOTPOOL_METRICS_ACCEPT_PAUSE_MS;
			if(!m->accept_logged) {
				dotpool_log(DOTPOOL_LOG_WARN, "dotpool: metrics "
					"endpoint: accept failed: %s; retrying "
					"every %d ms", strerror(errno),
					DOTPOOL_METRICS_ACCEPT_PAUSE_MS);
				m->accept_logged = 1;
			}
			return;
		}
		if(m->accept_logged) {
			dotpool_log(DOTPOOL_LOG_OPS, "dotpool: metrics endpoint: "
				"accepting again");
			m->accept_logged = 0;
		}
		slot = server_slot(m, now);
		if(!slot) {
			/* server_slot_at said one was there */
			close(fd);
			return;
		}
		slot->fd = fd;
		slot->accepted = now;
		slot->deadline = now + DOTPOOL_METRICS_TIMEOUT_MS;
	}
}

/** The server thread: poll until stop() writes to the self-pipe. */
static void*
server_run(void* arg)
{
	struct dotpool_metrics* m = arg;
	struct pollfd pfd[DOTPOOL_METRICS_MAX_CLIENTS + 2];
	int idx[DOTPOOL_METRICS_MAX_CLIENTS + 2];
	for(;;) {
		int n = 0, i, timeout = -1;
		uint64_t now = now_ms(), listen_at;
		memset(pfd, 0, sizeof(pfd));
		pfd[n].fd = m->wake[0];
		pfd[n++].events = POLLIN;
		/* the listener rests while accept lacks resources or no slot
		 * can be had; poll ignores a negative fd */
		listen_at = server_slot_at(m);
		if(m->accept_pause > listen_at)
			listen_at = m->accept_pause;
		if(listen_at > now) {
			pfd[n].fd = -1;
			timeout = (int)(listen_at - now);
		} else
			pfd[n].fd = m->lfd;
		pfd[n++].events = POLLIN;
		for(i = 0; i < DOTPOOL_METRICS_MAX_CLIENTS; i++) {
			struct metrics_client* c = &m->clients[i];
			int left;
			if(c->fd == -1)
				continue;
			left = c->deadline > now ? (int)(c->deadline - now) : 0;
			if(timeout == -1 || left < timeout)
				timeout = left;
			idx[n] = i;
			pfd[n].fd = c->fd;
			pfd[n++].events = c->writing ? POLLOUT : POLLIN;
		}
		if(poll(pfd, (nfds_t)n, timeout) < 0 && errno != EINTR)
			break;
		if(pfd[0].revents)
			break;
		now = now_ms();
		for(i = 2; i < n; i++) {
			struct metrics_client* c = &m->clients[idx[i]];
			if(pfd[i].revents & (POLLIN | POLLOUT | POLLHUP |
				POLLERR)) {
				if(c->writing)
					client_write(c);
				else
					client_read(m, c);
				/* a request just answered: try to write now */
				if(c->fd != -1 && c->writing && c->outpos == 0)
					client_write(c);
			}
			if(c->fd != -1 && now >= c->deadline)
				client_close(c);
		}
		if(pfd[1].revents & POLLIN)
			server_accept(m, now);
	}
	return NULL;
}

/**
 * Parse "IP@port" (IPv6 optionally in brackets) into ss.
 * @return 0 or DOTPOOL_EINVAL.
 */
static int
parse_listen(const char* addr, struct sockaddr_storage* ss,
	socklen_t* sslen)
{
	char ip[INET6_ADDRSTRLEN + 2];
	const char* at = strrchr(addr, '@');
	char* end;
	long port;
	size_t iplen;
	if(!at || at == addr)
		return DOTPOOL_EINVAL;
	iplen = (size_t)(at - addr);
	if(iplen >= sizeof(ip))
		return DOTPOOL_EINVAL;
	memcpy(ip, addr, iplen);
	ip[iplen] = 0;
	if(ip[0] == '[' && iplen > 2 && ip[iplen - 1] == ']') {
		memmove(ip, ip + 1, iplen - 2);
		ip[iplen - 2] = 0;
	}
	errno = 0;
	port = strtol(at + 1, &end, 10);
	if(at[1] == 0 || *end != 0 || errno || port < 0 || port > 65535)
		return DOTPOOL_EINVAL;
	memset(ss, 0, sizeof(*ss));
	if(inet_pton(AF_INET, ip, &((struct sockaddr_in*)ss)->sin_addr) == 1) {
		struct sockaddr_in* sin = (struct sockaddr_in*)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*sslen = sizeof(*sin);
		return 0;
	}
	if(inet_pton(AF_INET6, ip,
		&((struct sockaddr_in6*)ss)->sin6_addr) == 1) {
		struct sockaddr_in6* sin6 = (struct sockaddr_in6*)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*sslen = sizeof(*sin6);
		return 0;
	}
	return DOTPOOL_EINVAL;
}

/** Close the sockets and free the server; the thread must not run. */
static void
server_free(struct dotpool_metrics* m)
{
	int i;
	for(i = 0; i < DOTPOOL_METRICS_MAX_CLIENTS; i++)
		client_close(&m->clients[i]);
	if(m->lfd != -1)
		close(m->lfd);
	if(m->wake[0] != -1)
		close(m->wake[0]);
	if(m->wake[1] != -1)
		close(m->wake[1]);
	dotpool_metrics_snapshot_free(m->snap);
	dotpool_metrics_buf_free(&m->body);
	free(m);
}

struct dotpool_metrics*
dotpool_metrics_start(const char* addr, dotpool_metrics_collect_fn collect,
	void* arg, char* err, size_t errlen)
{
	struct dotpool_metrics* m = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	sigset_t all, old;
	int i, on = 1, rc;

	if(!addr || !collect || parse_listen(addr, &ss, &sslen) < 0) {
		snprintf(err, errlen, "metrics-listen %s: expected IP@port",
			addr ? addr : "(null)");
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if(!m) {
		snprintf(err, errlen, "metrics-listen %s: out of memory",
			addr);
		return NULL;
	}
	m->lfd = m->wake[0] = m->wake[1] = -1;
	for(i = 0; i < DOTPOOL_METRICS_MAX_CLIENTS; i++)
		m->clients[i].fd = -1;
	m->collect = collect;
	m->arg = arg;
	m->snap = dotpool_metrics_snapshot_new();
	if(!m->snap) {
		snprintf(err, errlen, "metrics-listen %s: out of memory",
			addr);
		goto fail;
	}
	if(pipe2(m->wake, O_NONBLOCK | O_CLOEXEC) == -1) {
		snprintf(err, errlen, "metrics-listen %s: pipe: %s", addr,
			strerror(errno));
		goto fail;
	}
	m->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		SOCK_CLOEXEC, 0);
	if(m->lfd == -1) {
		snprintf(err, errlen, "metrics-listen %s: socket: %s", addr,
			strerror(errno));
		goto fail;
	}
	(void)setsockopt(m->lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if(ss.ss_family == AF_INET6)
		(void)setsockopt(m->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &on,
			sizeof(on));
	if(bind(m->lfd, (struct sockaddr*)&ss, sslen) == -1 ||
		listen(m->lfd, DOTPOOL_METRICS_MAX_CLIENTS) == -1) {
		snprintf(err, errlen, "metrics-listen %s: %s", addr,
			strerror(errno));
		goto fail;
	}
	sslen = sizeof(ss);
	if(getsockname(m->lfd, (struct sockaddr*)&ss, &sslen) == -1) {
		snprintf(err, errlen, "metrics-listen %s: getsockname: %s",
			addr, strerror(errno));
		goto fail;
	}
	m->port = ntohs(ss.ss_family == AF_INET6 ?
		((struct sockaddr_in6*)&ss)->sin6_port :
		((struct sockaddr_in*)&ss)->sin_port);
	/* the host's signals belong to its own threads, not this one */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&m->thread, NULL, server_run, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if(rc != 0) {
		snprintf(err, errlen, "metrics-listen %s: thread: %s", addr,
			strerror(rc));
		goto fail;
	}
	m->running = 1;
	return m;
fail:
	server_free(m);
	return NULL;
}

int
dotpool_metrics_port(const struct dotpool_metrics* m)
{
	return m->port;
}

void
dotpool_metrics_stop(struct dotpool_metrics* m)
{
	if(!m)
		return;
	if(m->running) {
		ssize_t n;
		do {
			n = write(m->wake[1], "x", 1);
		} while(n == -1 && errno == EINTR);
		pthread_join(m->thread, NULL);
		m->running = 0;
	}
	server_free(m);
}
