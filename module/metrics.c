/**
 * \file
 * The Prometheus side of the metrics endpoint: the snapshot one scrape
 * fills, and its rendering in the text exposition format. Pure: no
 * sockets, no threads; module/httpd.c serves what this renders.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dotpool/error.h"
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

int
dotpool_metrics_buf_add(struct dotpool_metrics_buf* b, const char* s,
	size_t n)
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
	return dotpool_metrics_buf_add(b, s, strlen(s));
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
		if(dotpool_metrics_buf_add(buf, run, (size_t)(s - run)) < 0 ||
			buf_str(buf, rep) < 0)
			return DOTPOOL_ENOMEM;
		run = s + 1;
	}
	return dotpool_metrics_buf_add(buf, run, (size_t)(s - run));
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

/** The gauges that merge as the worse of the workers' values, not as a
 * sum: an upstream is up only when every worker has seen it work (health
 * and unverified grow with trouble), suspect when one worker suspects it,
 * and its round trip and soft deadline are the slowest any worker measured
 * (each worker learns its own, and an average would hide the one that is
 * waiting). */
static const size_t worst_fields[] = {
	offsetof(struct dotpool_stats, health),
	offsetof(struct dotpool_stats, unverified),
	offsetof(struct dotpool_stats, suspect),
	offsetof(struct dotpool_stats, srtt_us),
	offsetof(struct dotpool_stats, rttvar_us),
	offsetof(struct dotpool_stats, soft_us)
};

/** Merge src into dst: sums, except worst_fields. */
static void
stats_merge(struct dotpool_stats* dst, const struct dotpool_stats* src)
{
	int64_t worst[sizeof(worst_fields) / sizeof(worst_fields[0])];
	size_t i;
	for(i = 0; i < sizeof(worst) / sizeof(worst[0]); i++) {
		int64_t a = field_i64(dst, worst_fields[i]);
		int64_t b = field_i64(src, worst_fields[i]);
		worst[i] = a > b ? a : b;
	}
	dotpool_stats_add(dst, src);
	for(i = 0; i < sizeof(worst) / sizeof(worst[0]); i++)
		memcpy((char*)dst + worst_fields[i], &worst[i],
			sizeof(worst[i]));
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
	{ "dotpool_hedges_soft_deadline_total",
	  "Of the hedges sent to this upstream, those sent at the first "
	  "attempt's soft deadline (hedge-delay auto); the rest followed a "
	  "fixed hedge-delay.",
	  offsetof(struct dotpool_stats, hedges_soft) },
	{ "dotpool_hedges_refused_total",
	  "Hedges this upstream's slow attempts called for that the worker's "
	  "hedge budget (hedge-max-percent, hedge-burst) refused.",
	  offsetof(struct dotpool_stats, hedges_refused) },
	{ "dotpool_suspect_total",
	  "Times the upstream turned suspect: an attempt past its soft "
	  "deadline and nothing answered since it was sent.",
	  offsetof(struct dotpool_stats, suspects) },
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
	{ "dotpool_upstream_suspect",
	  "1 while the upstream is suspect on some thread: new queries skip "
	  "it and it is probed until it answers.",
	  offsetof(struct dotpool_stats, suspect) },
	{ NULL, NULL, 0 }
};

/** Gauges kept in µs, exported in seconds. */
static const struct metric_field gauges_us[] = {
	{ "dotpool_upstream_srtt_seconds",
	  "Smoothed round trip of the upstream's answers (the slowest of the "
	  "threads' estimates), 0 before the first.",
	  offsetof(struct dotpool_stats, srtt_us) },
	{ "dotpool_upstream_rttvar_seconds",
	  "Variation of the round trip (RTTVAR, of the same thread).",
	  offsetof(struct dotpool_stats, rttvar_us) },
	{ "dotpool_upstream_soft_deadline_seconds",
	  "Soft deadline of an attempt to the upstream (SRTT + 4 RTTVAR "
	  "within soft-deadline-min and -max; the largest of the threads').",
	  offsetof(struct dotpool_stats, soft_us) },
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

/** How render_fields writes a field. */
enum field_kind {
	/** a counter */
	FIELD_COUNTER,
	/** a gauge */
	FIELD_GAUGE,
	/** a gauge kept in µs, written in seconds */
	FIELD_GAUGE_US
};

/** Write one family of plain per-row counters or gauges. */
static int
render_fields(struct dotpool_metrics_buf* b,
	const struct dotpool_metrics_snapshot* snap,
	const struct metric_field* f, enum field_kind kind)
{
	size_t i;
	if(family(b, f->name, kind == FIELD_COUNTER ? "counter" : "gauge",
		f->help) < 0)
		return DOTPOOL_ENOMEM;
	for(i = 0; i < snap->num; i++) {
		const struct dotpool_metrics_row* r = &snap->rows[i];
		int64_t v = field_i64(&r->stats, f->off);
		int n;
		if(series(b, f->name, r, NULL, NULL) < 0)
			return DOTPOOL_ENOMEM;
		if(kind == FIELD_COUNTER)
			n = buf_printf(b, "%" PRIu64 "\n",
				field_u64(&r->stats, f->off));
		else if(kind == FIELD_GAUGE_US)
			n = buf_printf(b, "%" PRId64 ".%06" PRId64 "\n",
				(v < 0 ? 0 : v) / 1000000,
				(v < 0 ? 0 : v) % 1000000);
		else	n = buf_printf(b, "%" PRId64 "\n", v);
		if(n < 0)
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

/** Write a 0/1 series per row: verified, and with healthy also up. */
static int
render_flag(struct dotpool_metrics_buf* b,
	const struct dotpool_metrics_snapshot* snap, const char* name,
	int healthy)
{
	size_t i;
	for(i = 0; i < snap->num; i++) {
		const struct dotpool_stats* st = &snap->rows[i].stats;
		if(series(b, name, &snap->rows[i], NULL, NULL) < 0 ||
			buf_printf(b, "%d\n", !st->unverified && (!healthy ||
			st->health == DOTPOOL_UP)) < 0)
			return DOTPOOL_ENOMEM;
	}
	return 0;
}

/** Write dotpool_upstream_up, dotpool_upstream_verified and the
 * dotpool_upstream_health state set. */
static int
render_health(struct dotpool_metrics_buf* b,
	const struct dotpool_metrics_snapshot* snap)
{
	size_t i, s;
	const size_t nstates = sizeof(health_states) / sizeof(health_states[0]);
	/* up needs proof: an upstream nobody has heard answer yet is not
	 * up, or a readiness check would pass before any contact */
	if(family(b, "dotpool_upstream_up", "gauge",
		"1 when the upstream has answered and is healthy, 0 when not "
		"verified yet, backing off or down.") < 0 ||
		render_flag(b, snap, "dotpool_upstream_up", 1) < 0 ||
		family(b, "dotpool_upstream_verified", "gauge",
		"1 once the upstream has answered a DNS query (a probe or a "
		"client's) on every thread that has it.") < 0 ||
		render_flag(b, snap, "dotpool_upstream_verified", 0) < 0)
		return DOTPOOL_ENOMEM;
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
		if(render_fields(out, snap, f, FIELD_COUNTER) < 0)
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
		if(render_fields(out, snap, f, FIELD_GAUGE) < 0)
			return DOTPOOL_ENOMEM;
	}
	for(f = gauges_us; f->name; f++) {
		if(render_fields(out, snap, f, FIELD_GAUGE_US) < 0)
			return DOTPOOL_ENOMEM;
	}
	return render_health(out, snap);
}
