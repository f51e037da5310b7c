/**
 * \file
 * Unit tests of module/metrics.c: the snapshot and the text renderer (exact
 * lines, histogram, escaping, merging). The server is test_httpd.c's.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dotpool/error.h"
#include "dotpool/metrics.h"
#include "dotpool/pool.h"
#include "unit.h"

/** Upstream label used by the tests. */
#define UP1 "192.0.2.1@853#dns.example"
/** Zone label used by the tests. */
#define ZONE1 "example.com."

/** Whether text holds line as a whole line. */
static int
has_line(const char* text, const char* line)
{
	size_t n = strlen(line);
	const char* p = text;
	while((p = strstr(p, line)) != NULL) {
		if((p == text || p[-1] == '\n') && p[n] == '\n')
			return 1;
		p++;
	}
	return 0;
}

/** Counters with a distinct value in every field. */
static void
fill_stats(struct dotpool_stats* st)
{
	memset(st, 0, sizeof(*st));
	st->queries = 10;
	st->rcode[0] = 7;
	st->rcode[2] = 1;
	st->rcode[3] = 2;
	st->rcode[9] = 1;
	st->timeouts = 3;
	st->err_connect = 11;
	st->err_tls = 12;
	st->err_verify = 13;
	st->err_proto = 14;
	st->err_closed = 15;
	st->dropped = 16;
	st->resends = 17;
	st->failovers = 18;
	st->hedges = 19;
	st->conns_opened = 20;
	st->hs_full = 21;
	st->hs_resumed = 22;
	st->idle_closed_by_peer = 23;
	st->inflight = 24;
	st->conns_open = 25;
	st->conns_idle = 26;
	st->queued = 27;
	st->hedges_soft = 28;
	st->hedges_refused = 29;
	st->suspects = 30;
	st->suspect = 1;
	st->srtt_us = 41500;
	st->rttvar_us = 2250;
	st->soft_us = 1050000;
	st->health = DOTPOOL_BACKOFF;
}

/** Render one row of fill_stats() and module values; caller frees. */
static void
render_sample(struct dotpool_metrics_buf* out)
{
	struct dotpool_metrics_snapshot* snap = dotpool_metrics_snapshot_new();
	struct dotpool_stats st;
	UNIT_REQUIRE(snap != NULL, "metrics: snapshot_new allocates");
	fill_stats(&st);
	UNIT_REQUIRE(dotpool_metrics_snapshot_add(snap, UP1, ZONE1, &st) == 0,
		"metrics: snapshot_add succeeds");
	dotpool_metrics_snapshot_module(snap, "0.1.0", "1.17.1", 4096);
	UNIT_REQUIRE(dotpool_metrics_render(snap, out) == 0,
		"metrics: render succeeds");
	dotpool_metrics_snapshot_free(snap);
}

/** Every plain counter and gauge is on its own exact line. */
static void
test_render_exact(void)
{
	struct dotpool_metrics_buf out = { NULL, 0, 0 };
	static const char* const lines[] = {
		"dotpool_build_info{version=\"0.1.0\",unbound_version=\"1.17.1\"} 1",
		"# TYPE dotpool_build_info gauge",
		"dotpool_memory_bytes 4096",
		"# TYPE dotpool_memory_bytes gauge",
		"# TYPE dotpool_queries_sent_total counter",
		"dotpool_queries_sent_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 10",
		"dotpool_timeouts_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 3",
		"dotpool_dropped_answers_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 16",
		"dotpool_resends_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 17",
		"dotpool_failovers_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 18",
		"dotpool_hedges_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 19",
		"# TYPE dotpool_hedges_soft_deadline_total counter",
		"dotpool_hedges_soft_deadline_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 28",
		"dotpool_hedges_refused_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 29",
		"dotpool_suspect_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 30",
		"# TYPE dotpool_upstream_suspect gauge",
		"dotpool_upstream_suspect{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 1",
		"# TYPE dotpool_upstream_srtt_seconds gauge",
		"dotpool_upstream_srtt_seconds{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 0.041500",
		"dotpool_upstream_rttvar_seconds{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 0.002250",
		"dotpool_upstream_soft_deadline_seconds{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 1.050000",
		"dotpool_connections_opened_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 20",
		"dotpool_idle_closed_by_peer_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 23",
		"# TYPE dotpool_answers_total counter",
		"dotpool_answers_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\",rcode=\"NOERROR\"} 7",
		"dotpool_answers_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\",rcode=\"FORMERR\"} 0",
		"dotpool_answers_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\",rcode=\"SERVFAIL\"} 1",
		"dotpool_answers_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\",rcode=\"NXDOMAIN\"} 2",
		"dotpool_answers_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\",rcode=\"NOTIMP\"} 0",
		"dotpool_answers_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\",rcode=\"REFUSED\"} 0",
		"dotpool_answers_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\",rcode=\"NOTAUTH\"} 1",
		"# TYPE dotpool_errors_total counter",
		"dotpool_errors_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\",class=\"connect\"} 11",
		"dotpool_errors_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\",class=\"tls\"} 12",
		"dotpool_errors_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\",class=\"verify\"} 13",
		"dotpool_errors_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\",class=\"protocol\"} 14",
		"dotpool_errors_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\",class=\"closed\"} 15",
		"# TYPE dotpool_handshakes_total counter",
		"dotpool_handshakes_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\",kind=\"full\"} 21",
		"dotpool_handshakes_total{upstream=\"" UP1 "\",zone=\"" ZONE1 "\",kind=\"resumed\"} 22",
		"# TYPE dotpool_queries_inflight gauge",
		"dotpool_queries_inflight{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 24",
		"dotpool_connections_open{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 25",
		"dotpool_connections_idle{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 26",
		"dotpool_queries_queued{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 27",
		"# TYPE dotpool_upstream_up gauge",
		"dotpool_upstream_up{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 0",
		"# TYPE dotpool_upstream_verified gauge",
		"dotpool_upstream_verified{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 1",
		"# TYPE dotpool_upstream_health gauge",
		"dotpool_upstream_health{upstream=\"" UP1 "\",zone=\"" ZONE1 "\",state=\"up\"} 0",
		"dotpool_upstream_health{upstream=\"" UP1 "\",zone=\"" ZONE1 "\",state=\"backoff\"} 1",
		"dotpool_upstream_health{upstream=\"" UP1 "\",zone=\"" ZONE1 "\",state=\"down\"} 0",
		"# TYPE dotpool_upstream_latency_seconds histogram",
		NULL
	};
	size_t i;

	render_sample(&out);
	UNIT_REQUIRE(out.data != NULL, "metrics: render produced text");
	for(i = 0; lines[i]; i++)
		UNIT_CHECKF(has_line(out.data, lines[i]),
			"metrics: render has the line '%s'", lines[i]);
	UNIT_CHECK(!strstr(out.data, "rcode=\"YXDOMAIN\""),
		"metrics: a zero rcode above REFUSED gets no series");
	UNIT_CHECK(!strstr(out.data, "RCODE12"),
		"metrics: unassigned rcodes with zero count are left out");
	UNIT_CHECK(out.len == strlen(out.data),
		"metrics: buffer length matches the text");
	UNIT_CHECK(out.data[out.len - 1] == '\n',
		"metrics: text ends with a newline");
	dotpool_metrics_buf_free(&out);
	UNIT_CHECK(out.data == NULL && out.len == 0,
		"metrics: buf_free zeroes the buffer");
	dotpool_metrics_buf_free(NULL);
}

/**
 * Every sample line follows a HELP and a TYPE line of its family, and every
 * family is announced once.
 */
static void
test_render_families(void)
{
	struct dotpool_metrics_buf out = { NULL, 0, 0 };
	char seen_type[64][80];
	int ntypes = 0, i, samples = 0;
	char* line;
	char* save = NULL;
	char cur[80] = "";

	render_sample(&out);
	UNIT_REQUIRE(out.data != NULL, "metrics: render produced text");
	for(line = strtok_r(out.data, "\n", &save); line;
		line = strtok_r(NULL, "\n", &save)) {
		char name[80];
		size_t n;
		if(strncmp(line, "# HELP ", 7) == 0) {
			n = strcspn(line + 7, " ");
			UNIT_REQUIRE(n < sizeof(cur), "metrics: name fits");
			memcpy(cur, line + 7, n);
			cur[n] = 0;
			continue;
		}
		if(strncmp(line, "# TYPE ", 7) == 0) {
			n = strcspn(line + 7, " ");
			UNIT_CHECKF(strlen(cur) == n &&
				strncmp(line + 7, cur, n) == 0,
				"metrics: TYPE follows HELP of the same name: %s",
				line);
			for(i = 0; i < ntypes; i++)
				UNIT_CHECKF(strcmp(seen_type[i], cur) != 0,
					"metrics: family %s announced twice", cur);
			UNIT_REQUIRE(ntypes < 64, "metrics: few families");
			snprintf(seen_type[ntypes++], sizeof(seen_type[0]),
				"%s", cur);
			continue;
		}
		UNIT_CHECKF(line[0] != '#', "metrics: unknown comment %s",
			line);
		n = strcspn(line, "{ ");
		UNIT_REQUIRE(n < sizeof(name), "metrics: name fits");
		memcpy(name, line, n);
		name[n] = 0;
		samples++;
		UNIT_CHECKF(strncmp(name, cur, strlen(cur)) == 0 &&
			(name[strlen(cur)] == 0 ||
			 strcmp(name + strlen(cur), "_bucket") == 0 ||
			 strcmp(name + strlen(cur), "_sum") == 0 ||
			 strcmp(name + strlen(cur), "_count") == 0),
			"metrics: sample %s belongs to the family %s above it",
			name, cur);
	}
	UNIT_CHECKF(ntypes == 28, "metrics: 28 families rendered, got %d",
		ntypes);
	UNIT_CHECK(samples > 40, "metrics: samples were rendered");
	dotpool_metrics_buf_free(&out);
}

/** With no upstream, the families are still announced, nothing else. */
static void
test_render_empty(void)
{
	struct dotpool_metrics_snapshot* snap = dotpool_metrics_snapshot_new();
	struct dotpool_metrics_buf out = { NULL, 0, 0 };
	UNIT_REQUIRE(snap != NULL, "metrics: snapshot_new allocates");
	UNIT_REQUIRE(dotpool_metrics_render(snap, &out) == 0,
		"metrics: render of an empty snapshot succeeds");
	UNIT_CHECK(has_line(out.data, "# TYPE dotpool_errors_total counter"),
		"metrics: empty render still announces families");
	UNIT_CHECK(!strstr(out.data, "upstream="),
		"metrics: empty render has no per-upstream sample");
	UNIT_CHECK(has_line(out.data,
		"dotpool_build_info{version=\"\",unbound_version=\"\"} 1"),
		"metrics: build_info is always present");
	dotpool_metrics_buf_free(&out);
	dotpool_metrics_snapshot_free(snap);
}

/**
 * Parse the _bucket lines of the latency histogram into le bounds and
 * values; returns how many.
 */
static int
parse_buckets(const char* text, double* le, uint64_t* val, int max)
{
	const char* p = text;
	int n = 0;
	while((p = strstr(p, "dotpool_upstream_latency_seconds_bucket{"))
		!= NULL) {
		const char* q = strstr(p, "le=\"");
		const char* e;
		char tmp[40];
		if(!q || n == max)
			break;
		q += 4;
		e = strchr(q, '"');
		if(!e || (size_t)(e - q) >= sizeof(tmp))
			break;
		memcpy(tmp, q, (size_t)(e - q));
		tmp[e - q] = 0;
		le[n] = strcmp(tmp, "+Inf") == 0 ? -1.0 : strtod(tmp, NULL);
		val[n] = strtoull(e + 3, NULL, 10);
		n++;
		p = e;
	}
	return n;
}

/** Buckets are cumulative, bounds are the stats.h bounds in seconds. */
static void
test_histogram(void)
{
	struct dotpool_metrics_snapshot* snap = dotpool_metrics_snapshot_new();
	struct dotpool_metrics_buf out = { NULL, 0, 0 };
	struct dotpool_stats st;
	double le[DOTPOOL_LAT_BUCKETS + 1];
	uint64_t val[DOTPOOL_LAT_BUCKETS + 1], want = 0;
	int k, n;
	char line[256];

	UNIT_REQUIRE(snap != NULL, "metrics: snapshot_new allocates");
	memset(&st, 0, sizeof(st));
	for(k = 0; k < DOTPOOL_LAT_BUCKETS; k++)
		st.lat_bucket[k] = (uint64_t)(k % 3 + 1);
	st.lat_sum_us = 1234567;
	st.lat_count = 9999; /* a torn read: _count must follow the buckets */
	UNIT_REQUIRE(dotpool_metrics_snapshot_add(snap, UP1, ZONE1, &st) == 0,
		"metrics: snapshot_add succeeds");
	UNIT_REQUIRE(dotpool_metrics_render(snap, &out) == 0,
		"metrics: render succeeds");
	n = parse_buckets(out.data, le, val, DOTPOOL_LAT_BUCKETS + 1);
	UNIT_REQUIRE(n == DOTPOOL_LAT_BUCKETS,
		"metrics: one _bucket line per stats.h bucket");
	for(k = 0; k < n; k++) {
		want += (uint64_t)(k % 3 + 1);
		UNIT_CHECKF(val[k] == want,
			"metrics: bucket %d is cumulative: want %" PRIu64
			" got %" PRIu64, k, want, val[k]);
		if(k == n - 1)
			UNIT_CHECK(le[k] < 0, "metrics: last bucket is +Inf");
		else
			UNIT_CHECKF(le[k] == dotpool_lat_bounds_ms[k] / 1000.0,
				"metrics: bucket %d bound %g s is %g ms", k,
				le[k], dotpool_lat_bounds_ms[k]);
		if(k > 0 && k < n - 1)
			UNIT_CHECK(le[k] > le[k - 1],
				"metrics: bounds increase");
	}
	UNIT_CHECK(has_line(out.data, "dotpool_upstream_latency_seconds_sum"
		"{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 1.234567"),
		"metrics: _sum is in seconds");
	snprintf(line, sizeof(line), "dotpool_upstream_latency_seconds_count"
		"{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} %" PRIu64, want);
	UNIT_CHECK(has_line(out.data, line),
		"metrics: _count equals the +Inf bucket");

	/* samples through stats.h land where their bound says */
	dotpool_metrics_snapshot_clear(snap);
	memset(&st, 0, sizeof(st));
	dotpool_stats_latency(&st, 1);
	dotpool_stats_latency(&st, 37000);
	dotpool_stats_latency(&st, 3600000000ULL);
	UNIT_REQUIRE(dotpool_metrics_snapshot_add(snap, UP1, ZONE1, &st) == 0,
		"metrics: snapshot_add succeeds");
	UNIT_REQUIRE(dotpool_metrics_render(snap, &out) == 0,
		"metrics: render succeeds");
	n = parse_buckets(out.data, le, val, DOTPOOL_LAT_BUCKETS + 1);
	UNIT_REQUIRE(n == DOTPOOL_LAT_BUCKETS, "metrics: all buckets");
	for(k = 0; k < n; k++) {
		uint64_t exp = 0;
		if(k == n - 1 || 0.001 <= le[k] * 1000.0)
			exp++;
		if(k == n - 1 || 37.0 <= le[k] * 1000.0)
			exp++;
		if(k == n - 1)
			exp++;
		UNIT_CHECKF(val[k] == exp, "metrics: bucket %d holds %"
			PRIu64 " of 1us, 37ms, 1h, got %" PRIu64, k, exp,
			val[k]);
	}
	UNIT_CHECK(has_line(out.data, "dotpool_upstream_latency_seconds_sum"
		"{upstream=\"" UP1 "\",zone=\"" ZONE1 "\"} 3600.037001"),
		"metrics: _sum adds the samples");
	dotpool_metrics_buf_free(&out);
	dotpool_metrics_snapshot_free(snap);
}

/** Backslash, double quote and newline are escaped in label values. */
static void
test_escape(void)
{
	struct dotpool_metrics_buf b = { NULL, 0, 0 };
	struct dotpool_metrics_snapshot* snap = dotpool_metrics_snapshot_new();
	struct dotpool_stats st;

	UNIT_REQUIRE(dotpool_metrics_escape(&b, "a\"b\\c\nd{}=,") == 0,
		"metrics: escape succeeds");
	UNIT_CHECK(strcmp(b.data, "a\\\"b\\\\c\\nd{}=,") == 0,
		"metrics: escape handles quote, backslash, newline only");
	b.len = 0;
	UNIT_REQUIRE(dotpool_metrics_escape(&b, "") == 0,
		"metrics: escape of empty succeeds");
	UNIT_CHECK(b.data[0] == 0, "metrics: empty escapes to empty");
	b.len = 0;

	UNIT_REQUIRE(snap != NULL, "metrics: snapshot_new allocates");
	memset(&st, 0, sizeof(st));
	st.queries = 5;
	UNIT_REQUIRE(dotpool_metrics_snapshot_add(snap, "::1@853#we\"ird\\na\nme",
		"z\\.", &st) == 0, "metrics: snapshot_add succeeds");
	dotpool_metrics_snapshot_module(snap, "1\"2", NULL, 0);
	UNIT_REQUIRE(dotpool_metrics_render(snap, &b) == 0,
		"metrics: render succeeds");
	UNIT_CHECK(has_line(b.data, "dotpool_queries_sent_total{upstream="
		"\"::1@853#we\\\"ird\\\\na\\nme\",zone=\"z\\\\.\"} 5"),
		"metrics: labels are escaped in samples");
	UNIT_CHECK(has_line(b.data,
		"dotpool_build_info{version=\"1\\\"2\",unbound_version=\"\"} 1"),
		"metrics: build_info labels are escaped");
	dotpool_metrics_buf_free(&b);
	dotpool_metrics_snapshot_free(snap);
}

/** Adding the same labels twice merges; health takes the worst. */
/** An upstream is up only once it answered, on every worker that has it:
 * a new one is healthy for selection but not up for readiness. */
static void
test_unverified(void)
{
	struct dotpool_metrics_snapshot* snap = dotpool_metrics_snapshot_new();
	struct dotpool_metrics_buf out = { NULL, 0, 0 };
	struct dotpool_stats fresh, seen;

	UNIT_REQUIRE(snap != NULL, "metrics: snapshot_new allocates");
	memset(&fresh, 0, sizeof(fresh));
	memset(&seen, 0, sizeof(seen));
	fresh.health = DOTPOOL_UP;
	fresh.unverified = 1;
	seen.health = DOTPOOL_UP;
	UNIT_CHECK(dotpool_metrics_snapshot_add(snap, UP1, ZONE1, &fresh) == 0 &&
		dotpool_metrics_snapshot_add(snap, "b@853", ZONE1, &seen) == 0 &&
		dotpool_metrics_snapshot_add(snap, "b@853", ZONE1, &fresh) == 0 &&
		dotpool_metrics_snapshot_add(snap, "c@853", ZONE1, &seen) == 0 &&
		dotpool_metrics_snapshot_add(snap, "c@853", ZONE1, &seen) == 0,
		"metrics: snapshot_add succeeds");
	UNIT_REQUIRE(dotpool_metrics_render(snap, &out) == 0,
		"metrics: render succeeds");
	UNIT_CHECK(has_line(out.data, "dotpool_upstream_up{upstream=\"" UP1
		"\",zone=\"" ZONE1 "\"} 0") && has_line(out.data,
		"dotpool_upstream_verified{upstream=\"" UP1 "\",zone=\"" ZONE1
		"\"} 0"), "metrics: a new upstream is not up before it answered");
	UNIT_CHECK(has_line(out.data, "dotpool_upstream_up{upstream=\"b@853\","
		"zone=\"" ZONE1 "\"} 0"),
		"metrics: not up while one worker has not seen it answer");
	UNIT_CHECK(has_line(out.data, "dotpool_upstream_up{upstream=\"c@853\","
		"zone=\"" ZONE1 "\"} 1") && has_line(out.data,
		"dotpool_upstream_verified{upstream=\"c@853\",zone=\"" ZONE1
		"\"} 1"), "metrics: up once every worker saw it answer");
	UNIT_CHECK(has_line(out.data, "dotpool_upstream_health{upstream=\"" UP1
		"\",zone=\"" ZONE1 "\",state=\"up\"} 1"),
		"metrics: the health state of a new upstream stays up");
	dotpool_metrics_buf_free(&out);
	dotpool_metrics_snapshot_free(snap);
}

static void
test_merge(void)
{
	struct dotpool_metrics_snapshot* snap = dotpool_metrics_snapshot_new();
	struct dotpool_stats a, b;

	UNIT_REQUIRE(snap != NULL, "metrics: snapshot_new allocates");
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.queries = 3;
	a.inflight = 2;
	a.lat_bucket[1] = 4;
	a.health = DOTPOOL_DOWN;
	a.srtt_us = 40000;
	a.soft_us = 50000;
	a.suspect = 1;
	b.srtt_us = 90000;
	b.soft_us = 30000;
	b.queries = 5;
	b.inflight = 1;
	b.lat_bucket[1] = 1;
	b.health = DOTPOOL_UP;
	UNIT_CHECK(dotpool_metrics_snapshot_add(snap, UP1, ZONE1, &a) == 0 &&
		dotpool_metrics_snapshot_add(snap, UP1, ZONE1, &b) == 0 &&
		dotpool_metrics_snapshot_add(snap, UP1, "other.", &b) == 0 &&
		dotpool_metrics_snapshot_add(snap, "x@853", NULL, &b) == 0,
		"metrics: snapshot_add succeeds");
	UNIT_REQUIRE(snap->num == 3, "metrics: same labels share a row");
	UNIT_CHECK(snap->rows[0].stats.queries == 8,
		"metrics: merged counters add up");
	UNIT_CHECK(snap->rows[0].stats.inflight == 3,
		"metrics: merged gauges add up");
	UNIT_CHECK(snap->rows[0].stats.lat_bucket[1] == 5,
		"metrics: merged buckets add up");
	UNIT_CHECK(snap->rows[0].stats.health == DOTPOOL_DOWN,
		"metrics: merged health is the worst");
	UNIT_CHECK(snap->rows[0].stats.srtt_us == 90000 &&
		snap->rows[0].stats.soft_us == 50000 &&
		snap->rows[0].stats.suspect == 1, "metrics: merged round trip "
		"and soft deadline are the slowest, suspect if one suspects");
	UNIT_CHECK(strcmp(snap->rows[2].zone, "") == 0,
		"metrics: NULL zone is stored as empty");
	UNIT_CHECK(dotpool_metrics_snapshot_add(snap, NULL, ZONE1, &a) ==
		DOTPOOL_EINVAL, "metrics: NULL upstream is refused");
	dotpool_metrics_snapshot_clear(snap);
	UNIT_CHECK(snap->num == 0, "metrics: clear empties the snapshot");
	UNIT_CHECK(dotpool_metrics_snapshot_add(snap, UP1, ZONE1, &b) == 0 &&
		snap->num == 1 && snap->rows[0].stats.queries == 5,
		"metrics: a cleared snapshot starts from zero");
	dotpool_metrics_snapshot_free(snap);
	dotpool_metrics_snapshot_free(NULL);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "render exact lines", test_render_exact },
		{ "render families", test_render_families },
		{ "unverified upstream", test_unverified },
		{ "render empty", test_render_empty },
		{ "latency histogram", test_histogram },
		{ "label escaping", test_escape },
		{ "snapshot merge", test_merge },
		{ NULL, NULL }
	};
	return unit_run("metrics", tests);
}
