/**
 * \file
 * Unit tests of module/httpd.c, the metrics endpoint's HTTP server, on a
 * loopback port: scrape, errors, slow and idle clients, running out of
 * descriptors, listen addresses, shutdown without leaked descriptors.
 */
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
#include "unit.h"

/** Upstream label used by the tests. */
#define UP1 "192.0.2.1@853#dns.example"
/** Zone label used by the tests. */
#define ZONE1 "example.com."

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

/** The row every scrape of the tests reports, and the module values. */
static int
fill_snapshot(struct dotpool_metrics_snapshot* snap)
{
	struct dotpool_stats st;
	memset(&st, 0, sizeof(st));
	st.queries = 10;
	st.rcode[0] = 7;
	st.timeouts = 3;
	dotpool_metrics_snapshot_module(snap, "0.1.0", "1.17.1", 4096);
	return dotpool_metrics_snapshot_add(snap, UP1, ZONE1, &st);
}

/** The body a scrape must carry: the render of fill_snapshot(). */
static void
render_sample(struct dotpool_metrics_buf* out)
{
	struct dotpool_metrics_snapshot* snap = dotpool_metrics_snapshot_new();
	UNIT_REQUIRE(snap != NULL, "httpd: snapshot_new allocates");
	UNIT_REQUIRE(fill_snapshot(snap) == 0, "httpd: snapshot filled");
	UNIT_REQUIRE(dotpool_metrics_render(snap, out) == 0,
		"httpd: render succeeds");
	dotpool_metrics_snapshot_free(snap);
}

/** Collect function of the tests: the row of fill_snapshot(). */
static int
collect_test(struct dotpool_metrics_snapshot* snap, void* arg)
{
	struct collect_state* cs = arg;
	cs->calls++;
	cs->thread = pthread_self();
	(void)pthread_getcpuclockid(cs->thread, &collect_cpu);
	if(cs->fail)
		return DOTPOOL_ENOMEM;
	return fill_snapshot(snap);
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
	UNIT_REQUIRE(m != NULL, "httpd: server starts on 127.0.0.1@0");
	UNIT_CHECK(dotpool_metrics_port(m) > 0,
		"httpd: server reports the port it got");
	UNIT_CHECK(unit_count_fds() > fds, "httpd: server holds descriptors");
	resp = http(AF_INET, dotpool_metrics_port(m),
		"GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
	UNIT_REQUIRE(resp != NULL, "httpd: scrape gets a response");
	UNIT_CHECK(strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0,
		"httpd: scrape answers 200");
	UNIT_CHECK(strstr(resp, "\r\nContent-Type: text/plain; version=0.0.4")
		!= NULL, "httpd: scrape has the 0.0.4 content type");
	UNIT_CHECK(strstr(resp, "\r\nConnection: close\r\n") != NULL,
		"httpd: scrape says Connection: close");
	render_sample(&want);
	body = strstr(resp, "\r\n\r\n");
	UNIT_REQUIRE(body != NULL, "httpd: response has a body");
	body += 4;
	UNIT_CHECK(strcmp(body, want.data) == 0,
		"httpd: body is the render of the collected snapshot");
	snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", want.len);
	UNIT_CHECK(strstr(resp, cl) != NULL,
		"httpd: Content-Length is the body length");
	UNIT_CHECK(cs.calls == 1, "httpd: collect called once per scrape");
	UNIT_CHECK(!pthread_equal(cs.thread, pthread_self()),
		"httpd: collect runs on the metrics thread");
	free(resp);

	/* a query string is ignored; HEAD gets headers only */
	resp = http(AF_INET, dotpool_metrics_port(m),
		"GET /metrics?x=1 HTTP/1.0\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0,
		"httpd: query string on /metrics still answers 200");
	free(resp);
	resp = http(AF_INET, dotpool_metrics_port(m),
		"HEAD /metrics HTTP/1.1\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0 &&
		strstr(resp, cl) && strlen(strstr(resp, "\r\n\r\n")) == 4,
		"httpd: HEAD gets the headers and no body");
	free(resp);
	dotpool_metrics_buf_free(&want);
	dotpool_metrics_stop(m);
	UNIT_CHECK(unit_count_fds() == fds,
		"httpd: stop closes every descriptor");
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
	UNIT_REQUIRE(m != NULL, "httpd: server starts");
	port = dotpool_metrics_port(m);
	resp = http(AF_INET, port, "GET / HTTP/1.1\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 404 ", 13) == 0,
		"httpd: / answers 404");
	free(resp);
	resp = http(AF_INET, port, "GET /metricsx HTTP/1.1\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 404 ", 13) == 0,
		"httpd: /metricsx answers 404");
	free(resp);
	resp = http(AF_INET, port, "POST /metrics HTTP/1.1\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 405 ", 13) == 0,
		"httpd: POST answers 405");
	free(resp);
	resp = http(AF_INET, port, "hello\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 400 ", 13) == 0,
		"httpd: garbage answers 400");
	free(resp);
	memset(big, 'a', sizeof(big) - 1);
	memcpy(big, "GET /", 5);
	big[sizeof(big) - 1] = 0;
	resp = http(AF_INET, port, big);
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 431 ", 13) == 0,
		"httpd: an oversized request answers 431");
	free(resp);
	UNIT_CHECK(cs.calls == 0, "httpd: errors do not collect");
	cs.fail = 1;
	resp = http(AF_INET, port, "GET /metrics HTTP/1.1\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 500 ", 13) == 0,
		"httpd: a failing collect answers 500");
	UNIT_CHECK(resp && !strstr(resp, "dotpool_"),
		"httpd: a failing collect sends no partial metrics");
	free(resp);
	dotpool_metrics_stop(m);
	UNIT_CHECK(unit_count_fds() == fds,
		"httpd: stop closes every descriptor");
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
	UNIT_REQUIRE(m != NULL, "httpd: server starts");
	port = dotpool_metrics_port(m);
	slow = connect_to(AF_INET, port);
	UNIT_REQUIRE(slow != -1, "httpd: slow client connects");
	/* half a request line, then silence */
	UNIT_REQUIRE(send(slow, "GET /met", 8, MSG_NOSIGNAL) == 8,
		"httpd: slow client sends a part");
	t0 = mono_ms();
	resp = http(AF_INET, port, "GET /metrics HTTP/1.1\r\n\r\n");
	t1 = mono_ms();
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0,
		"httpd: scrape succeeds beside a silent client");
	UNIT_CHECKF(t1 - t0 < 1000, "httpd: scrape beside a silent client "
		"took %" PRIu64 " ms", t1 - t0);
	free(resp);
	/* the silent client is dropped at the deadline */
	n = recv(slow, &c, 1, 0);
	t1 = mono_ms();
	UNIT_CHECK(n == 0, "httpd: silent client is closed by the server");
	UNIT_CHECKF(t1 - t0 + 100 >= DOTPOOL_METRICS_TIMEOUT_MS &&
		t1 - t0 < DOTPOOL_METRICS_TIMEOUT_MS + 2000,
		"httpd: silent client closed after the timeout, took %"
		PRIu64 " ms", t1 - t0);
	close(slow);
	/* stop must not wait for a connected client */
	slow2 = connect_to(AF_INET, port);
	UNIT_REQUIRE(slow2 != -1, "httpd: second client connects");
	usleep(50000);
	t0 = mono_ms();
	dotpool_metrics_stop(m);
	UNIT_CHECKF(mono_ms() - t0 < 500, "httpd: stop returns at once "
		"with a client connected, took %" PRIu64 " ms", mono_ms() - t0);
	n = recv(slow2, &c, 1, 0);
	UNIT_CHECK(n <= 0, "httpd: stop closes client connections");
	close(slow2);
	UNIT_CHECK(unit_count_fds() == fds,
		"httpd: stop closes every descriptor");
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
	UNIT_REQUIRE(m != NULL, "httpd: server starts");
	port = dotpool_metrics_port(m);
	for(i = 0; i < DOTPOOL_METRICS_MAX_CLIENTS + 4; i++)
		fd[i] = connect_to(AF_INET, port);
	usleep(100000);
	resp = http(AF_INET, port, "GET /metrics HTTP/1.1\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0,
		"httpd: scrape succeeds with every slot taken");
	free(resp);
	for(i = 0; i < DOTPOOL_METRICS_MAX_CLIENTS + 4; i++) {
		if(fd[i] != -1)
			close(fd[i]);
	}
	dotpool_metrics_stop(m);
	UNIT_CHECK(unit_count_fds() == fds,
		"httpd: stop closes every descriptor");
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
	UNIT_REQUIRE(m != NULL, "httpd: server starts");
	port = dotpool_metrics_port(m);
	/* one scrape tells us the server thread's CPU clock */
	resp = http(AF_INET, port, "GET /metrics HTTP/1.1\r\n\r\n");
	UNIT_REQUIRE(resp && cs.calls == 1, "httpd: first scrape works");
	free(resp);
	waiting = socket(AF_INET, SOCK_STREAM, 0);
	UNIT_REQUIRE(waiting != -1, "httpd test: client socket");
	UNIT_REQUIRE(getrlimit(RLIMIT_NOFILE, &old) == 0,
		"httpd test: getrlimit");
	/* a few descriptors above what is open, then take them all */
	low = old;
	low.rlim_cur = (rlim_t)(unit_count_fds() + 40);
	if(low.rlim_cur > old.rlim_cur)
		low.rlim_cur = old.rlim_cur;
	UNIT_REQUIRE(setrlimit(RLIMIT_NOFILE, &low) == 0,
		"httpd test: lower RLIMIT_NOFILE");
	while(nfill < 256 && (fill[nfill] = dup(0)) != -1)
		nfill++;
	UNIT_REQUIRE(nfill < 256 && errno == EMFILE,
		"httpd test: every descriptor taken");
	{
		struct sockaddr_in a;
		memset(&a, 0, sizeof(a));
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		/* the kernel completes it; the server cannot accept it */
		UNIT_REQUIRE(connect(waiting, (struct sockaddr*)&a,
			sizeof(a)) == 0, "httpd test: client connects");
	}
	usleep(100000);
	cpu0 = cpu_ms(collect_cpu);
	sleep(1);
	cpu1 = cpu_ms(collect_cpu);
	UNIT_CHECKF(cpu1 - cpu0 < 100, "httpd: out of descriptors, the "
		"server thread does not spin (%" PRIu64 " ms of CPU in 1 s)",
		cpu1 - cpu0);
	UNIT_CHECKF(__atomic_load_n(&accept_logs, __ATOMIC_RELAXED) == 1,
		"httpd: failing accepts are logged once (%d lines)",
		__atomic_load_n(&accept_logs, __ATOMIC_RELAXED));
	/* descriptors come back: the waiting client is served */
	for(i = 0; i < nfill; i++)
		close(fill[i]);
	UNIT_REQUIRE(setrlimit(RLIMIT_NOFILE, &old) == 0,
		"httpd test: restore RLIMIT_NOFILE");
	{
		struct timeval tv = { 3, 0 };
		setsockopt(waiting, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	UNIT_CHECK(send(waiting, "GET /metrics HTTP/1.1\r\n\r\n", 27,
		MSG_NOSIGNAL) == 27, "httpd test: waiting client sends");
	while(got < sizeof(buf) - 1 &&
		(n = recv(waiting, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
		got += (size_t)n;
	buf[got] = 0;
	UNIT_CHECK(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0,
		"httpd: the client that waited is served once descriptors "
		"are back");
	close(waiting);
	resp = http(AF_INET, port, "GET /metrics HTTP/1.1\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0,
		"httpd: new scrapes work again");
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
	UNIT_REQUIRE(m != NULL, "httpd: server starts");
	memset(&f, 0, sizeof(f));
	f.port = dotpool_metrics_port(m);
	for(i = 0; i < FLOOD_THREADS; i++)
		UNIT_REQUIRE(pthread_create(&th[i], NULL, flood_run, &f) == 0,
			"httpd test: flood starts");
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
	UNIT_CHECKF(ok == 5, "httpd: scrapes complete during a flood of "
		"idle connections (%d of 5, %ld flood connections)", ok,
		f.opened);
	/* the bound that matters to an operator: Prometheus gives up on a
	 * scrape after its default scrape_timeout of 10 s; the scraper waits
	 * in the kernel's queue behind flood connections, longer on a loaded
	 * machine */
	UNIT_CHECKF(worst < 10000, "httpd: a scrape during the flood took "
		"%" PRIu64 " ms (Prometheus' scrape timeout is 10 s)", worst);
	dotpool_metrics_stop(m);
	UNIT_CHECK(unit_count_fds() == fds,
		"httpd: stop closes every descriptor");
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
			"httpd: listen '%s' is refused with a message",
			bad[i]);
		dotpool_metrics_stop(m);
	}
	/* a port in use is reported */
	m = dotpool_metrics_start("127.0.0.1@0", collect_test, &cs, err,
		sizeof(err));
	UNIT_REQUIRE(m != NULL, "httpd: server starts");
	{
		char addr[64];
		struct dotpool_metrics* m2;
		snprintf(addr, sizeof(addr), "127.0.0.1@%d",
			dotpool_metrics_port(m));
		err[0] = 0;
		m2 = dotpool_metrics_start(addr, collect_test, &cs, err,
			sizeof(err));
		UNIT_CHECK(m2 == NULL && strstr(err, addr),
			"httpd: a port in use is refused, naming the address");
		dotpool_metrics_stop(m2);
	}
	dotpool_metrics_stop(m);

	fd = socket(AF_INET6, SOCK_STREAM, 0);
	if(fd == -1 || access("/proc/net/if_inet6", F_OK) != 0) {
		if(fd != -1)
			close(fd);
		fprintf(stderr, "httpd: no IPv6 here; IPv6 case skipped\n");
		return;
	}
	close(fd);
	m = dotpool_metrics_start("::1@0", collect_test, &cs, err,
		sizeof(err));
	UNIT_REQUIRE(m != NULL, "httpd: server starts on ::1@0");
	resp = http(AF_INET6, dotpool_metrics_port(m),
		"GET /metrics HTTP/1.1\r\n\r\n");
	UNIT_CHECK(resp && strncmp(resp, "HTTP/1.1 200 OK\r\n", 17) == 0,
		"httpd: scrape over IPv6 answers 200");
	free(resp);
	dotpool_metrics_stop(m);
	m = dotpool_metrics_start("[::1]@0", collect_test, &cs, err,
		sizeof(err));
	UNIT_CHECK(m != NULL, "httpd: bracketed IPv6 is accepted");
	dotpool_metrics_stop(m);
	dotpool_metrics_stop(NULL);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "server scrape", test_server_scrape },
		{ "server errors", test_server_errors },
		{ "server slow client", test_server_slow_client },
		{ "server many clients", test_server_many_clients },
		{ "server out of descriptors", test_server_out_of_fds },
		{ "server idle flood", test_server_idle_flood },
		{ "server listen", test_server_listen },
		{ NULL, NULL }
	};
	return unit_run("httpd", tests);
}
