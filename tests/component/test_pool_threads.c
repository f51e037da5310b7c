/**
 * \file
 * Component test of what other threads may read of a pool: four pools,
 * each on its own thread with its own event base as Unbound's workers,
 * churn connections to one in-process DoT server that closes every
 * connection after its first answer, while a fifth thread reads their
 * memory figures and metrics in a loop with the same calls the metrics
 * endpoint and get_mem make. Built plain it checks that every figure read
 * is sane (counters never go back, gauges within their bounds, memory
 * plausible) and that nothing crashed or leaked; built with ASan or
 * ThreadSanitizer (make check-tsan) it shows that no thread touches
 * another's connections or reads a counter unordered.
 *
 * DOTPOOL_CHURN_SECONDS sets how long the churn runs (default 3).
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include "dotpool/board.h"
#include "dotpool/error.h"
#include "dotpool/metrics.h"
#include "dotpool/pool.h"
#include "dotpool/tls.h"
#include "module/conn.h"
#include "module/pool.h"
#include "module/upstream.h"
#include "tests/unit/unit.h"
#include "fake_peer.h"

/** Pools (worker threads). */
#define NPOOLS 4
/** Requests each worker keeps outstanding. */
#define NREQ 8
/** max-connections of each pool. */
#define MAXCONN 2
/** Zone label of the upstream. */
#define ZONE "example."

/** Set by main: the reader stops. */
static int stop_reader;
/** Set by main: the workers stop sending and drain. */
static int stop_workers;
/** Set by main: the server thread stops. */
static int stop_server;

/** Read a flag another thread sets. */
static int
flag_get(const int* f)
{
	return __atomic_load_n(f, __ATOMIC_ACQUIRE);
}

/** Set a flag another thread reads. */
static void
flag_set(int* f)
{
	__atomic_store_n(f, 1, __ATOMIC_RELEASE);
}

/* ---- the DoT server: answers one query per connection, then closes ---- */

/** The fake DoT server (fake_peer.c) on a thread of its own. */
struct server {
	/** its event base */
	struct event_base* base;
	/** the server: answers the first query at once, then hangs up (the
	 * churn this test is about) */
	struct peer* pe;
	/** its port */
	int port;
	/** the thread */
	pthread_t th;
};

/** Keeps the server loop from blocking forever. */
static void
tick_cb(evutil_socket_t fd, short what, void* arg)
{
	(void)fd; (void)what; (void)arg;
}

/** The server thread. */
static void*
server_run(void* arg)
{
	struct server* s = arg;
	struct event tick;
	struct timeval tv = { 0, 10000 };
	event_assign(&tick, s->base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(&tick, &tv);
	while(!flag_get(&stop_server))
		event_base_loop(s->base, EVLOOP_ONCE);
	event_del(&tick);
	return NULL;
}

/** Start the server on 127.0.0.1, a free port, on its thread. */
static int
server_start(struct server* s)
{
	memset(s, 0, sizeof(*s));
	if(!(s->base = event_base_new()))
		return 0;
	s->pe = peer_new(s->base);
	s->pe->close_after_answer = 1;
	/* thousands of connections come and go */
	s->pe->reap_closed = 1;
	s->port = s->pe->port;
	return pthread_create(&s->th, NULL, server_run, s) == 0;
}

/** Stop the server thread and free it. */
static void
server_stop(struct server* s)
{
	flag_set(&stop_server);
	pthread_join(s->th, NULL);
	peer_free(s->pe);
	event_base_free(s->base);
}

/* ---- the workers ------------------------------------------------------- */

struct worker;

/** A request that sends itself again when it completes. */
struct creq {
	/** the pool's request (first: done() casts back) */
	struct dotpool_req r;
	/** its worker */
	struct worker* w;
	/** query */
	uint8_t wire[64];
	/** query length */
	size_t len;
	/** whether the pool holds it (sent, done() pending) */
	int out;
};

/** One worker: a pool on its own thread and event base. */
struct worker {
	/** index */
	int idx;
	/** the thread */
	pthread_t th;
	/** its event base */
	struct event_base* base;
	/** the pool; published for the reader with a release store */
	struct dotpool_pool* pool;
	/** the upstream */
	struct dotpool_upstream* up;
	/** settings (shared, read-only) */
	const struct dotpool_config* cfg;
	/** TLS (shared, as Unbound's workers share one) */
	struct dotpool_tls* tls;
	/** health board (shared) */
	struct dotpool_board* board;
	/** server port */
	int port;
	/** requests */
	struct creq reqs[NREQ];
	/** requests the pool holds */
	int outstanding;
	/** answers */
	int answered;
	/** errors (timeouts, lost connections) */
	int failed;
	/** sends the pool refused */
	int refused;
	/** done() called for a request the pool did not hold */
	int spurious;
	/** memory figure at rest and the owner's own count, at the end */
	size_t mem_published, mem_counted;
	/** whether the pool could be set up */
	int ok;
};

/** Published pools, as Unbound's worker slots: the reader's view. */
static struct dotpool_pool* pools[NPOOLS];

static void creq_send(struct creq* q);

/** done(): count, and send again unless the worker is stopping. */
static void
creq_done(struct dotpool_req* req, int err, uint8_t* answer, size_t len)
{
	struct creq* q = (struct creq*)req;
	struct worker* w = q->w;
	(void)answer; (void)len;
	if(!q->out)
		w->spurious++;
	q->out = 0;
	w->outstanding--;
	if(err == 0)
		w->answered++;
	else	w->failed++;
	if(!flag_get(&stop_workers))
		creq_send(q);
}

/** (Re)send a request. */
static void
creq_send(struct creq* q)
{
	struct worker* w = q->w;
	memset(&q->r, 0, sizeof(q->r));
	q->r.wire = q->wire;
	q->r.len = q->len;
	q->r.timeout_ms = 3000;
	q->r.done = creq_done;
	q->r.arg = q;
	/* a new ID each time, as the pool rewrites it anyway */
	if(dotpool_pool_send(w->up, &q->r) == 0) {
		q->out = 1;
		w->outstanding++;
	} else	w->refused++;
}

/** Make the query q<i>.churn.example. A IN. */
static void
creq_init(struct creq* q, struct worker* w, int i)
{
	uint8_t* p = q->wire;
	char label[16];
	size_t l;
	memset(q, 0, sizeof(*q));
	q->w = w;
	p[2] = 0x01;
	p[5] = 1;
	p += 12;
	l = (size_t)snprintf(label, sizeof(label), "q%d", i);
	*p++ = (uint8_t)l;
	memcpy(p, label, l);
	p += l;
	*p++ = 5;
	memcpy(p, "churn", 5);
	p += 5;
	*p++ = 7;
	memcpy(p, "example", 7);
	p += 7;
	*p++ = 0;
	*p++ = 0; *p++ = 1;
	*p++ = 0; *p++ = 1;
	q->len = (size_t)(p - q->wire);
}

/** What the owner counts itself: the same parts get_mem reports, walked on
 * the owning thread (where that is allowed). */
static size_t
owner_mem(const struct dotpool_pool* p)
{
	const struct dotpool_upstream* up;
	const struct dotpool_conn* c;
	size_t m = sizeof(*p);
	for(c = p->grave; c; c = c->next)
		m += dotpool_conn_mem(c);
	for(up = p->ups; up; up = up->next) {
		m += sizeof(*up) + (up->name ? strlen(up->name) + 1 : 0) +
			strlen(up->label) + 1;
		for(c = up->conns; c; c = c->next)
			m += dotpool_conn_mem(c);
	}
	return m;
}

/** Run the worker's loop for ms, or with ms 0 until nothing is
 * outstanding (at most 10 s); a tick keeps it from blocking long. */
static void
worker_loop_ms(struct worker* w, unsigned ms)
{
	struct event tick;
	struct timeval tv = { 0, 5000 };
	uint64_t end = dotpool_now_us() + (uint64_t)(ms ? ms : 10000) * 1000;
	event_assign(&tick, w->base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(&tick, &tv);
	while(dotpool_now_us() < end && (ms > 0 || w->outstanding > 0))
		event_base_loop(w->base, EVLOOP_ONCE);
	event_del(&tick);
}

/** The worker thread: churn until told to stop, then drain. */
static void*
worker_run(void* arg)
{
	struct worker* w = arg;
	struct sockaddr_in sin;
	struct event tick;
	struct timeval tv = { 0, 5000 };
	int i;
	w->base = event_base_new();
	w->pool = w->base ? dotpool_pool_create(w->base, w->cfg, w->tls,
		NULL, NULL) : NULL;
	if(!w->pool)
		return NULL;
	dotpool_pool_set_board(w->pool, w->board);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)w->port);
	w->up = dotpool_pool_upstream(w->pool, (struct sockaddr*)&sin,
		sizeof(sin), "dot.test", NULL, DOTPOOL_PROFILE_OPPORTUNISTIC);
	if(!w->up)
		return NULL;
	dotpool_upstream_set_zone(w->up, ZONE);
	/* as the glue publishes its worker slot */
	__atomic_store_n(&pools[w->idx], w->pool, __ATOMIC_RELEASE);
	w->ok = 1;
	for(i = 0; i < NREQ; i++) {
		creq_init(&w->reqs[i], w, w->idx * NREQ + i);
		creq_send(&w->reqs[i]);
	}
	event_assign(&tick, w->base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(&tick, &tv);
	while(!flag_get(&stop_workers))
		event_base_loop(w->base, EVLOOP_ONCE);
	event_del(&tick);
	/* no more sends: every outstanding request completes (answer or
	 * timeout), then the pool settles */
	worker_loop_ms(w, 0);
	worker_loop_ms(w, 200);
	w->mem_published = dotpool_pool_mem(w->pool);
	w->mem_counted = owner_mem(w->pool);
	return NULL;
}

/* ---- the reader: what the metrics thread and get_mem do ---------------- */

/** The reader's findings. */
struct reader {
	/** the thread */
	pthread_t th;
	/** scrapes done */
	long rounds;
	/** scrapes that saw the upstream */
	long seen;
	/** inconsistent figures seen */
	long bad;
	/** the first of them */
	char first_bad[256];
	/** largest memory figure seen */
	uint64_t mem_max;
	/** last counter values, per pool: they must never go back */
	struct dotpool_stats last[NPOOLS];
	/** the last rendered text's length */
	size_t text_len;
};

/** Note an inconsistency. */
static void
reader_bad(struct reader* r, const char* what, long long v)
{
	if(r->bad++ == 0)
		snprintf(r->first_bad, sizeof(r->first_bad), "%s (%lld)", what,
			v);
}

/** Check one pool's row against what was read before. */
static void
reader_check(struct reader* r, int i, const struct dotpool_stats* st)
{
	struct dotpool_stats* l = &r->last[i];
	if(st->queries < l->queries)
		reader_bad(r, "queries went back", (long long)st->queries);
	if(st->rcode[0] < l->rcode[0])
		reader_bad(r, "answers went back", (long long)st->rcode[0]);
	if(st->lat_count < l->lat_count)
		reader_bad(r, "latency count went back",
			(long long)st->lat_count);
	if(st->conns_opened < l->conns_opened)
		reader_bad(r, "connections opened went back",
			(long long)st->conns_opened);
	if(st->idle_closed_by_peer < l->idle_closed_by_peer)
		reader_bad(r, "idle closes went back",
			(long long)st->idle_closed_by_peer);
	if(st->conns_open < 0 || st->conns_open > MAXCONN)
		reader_bad(r, "open connections out of range",
			(long long)st->conns_open);
	if(st->conns_idle < 0 || st->conns_idle > MAXCONN)
		reader_bad(r, "idle connections out of range",
			(long long)st->conns_idle);
	if(st->inflight < 0 || st->inflight > NREQ)
		reader_bad(r, "in flight out of range",
			(long long)st->inflight);
	if(st->queued < 0 || st->queued > NREQ)
		reader_bad(r, "queued out of range", (long long)st->queued);
	if(st->health < DOTPOOL_UP || st->health > DOTPOOL_DOWN)
		reader_bad(r, "health out of range", (long long)st->health);
	*l = *st;
}

/** The reader thread: scrape and count memory until told to stop. */
static void*
reader_run(void* arg)
{
	struct reader* r = arg;
	struct dotpool_metrics_snapshot* snap = dotpool_metrics_snapshot_new();
	struct dotpool_metrics_buf text;
	memset(&text, 0, sizeof(text));
	if(!snap) {
		reader_bad(r, "no memory for a snapshot", 0);
		return NULL;
	}
	while(!flag_get(&stop_reader)) {
		uint64_t mem = 0;
		int i;
		for(i = 0; i < NPOOLS; i++) {
			struct dotpool_pool* p = __atomic_load_n(&pools[i],
				__ATOMIC_ACQUIRE);
			size_t m;
			if(!p)
				continue;
			/* get_mem */
			m = dotpool_pool_mem(p);
			if(m < 64 || m > ((size_t)256 << 20))
				reader_bad(r, "memory figure implausible",
					(long long)m);
			mem += m;
			/* the metrics endpoint, one pool at a time so that
			 * each pool's counters can be checked */
			dotpool_metrics_snapshot_clear(snap);
			if(dotpool_metrics_add_pool(snap, p) != 0)
				reader_bad(r, "add_pool failed", 0);
			if(snap->num > 1)
				reader_bad(r, "more than one upstream row",
					(long long)snap->num);
			if(snap->num == 1) {
				r->seen++;
				if(strcmp(snap->rows[0].zone, ZONE) != 0)
					reader_bad(r, "zone label wrong", 0);
				reader_check(r, i, &snap->rows[0].stats);
			}
		}
		if(mem > r->mem_max)
			r->mem_max = mem;
		/* and the whole scrape, rendered */
		dotpool_metrics_snapshot_clear(snap);
		for(i = 0; i < NPOOLS; i++) {
			struct dotpool_pool* p = __atomic_load_n(&pools[i],
				__ATOMIC_ACQUIRE);
			if(p && dotpool_metrics_add_pool(snap, p) != 0)
				reader_bad(r, "add_pool failed", 0);
		}
		dotpool_metrics_snapshot_module(snap, "test", "test", mem);
		if(dotpool_metrics_render(snap, &text) != 0)
			reader_bad(r, "render failed", 0);
		r->text_len = text.len;
		r->rounds++;
	}
	dotpool_metrics_buf_free(&text);
	dotpool_metrics_snapshot_free(snap);
	return NULL;
}

/* ---- the test ---------------------------------------------------------- */

/** Seconds the churn runs. */
static unsigned
churn_seconds(void)
{
	const char* e = getenv("DOTPOOL_CHURN_SECONDS");
	long v = e ? strtol(e, NULL, 10) : 0;
	return v > 0 && v < 3600 ? (unsigned)v : 3;
}

/** Four pools churn while a fifth thread reads memory and metrics. */
static void
test_churn_while_reading(void)
{
	static struct worker w[NPOOLS];
	static struct reader rd;
	struct server srv;
	struct dotpool_config* cfg = dotpool_config_new();
	struct dotpool_tls_trust trust;
	struct dotpool_tls* tls;
	struct dotpool_board* board = dotpool_board_create();
	char err[256];
	int i, fds = unit_count_fds(), total = 0, conns = 0;
	unsigned secs = churn_seconds();
	UNIT_REQUIRE(cfg != NULL && board != NULL, "threads: set-up");
	cfg->profile = DOTPOOL_PROFILE_OPPORTUNISTIC;
	cfg->max_connections = MAXCONN;
	cfg->max_inflight = 64;
	cfg->max_queue = 100;
	cfg->connect_timeout = 2000;
	cfg->idle_timeout = 5000;
	cfg->session_resumption = 1;
	memset(&trust, 0, sizeof(trust));
	tls = dotpool_tls_create(&trust, cfg, err, sizeof(err));
	UNIT_REQUIRE(tls != NULL, "threads: TLS context created");
	UNIT_REQUIRE(server_start(&srv), "threads: DoT server started");
	memset(&rd, 0, sizeof(rd));
	UNIT_REQUIRE(pthread_create(&rd.th, NULL, reader_run, &rd) == 0,
		"threads: reader started");
	for(i = 0; i < NPOOLS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].idx = i;
		w[i].cfg = cfg;
		w[i].tls = tls;
		w[i].board = board;
		w[i].port = srv.port;
		UNIT_REQUIRE(pthread_create(&w[i].th, NULL, worker_run, &w[i])
			== 0, "threads: worker started");
	}
	sleep(secs);
	/* as deinit: the reader goes first, then the pools */
	flag_set(&stop_reader);
	pthread_join(rd.th, NULL);
	flag_set(&stop_workers);
	for(i = 0; i < NPOOLS; i++)
		pthread_join(w[i].th, NULL);
	for(i = 0; i < NPOOLS; i++) {
		UNIT_CHECKF(w[i].ok, "threads: pool %d set up", i);
		UNIT_CHECKF(w[i].answered >= 10, "threads: pool %d got answers "
			"through the churn (%d answered, %d failed)", i,
			w[i].answered, w[i].failed);
		UNIT_CHECKF(w[i].outstanding == 0 && w[i].spurious == 0,
			"threads: pool %d completed every request once "
			"(%d outstanding, %d spurious)", i, w[i].outstanding,
			w[i].spurious);
		UNIT_CHECKF(w[i].mem_published == w[i].mem_counted,
			"threads: pool %d memory figure at rest is what the "
			"owner counts (%zu published, %zu counted)", i,
			w[i].mem_published, w[i].mem_counted);
		if(w[i].up)
			conns += (int)dotpool_upstream_stats(w[i].up)
				->conns_opened;
		total += w[i].answered;
	}
	UNIT_CHECKF(rd.bad == 0, "threads: the reader saw consistent figures "
		"(%ld bad, first: %s)", rd.bad, rd.first_bad);
	UNIT_CHECKF(rd.rounds >= 50 && rd.seen > 0, "threads: the reader read "
		"while the pools churned (%ld rounds, %ld rows)", rd.rounds,
		rd.seen);
	UNIT_CHECKF(conns >= 2 * NPOOLS, "threads: connections churned "
		"(%d opened)", conns);
	UNIT_CHECK(rd.text_len > 0, "threads: the scrape rendered");
	printf("\nthreads: %u s, %d answers, %d connections, %ld reads, "
		"peak memory figure %llu\n", secs, total, conns, rd.rounds,
		(unsigned long long)rd.mem_max);
	for(i = 0; i < NPOOLS; i++) {
		__atomic_store_n(&pools[i], NULL, __ATOMIC_RELEASE);
		dotpool_pool_free(w[i].pool, 1);
		if(w[i].base)
			event_base_free(w[i].base);
	}
	server_stop(&srv);
	dotpool_tls_free(tls);
	dotpool_board_free(board);
	dotpool_config_free(cfg);
	UNIT_CHECKF(unit_count_fds() == fds, "threads: no fd left open (%d before, "
		"%d after)", fds, unit_count_fds());
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "churn_while_reading", test_churn_while_reading },
		{ NULL, NULL }
	};
	int r;
	signal(SIGPIPE, SIG_IGN);
	if(!peer_certs_make()) {
		fprintf(stderr, "test_pool_threads: cannot make a test "
			"certificate (openssl tool needed)\n");
		return 99;
	}
	r = unit_run("pool_threads", tests);
	peer_certs_remove();
	return r;
}
