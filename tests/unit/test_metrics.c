/**
 * \file
 * Unit tests of module/metrics.c: the snapshot, the text renderer (exact
 * lines, histogram, escaping) and the HTTP server on a loopback port (scrape,
 * errors, slow clients, shutdown without leaked descriptors).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include "dotpool/error.h"
#include "dotpool/log.h"
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
	UNIT_CHECKF(ntypes == 20, "metrics: 20 families rendered, got %d",
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

/* ------------------------------------------------------------------------ */
/* server */

/** What the collect function of the tests saw. */
struct collect_state {
	/** calls */
	int calls;
	/** the thread of the last call */
	pthread_t thread;
	/** return this */
	int fail;
};

/** CPU clock of the thread that last ran collect_test. */
static clockid_t collect_cpu;

/** Collect function of the tests: one row of fill_stats(). */
static int
collect_test(struct dotpool_metrics_snapshot* snap, void* arg)
{
	struct collect_state* cs = arg;
	struct dotpool_stats st;
	cs->calls++;
	cs->thread = pthread_self();
	(void)pthread_getcpuclockid(cs->thread, &collect_cpu);
	if(cs->fail)
		return DOTPOOL_ENOMEM;
	fill_stats(&st);
	dotpool_metrics_snapshot_module(snap, "0.1.0", "1.17.1", 4096);
	return dotpool_metrics_snapshot_add(snap, UP1, ZONE1, &st);
}

/** Connect to a loopback port; -1 on failure. */
static int
connect_to(int family, int port)
{
	int fd = socket(family, SOCK_STREAM, 0);
	struct timeval tv = { 5, 0 };
	if(fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if(family == AF_INET6) {
		struct sockaddr_in6 a;
		memset(&a, 0, sizeof(a));
		a.sin6_family = AF_INET6;
		a.sin6_port = htons((uint16_t)port);
		a.sin6_addr = in6addr_loopback;
		if(connect(fd, (struct sockaddr*)&a, sizeof(a)) == 0)
			return fd;
	} else {
		struct sockaddr_in a;
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if(connect(fd, (struct sockaddr*)&a, sizeof(a)) == 0)
			return fd;
	}
	close(fd);
	return -1;
}

/**
 * Connect, wait delay_ms (a client far away: its request arrives that much
 * after the connection), send a request and read the response until the
 * server closes.
 * @return the response (caller frees) or NULL.
 */
static char*
http_delayed(int family, int port, const char* request, unsigned delay_ms)
{
	int fd = connect_to(family, port);
	size_t len = 0, cap = 65536;
	char* resp;
	ssize_t n;
	if(fd == -1)
		return NULL;
	if(delay_ms)
		usleep(delay_ms * 1000);
	resp = malloc(cap + 1);
	if(!resp || send(fd, request, strlen(request), MSG_NOSIGNAL) < 0) {
		free(resp);
		close(fd);
		return NULL;
	}
	for(;;) {
		if(len == cap) {
			char* r = realloc(resp, cap * 2 + 1);
			if(!r)
				break;
			resp = r;
			cap *= 2;
		}
		n = recv(fd, resp + len, cap - len, 0);
		if(n <= 0)
			break;
		len += (size_t)n;
	}
	resp[len] = 0;
	close(fd);
	if(n < 0) {
		free(resp);
		return NULL;
	}
	return resp;
}

/**
 * Send a request and read the response until the server closes.
 * @return the response (caller frees) or NULL.
 */
static char*
http(int family, int port, const char* request)
{
	return http_delayed(family, port, request, 0);
}

/** Monotonic time in ms. */
static uint64_t
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/** A scrape returns the render of the collected snapshot. */
static void
test_server_scrape(void)
{
	struct collect_state cs = { 0, 0, 0 };
	struct dotpool_metrics_buf want = { NULL, 0, 0 };
	struct dotpool_metrics* m;
	char err[256] = "";
	char* resp;
	const char* body;
	char cl[64];
	int fds = unit_count_fds();

	m = dotpool_metrics_start("127.0.0.1@0", collect_test, &cs, err,
		sizeof(err));
	UNIT_REQUIRE(m != NULL, "metrics: server starts on 127.0.0.1@0");
	UNIT_CHECK(dotpool_metrics_port(m) > 0,
		"metrics: server reports the port it got");
	UNIT_CHECK(unit_count_fds() > fds, "metrics: server holds descriptors");
	resp = http(AF_INET, dotpool_metrics_port(m),
		"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
	UNIT_REQUIRE(resp != NULL, "metrics: scrape gets a response");
	UNIT_CHECK(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0,
		"metrics: scrape answers 200");
	UNIT_CHECK(strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4")
		!= NULL, "metrics: scrape has the 0.0.4 content type");
	UNIT_CHECK(strstr(resp, "\r\nConnection: close\r\n") != NULL,
		"metrics: scrape says Connection: close");
	render_sample(&want);
	body = strstr(resp, "\r\n\r\n");
	UNIT_REQUIRE(body != NULL, "metrics: response has a body");
	body += 4;
	UNIT_CHECK(strcmp(body, want.data) == 0,
		"metrics: body is the render of the collected snapshot");
	snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", want.len);
	UNIT_CHECK(strstr(resp, cl) != NULL,
		"metrics: Content-Length is the body length");
	UNIT_CHECK(cs.calls == 1, "metrics: collect called once per scrape");
	UNIT_CHECK(!pthread_equal(cs.thread, pthread_self()),
		"metrics: collect runs on the metrics thread");
	free(resp);

	/* a query string is ignored; HEAD gets headers only */
	resp = http(AF_INET, dotpool_metrics_port(m),
		"GET /metrics?x=1 HTTP/1.0\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0,
		"metrics: query string on /metrics still answers 200");
	free(resp);
	resp = http(AF_INET, dotpool_metrics_port(m),
		"HEAD /metrics HTTP/1.1\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0 &&
		strstr(resp, cl) && strlen(strstr(resp, "\r\n\r\n")) == 4,
		"metrics: HEAD gets the headers and no body");
	free(resp);
	dotpool_metrics_buf_free(&want);
	dotpool_metrics_stop(m);
	UNIT_CHECK(unit_count_fds() == fds,
		"metrics: stop closes every descriptor");
}

/** Other paths get 404, other methods 405, garbage 400, collect error 500. */
static void
test_server_errors(void)
{
	struct collect_state cs = { 0, 0, 0 };
	struct dotpool_metrics* m;
	char err[256] = "";
	char* resp;
	char big[DOTPOOL_METRICS_MAX_REQUEST + 64];
	int port, fds = unit_count_fds();

	m = dotpool_metrics_start("127.0.0.1@0", collect_test, &cs, err,
		sizeof(err));
	UNIT_REQUIRE(m != NULL, "metrics: server starts");
	port = dotpool_metrics_port(m);
	resp = http(AF_INET, port, "GET / HTTP/1.1\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 404 ", 13) == 0,
		"metrics: / answers 404");
	free(resp);
	resp = http(AF_INET, port, "GET /metricsx HTTP/1.1\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 404 ", 13) == 0,
		"metrics: /metricsx answers 404");
	free(resp);
	resp = http(AF_INET, port, "POST /metrics HTTP/1.1\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 405 ", 13) == 0,
		"metrics: POST answers 405");
	free(resp);
	resp = http(AF_INET, port, "hello\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 400 ", 13) == 0,
		"metrics: garbage answers 400");
	free(resp);
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "GET /", 5);
	big[sizeof(big) - 1] = 0;
	resp = http(AF_INET, port, big);
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 431 ", 13) == 0,
		"metrics: an oversized request answers 431");
	free(resp);
	UNIT_CHECK(cs.calls == 0, "metrics: errors do not collect");
	cs.fail = 1;
	resp = http(AF_INET, port, "GET /metrics HTTP/1.1\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 500 ", 13) == 0,
		"metrics: a failing collect answers 500");
	UNIT_CHECK(resp && !strstr(resp, "dotpool_"),
		"metrics: a failing collect sends no partial metrics");
	free(resp);
	dotpool_metrics_stop(m);
	UNIT_CHECK(unit_count_fds() == fds,
		"metrics: stop closes every descriptor");
}

/**
 * A client that connects and never sends does not delay a scrape, and is
 * dropped after the timeout; stop with clients connected still returns.
 */
static void
test_server_slow_client(void)
{
	struct collect_state cs = { 0, 0, 0 };
	struct dotpool_metrics* m;
	char err[256] = "";
	char* resp;
	char c;
	int slow, slow2, port, fds = unit_count_fds();
	uint64_t t0, t1;
	ssize_t n;

	m = dotpool_metrics_start("127.0.0.1@0", collect_test, &cs, err,
		sizeof(err));
	UNIT_REQUIRE(m != NULL, "metrics: server starts");
	port = dotpool_metrics_port(m);
	slow = connect_to(AF_INET, port);
	UNIT_REQUIRE(slow != -1, "metrics: slow client connects");
	/* half a request line, then silence */
	UNIT_REQUIRE(send(slow, "GET /met", 8, MSG_NOSIGNAL) == 8,
		"metrics: slow client sends a part");
	t0 = mono_ms();
	resp = http(AF_INET, port, "GET /metrics HTTP/1.1\r\n\r\n");
	t1 = mono_ms();
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0,
		"metrics: scrape succeeds beside a silent client");
	UNIT_CHECKF(t1 - t0 < 1000, "metrics: scrape beside a silent client "
		"took %" PRIu64 " ms", t1 - t0);
	free(resp);
	/* the silent client is dropped at the deadline */
	n = recv(slow, &c, 1, 0);
	t1 = mono_ms();
	UNIT_CHECK(n == 0, "metrics: silent client is closed by the server");
	UNIT_CHECKF(t1 - t0 + 100 >= DOTPOOL_METRICS_TIMEOUT_MS &&
		t1 - t0 < DOTPOOL_METRICS_TIMEOUT_MS + 2000,
		"metrics: silent client closed after the timeout, took %"
		PRIu64 " ms", t1 - t0);
	close(slow);
	/* stop must not wait for a connected client */
	slow2 = connect_to(AF_INET, port);
	UNIT_REQUIRE(slow2 != -1, "metrics: second client connects");
	usleep(50000);
	t0 = mono_ms();
	dotpool_metrics_stop(m);
	UNIT_CHECKF(mono_ms() - t0 < 500, "metrics: stop returns at once "
		"with a client connected, took %" PRIu64 " ms", mono_ms() - t0);
	n = recv(slow2, &c, 1, 0);
	UNIT_CHECK(n <= 0, "metrics: stop closes client connections");
	close(slow2);
	UNIT_CHECK(unit_count_fds() == fds,
		"metrics: stop closes every descriptor");
}

/** More clients than slots: the oldest is dropped, scrapes still work. */
static void
test_server_many_clients(void)
{
	struct collect_state cs = { 0, 0, 0 };
	struct dotpool_metrics* m;
	char err[256] = "";
	char* resp;
	int fd[DOTPOOL_METRICS_MAX_CLIENTS + 4];
	int i, port, fds = unit_count_fds();

	m = dotpool_metrics_start("127.0.0.1@0", collect_test, &cs, err,
		sizeof(err));
	UNIT_REQUIRE(m != NULL, "metrics: server starts");
	port = dotpool_metrics_port(m);
	for(i = 0; i < DOTPOOL_METRICS_MAX_CLIENTS + 4; i++)
		fd[i] = connect_to(AF_INET, port);
	usleep(100000);
	resp = http(AF_INET, port, "GET /metrics HTTP/1.1\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0,
		"metrics: scrape succeeds with every slot taken");
	free(resp);
	for(i = 0; i < DOTPOOL_METRICS_MAX_CLIENTS + 4; i++) {
		if(fd[i] != -1)
			close(fd[i]);
	}
	dotpool_metrics_stop(m);
	UNIT_CHECK(unit_count_fds() == fds,
		"metrics: stop closes every descriptor");
}

/** CPU time of a thread's clock in ms. */
static uint64_t
cpu_ms(clockid_t clk)
{
	struct timespec ts;
	if(clock_gettime(clk, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/** Log lines the server wrote about failing accepts (from its thread). */
static int accept_logs;

/** Log sink of the descriptor test. */
static void
accept_log(int level, const char* msg)
{
	(void)level;
	if(strstr(msg, "metrics") && strstr(msg, "accept"))
		__atomic_add_fetch(&accept_logs, 1, __ATOMIC_RELAXED);
}

/**
 * Out of descriptors: accept fails and the listening socket stays
 * readable. The server must not spin on it (its thread's CPU time over a
 * second stays small), log it once, and serve again when descriptors free.
 */
static void
test_server_out_of_fds(void)
{
	struct collect_state cs = { 0, 0, 0 };
	struct dotpool_metrics* m;
	struct rlimit old, low;
	char err[256] = "";
	char* resp;
	char buf[256];
	int port, i, nfill = 0, waiting, fill[256];
	uint64_t cpu0, cpu1;
	ssize_t n;
	size_t got = 0;

	/* as the module: the sink is set before any thread runs */
	dotpool_log_set(accept_log);
	__atomic_store_n(&accept_logs, 0, __ATOMIC_RELAXED);
	m = dotpool_metrics_start("127.0.0.1@0", collect_test, &cs, err,
		sizeof(err));
	UNIT_REQUIRE(m != NULL, "metrics: server starts");
	port = dotpool_metrics_port(m);
	/* one scrape tells us the server thread's CPU clock */
	resp = http(AF_INET, port, "GET /metrics HTTP/1.1\r\n\r\n");
	UNIT_REQUIRE(resp && cs.calls == 1, "metrics: first scrape works");
	free(resp);
	waiting = socket(AF_INET, SOCK_STREAM, 0);
	UNIT_REQUIRE(waiting != -1, "metrics test: client socket");
	UNIT_REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0,
		"metrics test: getrlimit");
	/* a few descriptors above what is open, then take them all */
	low = old;
	low.rlim_cur = (rlim_t)(unit_count_fds() + 40);
	if(low.rlim_cur > old.rlim_cur)
		low.rlim_cur = old.rlim_cur;
	UNIT_REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0,
		"metrics test: lower RLIMIT_NOFILE");
	while(nfill < 256 && (fill[nfill] = dup(0)) != -1)
		nfill++;
	UNIT_REQUIRE(nfill < 256 && errno == EMFILE,
		"metrics test: every descriptor taken");
	{
		struct sockaddr_in a;
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		/* the kernel completes it; the server cannot accept it */
		UNIT_REQUIRE(connect(waiting, (struct sockaddr*)&a,
			sizeof(a)) == 0, "metrics test: client connects");
	}
	usleep(100000);
	cpu0 = cpu_ms(collect_cpu);
	sleep(1);
	cpu1 = cpu_ms(collect_cpu);
	UNIT_CHECKF(cpu1 - cpu0 < 100, "metrics: out of descriptors, the "
		"server thread does not spin (%" PRIu64 " ms of CPU in 1 s)",
		cpu1 - cpu0);
	UNIT_CHECKF(__atomic_load_n(&accept_logs, __ATOMIC_RELAXED) == 1,
		"metrics: failing accepts are logged once (%d lines)",
		__atomic_load_n(&accept_logs, __ATOMIC_RELAXED));
	/* descriptors come back: the waiting client is served */
	for(i = 0; i < nfill; i++)
		close(fill[i]);
	UNIT_REQUIRE(setrlimit(RLIMIT_NOFILE, &old) == 0,
		"metrics test: restore RLIMIT_NOFILE");
	{
		struct timeval tv = { 3, 0 };
		setsockopt(waiting, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	UNIT_CHECK(send(waiting, "GET /metrics HTTP/1.1\r\n\r\n", 27,
		MSG_NOSIGNAL) == 27, "metrics test: waiting client sends");
	while(got < sizeof(buf) - 1 &&
		(n = recv(waiting, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
		got += (size_t)n;
	buf[got] = 0;
	UNIT_CHECK(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0,
		"metrics: the client that waited is served once descriptors "
		"are back");
	close(waiting);
	resp = http(AF_INET, port, "GET /metrics HTTP/1.1\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0,
		"metrics: new scrapes work again");
	free(resp);
	dotpool_metrics_stop(m);
	dotpool_log_set(NULL);
}

/** Threads of the idle-connection flood. */
#define FLOOD_THREADS 4
/** Idle connections each flood thread keeps open. */
#define FLOOD_CONNS 8

/** A client that opens idle connections as fast as it can. */
struct flood {
	/** port */
	int port;
	/** set to stop */
	int stop;
	/** connections opened */
	long opened;
};

/** Keep FLOOD_CONNS idle connections open, replacing the oldest by a new
 * one as fast as the server lets us connect: "new evicts oldest" would
 * never let up. */
static void*
flood_run(void* arg)
{
	struct flood* f = arg;
	int fds[FLOOD_CONNS], i, next = 0;
	for(i = 0; i < FLOOD_CONNS; i++)
		fds[i] = -1;
	while(!__atomic_load_n(&f->stop, __ATOMIC_ACQUIRE)) {
		struct sockaddr_in a;
		struct timeval tv = { 0, 200000 };
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if(fd == -1) {
			usleep(1000);
			continue;
		}
		/* bounded: a full accept queue drops our SYN */
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)f->port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if(connect(fd, (struct sockaddr*)&a, sizeof(a)) != 0) {
			close(fd);
			continue;
		}
		__atomic_add_fetch(&f->opened, 1, __ATOMIC_RELAXED);
		if(fds[next] != -1)
			close(fds[next]);
		fds[next] = fd;
		next = (next + 1) % FLOOD_CONNS;
	}
	for(i = 0; i < FLOOD_CONNS; i++)
		if(fds[i] != -1)
			close(fds[i]);
	return NULL;
}

/**
 * 32 idle connections, renewed continuously by several clients: a real
 * scrape whose request arrives 50 ms after its connection still completes
 * within a bound.
 */
static void
test_server_idle_flood(void)
{
	struct collect_state cs = { 0, 0, 0 };
	struct dotpool_metrics* m;
	struct flood f;
	pthread_t th[FLOOD_THREADS];
	char err[256] = "";
	char* resp;
	int i, ok = 0, fds = unit_count_fds();
	uint64_t t0, t1, worst = 0;

	m = dotpool_metrics_start("127.0.0.1@0", collect_test, &cs, err,
		sizeof(err));
	UNIT_REQUIRE(m != NULL, "metrics: server starts");
	memset(&f, 0, sizeof(f));
	f.port = dotpool_metrics_port(m);
	for(i = 0; i < FLOOD_THREADS; i++)
		UNIT_REQUIRE(pthread_create(&th[i], NULL, flood_run, &f) == 0,
			"metrics test: flood starts");
	while(__atomic_load_n(&f.opened, __ATOMIC_RELAXED) <
		FLOOD_THREADS * FLOOD_CONNS)
		usleep(1000);
	for(i = 0; i < 5; i++) {
		t0 = mono_ms();
		/* a scraper 50 ms away: the flood may evict it before its
		 * request arrives */
		resp = http_delayed(AF_INET, f.port,
			"GET /metrics HTTP/1.1\r\n\r\n", 50);
		t1 = mono_ms();
		if(resp && strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0)
			ok++;
		if(t1 - t0 > worst)
			worst = t1 - t0;
		free(resp);
	}
	__atomic_store_n(&f.stop, 1, __ATOMIC_RELEASE);
	for(i = 0; i < FLOOD_THREADS; i++)
		pthread_join(th[i], NULL);
	UNIT_CHECKF(ok == 5, "metrics: scrapes complete during a flood of "
		"idle connections (%d of 5, %ld flood connections)", ok,
		f.opened);
	/* the bound that matters to an operator: Prometheus gives up on a
	 * scrape after its default scrape_timeout of 10 s; the scraper waits
	 * in the kernel's queue behind flood connections, longer on a loaded
	 * machine */
	UNIT_CHECKF(worst < 10000, "metrics: a scrape during the flood took "
		"%" PRIu64 " ms (Prometheus' scrape timeout is 10 s)", worst);
	dotpool_metrics_stop(m);
	UNIT_CHECK(unit_count_fds() == fds,
		"metrics: stop closes every descriptor");
}

/** IPv6 listening, and bad listen strings are refused with a message. */
static void
test_server_listen(void)
{
	struct collect_state cs = { 0, 0, 0 };
	struct dotpool_metrics* m;
	char err[256];
	char* resp;
	static const char* const bad[] = { "127.0.0.1", "127.0.0.1@",
		"@9153", "localhost@9153", "127.0.0.1@70000", "127.0.0.1@-1",
		"127.0.0.1@12x", "", NULL };
	int i, fd;

	for(i = 0; bad[i]; i++) {
		err[0] = 0;
		m = dotpool_metrics_start(bad[i], collect_test, &cs, err,
			sizeof(err));
		UNIT_CHECKF(m == NULL && strstr(err, "expected IP@port"),
			"metrics: listen '%s' is refused with a message",
			bad[i]);
		dotpool_metrics_stop(m);
	}
	/* a port in use is reported */
	m = dotpool_metrics_start("127.0.0.1@0", collect_test, &cs, err,
		sizeof(err));
	UNIT_REQUIRE(m != NULL, "metrics: server starts");
	{
		char addr[64];
		struct dotpool_metrics* m2;
		snprintf(addr, sizeof(addr), "127.0.0.1@%d",
			dotpool_metrics_port(m));
		err[0] = 0;
		m2 = dotpool_metrics_start(addr, collect_test, &cs, err,
			sizeof(err));
		UNIT_CHECK(m2 == NULL && strstr(err, addr),
			"metrics: a port in use is refused, naming the address");
		dotpool_metrics_stop(m2);
	}
	dotpool_metrics_stop(m);

	fd = socket(AF_INET6, SOCK_STREAM, 0);
	if(fd == -1 || access("/proc/net/if_inet6", F_OK) != 0) {
		if(fd != -1)
			close(fd);
		fprintf(stderr, "metrics: no IPv6 here; IPv6 case skipped\n");
		return;
	}
	close(fd);
	m = dotpool_metrics_start("::1@0", collect_test, &cs, err,
		sizeof(err));
	UNIT_REQUIRE(m != NULL, "metrics: server starts on ::1@0");
	resp = http(AF_INET6, dotpool_metrics_port(m),
		"GET /metrics HTTP/1.1\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0,
		"metrics: scrape over IPv6 answers 200");
	free(resp);
	dotpool_metrics_stop(m);
	m = dotpool_metrics_start("[::1]@0", collect_test, &cs, err,
		sizeof(err));
	UNIT_CHECK(m != NULL, "metrics: bracketed IPv6 is accepted");
	dotpool_metrics_stop(m);
	dotpool_metrics_stop(NULL);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "render exact lines", test_render_exact },
		{ "render families", test_render_families },
		{ "render empty", test_render_empty },
		{ "latency histogram", test_histogram },
		{ "label escaping", test_escape },
		{ "snapshot merge", test_merge },
		{ "server scrape", test_server_scrape },
		{ "server errors", test_server_errors },
		{ "server slow client", test_server_slow_client },
		{ "server many clients", test_server_many_clients },
		{ "server out of descriptors", test_server_out_of_fds },
		{ "server idle flood", test_server_idle_flood },
		{ "server listen", test_server_listen },
		{ NULL, NULL }
	};
	return unit_run("metrics", tests);
}
