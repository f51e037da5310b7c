/**
 * \file
 * Component tests of module/pool.c, upstream.c, conn.c and tls.c together:
 * the fake DoT server (fake_peer.c, driven by the same event base) against
 * the real pool.
 * Every test checks the counters, that each request completed exactly as
 * expected, and that no file descriptor is left open.
 */
#include <dirent.h>
#include <signal.h>
#include <errno.h>
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
#include "dotpool/error.h"
#include "dotpool/metrics.h"
#include "dotpool/pool.h"
#include "dotpool/tls.h"
#include "dotpool/wire.h"
#include "module/conn.h"
#include "module/pool.h"
#include "module/upstream.h"
#include "tests/unit/unit.h"
#include "fake_peer.h"

/* ---- the client side --------------------------------------------------- */

/** A test request with its query. */
struct treq {
	/** the pool's request (first: done() casts back) */
	struct dotpool_req r;
	/** query wire */
	uint8_t wire[600];
	/** times done() ran */
	int ndone;
	/** last error */
	int err;
	/** answer ID matched the query ID */
	int id_ok;
	/** when set, done() cancels this one */
	struct treq* cancel_in_done;
	/** when set, done() sends this one on the same upstream */
	struct treq* send_in_done;
	/** result of that send */
	int send_in_done_ret;
	/** length of the answer */
	size_t alen;
	/** on an error, done() re-uses this request for this upstream once
	 * (what the glue does on failover) */
	struct dotpool_upstream* retry_up;
	/** result of that send */
	int retry_ret;
	/** loop_tick when done() ran */
	unsigned tick;
};

/** Counts event loop iterations while a test runs ticker_start's event. */
static unsigned loop_tick;

/** Log messages seen, and whether one named a query. */
static int log_count, log_leak;

/** Log sink of the tests: query names (qN.example) must never appear. */
static void
test_log(int level, const char* msg)
{
	(void)level;
	log_count++;
	if(strstr(msg, "example") || strstr(msg, "\002q")) {
		log_leak++;
		fprintf(stderr, "test_pool: query name in log: %s\n", msg);
	}
}

/** Requests completed (all tests). */
static int completed;

/** done() of test requests. */
static void
treq_done(struct dotpool_req* req, int err, uint8_t* answer, size_t len)
{
	struct treq* t = (struct treq*)req;
	t->ndone++;
	t->err = err;
	t->tick = loop_tick;
	completed++;
	t->alen = len;
	if(err == 0) {
		t->id_ok = answer && len >= 12 &&
			dotpool_wire_match(t->wire, t->r.len, answer, len) ==
			DOTPOOL_MATCH_OK;
	}
	UNIT_CHECK(req->state == DOTPOOL_REQ_IDLE,
		"pool: a request is IDLE when its done() runs");
	if(t->cancel_in_done)
		dotpool_pool_cancel(&t->cancel_in_done->r);
	if(t->send_in_done)
		t->send_in_done_ret = dotpool_pool_send(req->up,
			&t->send_in_done->r);
	if(err != 0 && t->retry_up) {
		struct dotpool_upstream* up = t->retry_up;
		uint8_t* wire = req->wire;
		size_t wlen = req->len;
		t->retry_up = NULL;
		memset(req, 0, sizeof(*req));
		req->wire = wire;
		req->len = wlen;
		req->timeout_ms = 10000;
		req->done = treq_done;
		req->arg = t;
		t->retry_ret = dotpool_pool_send(up, req);
	}
}

/** Make a query for q<n>.example. A. */
static void
treq_init(struct treq* t, int n, unsigned timeout_ms)
{
	uint8_t* p = t->wire;
	char label[16];
	size_t l;
	memset(t, 0, sizeof(*t));
	p[2] = 0x01; /* RD */
	p[5] = 1; /* qdcount */
	p += 12;
	l = (size_t)snprintf(label, sizeof(label), "q%d", n);
	*p++ = (uint8_t)l;
	memcpy(p, label, l);
	p += l;
	*p++ = 7;
	memcpy(p, "example", 7);
	p += 7;
	*p++ = 0;
	*p++ = 0; *p++ = 1; /* A */
	*p++ = 0; *p++ = 1; /* IN */
	t->r.wire = t->wire;
	t->r.len = (size_t)(p - t->wire);
	t->r.timeout_ms = timeout_ms;
	t->r.done = treq_done;
	t->r.arg = t;
}

/** Make the query longer: an OPT RR with n bytes of padding. */
static void
treq_pad(struct treq* t, size_t n)
{
	uint8_t* p = t->wire + t->r.len;
	static const uint8_t opt[11] = { 0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0 };
	memcpy(p, opt, sizeof(opt));
	p[9] = (uint8_t)((n + 4) >> 8);
	p[10] = (uint8_t)(n + 4);
	p[11] = 0; p[12] = 12; /* padding */
	p[13] = (uint8_t)(n >> 8);
	p[14] = (uint8_t)n;
	memset(p + 15, 0, n);
	t->wire[11] = 1; /* arcount */
	t->r.len += 15 + n;
}

/** One test's world. */
struct world {
	/** event base */
	struct event_base* base;
	/** settings */
	struct dotpool_config cfg;
	/** upstream: section, for pins */
	struct dotpool_upstream_cfg ucfg;
	/** TLS */
	struct dotpool_tls* tls;
	/** the pool */
	struct dotpool_pool* pool;
	/** fake server */
	struct peer* peer;
	/** the upstream */
	struct dotpool_upstream* up;
	/** fds open before */
	int fds;
	/** wake() calls */
	int wakes;
	/** address family of the server */
	int af;
	/** health board the pool shares, or NULL */
	struct dotpool_board* board;
};

/** wake hook: counts. */
static void
world_wake(void* arg)
{
	((struct world*)arg)->wakes++;
}

/** Set up base, settings, server; the pool follows in world_pool. */
static void
world_init(struct world* w)
{
	memset(w, 0, sizeof(*w));
	w->fds = unit_count_fds();
	w->base = event_base_new();
	w->cfg.connect_timeout = 2000;
	w->cfg.idle_timeout = 5000;
	w->cfg.max_inflight = 128;
	w->cfg.max_connections = 2;
	w->cfg.max_queue = 100;
	w->cfg.fail_threshold = 3;
	w->cfg.backoff_initial = 100;
	w->cfg.backoff_max = 1000;
	w->cfg.session_resumption = 1;
	w->cfg.profile = DOTPOOL_PROFILE_STRICT;
	w->ucfg.profile = -1;
	w->ucfg.addr = (char*)"127.0.0.1";
	w->af = AF_INET;
	w->peer = peer_new(w->base);
}

/** Make the upstream (address, port of the server, name) in the pool, for
 * a zone with this profile. */
static struct dotpool_upstream*
world_upstream_p(struct world* w, int af, const char* name,
	enum dotpool_profile profile)
{
	struct sockaddr_storage ss;
	struct sockaddr_in* sin = (struct sockaddr_in*)&ss;
	struct sockaddr_in6* sin6 = (struct sockaddr_in6*)&ss;
	memset(&ss, 0, sizeof(ss));
	if(af == AF_INET6) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		sin6->sin6_port = htons((uint16_t)w->peer->port);
		return dotpool_pool_upstream(w->pool, (struct sockaddr*)sin6,
			sizeof(*sin6), name, &w->ucfg, profile);
	}
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons((uint16_t)w->peer->port);
	return dotpool_pool_upstream(w->pool, (struct sockaddr*)sin,
		sizeof(*sin), name, &w->ucfg, profile);
}

/** The upstream for a zone with the default profile. */
static struct dotpool_upstream*
world_upstream(struct world* w, int af, const char* name)
{
	return world_upstream_p(w, af, name, w->cfg.profile);
}

/** Create TLS, pool and the upstream with auth name `name`. */
static void
world_pool(struct world* w, const char* name)
{
	char err[256], bundle[300];
	struct dotpool_tls_trust trust;
	snprintf(bundle, sizeof(bundle), "%s/ca.pem", peer_certdir);
	trust.cert_bundle = bundle;
	trust.system_store = 0;
	trust.use_sni = 1;
	w->cfg.upstreams = &w->ucfg;
	w->tls = dotpool_tls_create(&trust, &w->cfg, err, sizeof(err));
	UNIT_REQUIRE(w->tls != NULL, "tls: context created");
	w->pool = dotpool_pool_create(w->base, &w->cfg, w->tls, world_wake, w);
	UNIT_REQUIRE(w->pool != NULL, "pool: created");
	dotpool_pool_set_board(w->pool, w->board);
	w->up = world_upstream(w, w->af, name);
	UNIT_REQUIRE(w->up != NULL, "pool: upstream created");
	UNIT_CHECK(world_upstream(w, w->af, name) == w->up,
		"pool: the same (address, port, name) is the same upstream");
}

/** Tick: keeps the loop from blocking forever. */
static void
tick_cb(evutil_socket_t fd, short what, void* arg)
{
	(void)fd; (void)what; (void)arg;
}

/** Run the loop until *counter >= target or ms pass. */
static int
run_until(struct world* w, int* counter, int target, unsigned ms)
{
	struct event tick;
	struct timeval tv = { 0, 5000 };
	uint64_t end = dotpool_now_us() + (uint64_t)ms * 1000;
	event_assign(&tick, w->base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(&tick, &tv);
	while((!counter || *counter < target) && dotpool_now_us() < end)
		event_base_loop(w->base, EVLOOP_ONCE);
	event_del(&tick);
	return !counter || *counter >= target;
}

/** Free everything and check no fd is left. */
static void
world_free(struct world* w)
{
	dotpool_pool_free(w->pool, 1);
	dotpool_tls_free(w->tls);
	peer_free(w->peer);
	event_base_free(w->base);
	UNIT_CHECKF(unit_count_fds() == w->fds, "pool: no fd left open (%d before,"
		" %d after)", w->fds, unit_count_fds());
}

/** Check the gauges of an upstream at rest. */
static void
check_at_rest(struct world* w)
{
	const struct dotpool_stats* s = dotpool_upstream_stats(w->up);
	UNIT_CHECKF(s->inflight == 0 && s->queued == 0, "pool: nothing in "
		"flight or queued at rest (inflight %lld queued %lld)",
		(long long)s->inflight, (long long)s->queued);
}

/* ---- tests ------------------------------------------------------------- */

/** Five queries pipelined on one connection, answered last-first. */
static void
test_pipelined_out_of_order(void)
{
	struct world w;
	struct treq t[5];
	const struct dotpool_stats* s;
	int i, start = completed;
	world_init(&w);
	world_pool(&w, "dot.test");
	w.peer->hold = 5;
	w.peer->reverse = 1;
	for(i = 0; i < 5; i++) {
		treq_init(&t[i], i, 10000);
		UNIT_REQUIRE(dotpool_pool_send(w.up, &t[i].r) == 0,
			"pool: send accepted");
	}
	UNIT_CHECK(dotpool_upstream_stats(w.up)->queued == 5,
		"pool: requests wait while the connection comes up");
	UNIT_CHECK(run_until(&w, &completed, start + 5, 15000),
		"pool: all five answered");
	for(i = 0; i < 5; i++)
		UNIT_CHECKF(t[i].ndone == 1 && t[i].err == 0 && t[i].id_ok,
			"pool: request %d answered once with its own answer "
			"(done %d err %d)", i, t[i].ndone, t[i].err);
	s = dotpool_upstream_stats(w.up);
	UNIT_CHECK(w.peer->accepted == 1, "pool: one connection carried all");
	UNIT_CHECK(w.peer->max_held == 5, "pool: queries were pipelined");
	UNIT_CHECK(s->queries == 5 && s->rcode[0] == 5 && s->lat_count == 5,
		"pool: queries, rcode and latency counted");
	UNIT_CHECK(s->conns_opened == 1 && s->hs_full == 1 &&
		s->conns_open == 1 && s->conns_idle == 1,
		"pool: one connection, full handshake, now idle");
	UNIT_CHECK(s->dropped == 0 && s->timeouts == 0 && s->err_verify == 0,
		"pool: no errors");
	UNIT_CHECK(dotpool_upstream_health(w.up) == DOTPOOL_UP &&
		dotpool_upstream_usable(w.up), "pool: upstream is up");
	UNIT_CHECK(dotpool_upstream_srtt(w.up) > 0, "pool: srtt measured");
	UNIT_CHECK(strcmp(dotpool_upstream_name(w.up) + strlen(
		dotpool_upstream_name(w.up)) - 9, "#dot.test") == 0,
		"pool: upstream named addr@port#name");
	UNIT_CHECK(w.up->conns && dotpool_pool_mem(w.pool) >
		sizeof(struct dotpool_upstream) + sizeof(struct dotpool_conn) +
		dotpool_idmap_mem(w.up->conns->ids),
		"pool: memory of the upstream and its connection accounted");
	UNIT_CHECK(w.wakes > 0, "pool: wake hook called");
	check_at_rest(&w);
	world_free(&w);
}

/** A hedge's answer (no_rtt) is no RTT sample; a lone attempt's is. */
static void
test_rtt_samples(void)
{
	struct world w;
	struct treq t[2];
	int start = completed;
	world_init(&w);
	world_pool(&w, "dot.test");
	treq_init(&t[0], 0, 10000);
	t[0].r.no_rtt = 1;
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t[0].r) == 0,
		"pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000) &&
		t[0].err == 0, "pool: the hedge is answered");
	UNIT_CHECK(dotpool_upstream_srtt(w.up) == 0, "pool: a hedge's answer "
		"is no RTT sample");
	treq_init(&t[1], 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t[1].r) == 0,
		"pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 2, 15000) &&
		t[1].err == 0, "pool: the lone attempt is answered");
	UNIT_CHECK(dotpool_upstream_srtt(w.up) > 0, "pool: its round trip is "
		"the estimate");
	check_at_rest(&w);
	world_free(&w);
}

/** Answers in 1-byte TLS records are reassembled. */
static void
test_onebyte_records(void)
{
	struct world w;
	struct treq t[3];
	int i, start = completed;
	world_init(&w);
	world_pool(&w, "dot.test");
	w.peer->onebyte = 1;
	w.peer->hold = 3;
	for(i = 0; i < 3; i++) {
		treq_init(&t[i], i, 10000);
		UNIT_REQUIRE(dotpool_pool_send(w.up, &t[i].r) == 0,
			"pool: send accepted");
	}
	UNIT_CHECK(run_until(&w, &completed, start + 3, 15000),
		"pool: answers in 1-byte records arrive");
	for(i = 0; i < 3; i++)
		UNIT_CHECKF(t[i].ndone == 1 && t[i].err == 0 && t[i].id_ok,
			"pool: request %d answered from 1-byte records", i);
	UNIT_CHECK(dotpool_upstream_stats(w.up)->err_proto == 0,
		"pool: no protocol error on tiny records");
	check_at_rest(&w);
	world_free(&w);
}

/** A name the certificate does not carry: EVERIFY, no DNS bytes sent. */
static void
test_wrong_name(void)
{
	struct world w;
	struct treq t;
	const struct dotpool_stats* s;
	int start = completed;
	world_init(&w);
	world_pool(&w, "wrong.test");
	treq_init(&t, 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send accepted");
	UNIT_CHECK(t.ndone == 0, "pool: send never completes synchronously");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
		"pool: request completed");
	UNIT_CHECK(t.ndone == 1 && t.err == DOTPOOL_EVERIFY,
		"tls: wrong name fails with DOTPOOL_EVERIFY");
	run_until(&w, NULL, 0, 50);
	UNIT_CHECK(w.peer->app_bytes == 0,
		"tls: no DNS bytes reach an unauthenticated server");
	s = dotpool_upstream_stats(w.up);
	UNIT_CHECK(s->err_verify == 1 && s->queries == 0,
		"pool: verify failure counted, no query counted");
	UNIT_CHECK(dotpool_upstream_health(w.up) == DOTPOOL_BACKOFF,
		"pool: a verify failure backs the upstream off");
	UNIT_CHECK(s->conns_open == 0, "pool: failed connection is gone");
	check_at_rest(&w);

	/* done() re-uses the request for the right name, as the glue's
	 * failover does, from inside the pool's deferred-work callback */
	start = completed;
	treq_init(&t, 2, 10000);
	t.retry_up = world_upstream(&w, AF_INET, "dot.test");
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 2, 15000),
		"pool: failed, then answered");
	UNIT_CHECK(t.ndone == 2 && t.retry_ret == 0 && t.err == 0 && t.id_ok,
		"pool: a request re-sent from its own done() is answered");
	world_free(&w);
}

/** Pins: a matching pin without a name authenticates, a wrong pin fails. */
static void
test_pins(void)
{
	struct world w;
	struct treq t;
	int start = completed;
	/* match, no name: pins alone authenticate */
	world_init(&w);
	memcpy(w.ucfg.pins[0], peer_pin, 32);
	w.ucfg.num_pins = 1;
	world_pool(&w, NULL);
	treq_init(&t, 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
		"pool: request completed");
	UNIT_CHECK(t.ndone == 1 && t.err == 0 && t.id_ok,
		"tls: a matching pin authenticates");
	UNIT_CHECK(dotpool_upstream_stats(w.up)->err_verify == 0,
		"tls: no verify error with a matching pin");
	world_free(&w);

	/* name right but pin wrong: fails */
	start = completed;
	world_init(&w);
	memcpy(w.ucfg.pins[0], peer_pin, 32);
	w.ucfg.pins[0][0] ^= 0xff;
	w.ucfg.num_pins = 1;
	world_pool(&w, "dot.test");
	treq_init(&t, 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
		"pool: request completed");
	UNIT_CHECK(t.ndone == 1 && t.err == DOTPOOL_EVERIFY,
		"tls: no matching pin fails with DOTPOOL_EVERIFY");
	run_until(&w, NULL, 0, 50);
	UNIT_CHECK(w.peer->app_bytes == 0,
		"tls: nothing sent to a server whose pin does not match");
	UNIT_CHECK(dotpool_upstream_stats(w.up)->err_verify == 1,
		"tls: pin mismatch counted");
	world_free(&w);

	/* opportunistic with a wrong name: connects, counts */
	start = completed;
	world_init(&w);
	w.ucfg.profile = DOTPOOL_PROFILE_OPPORTUNISTIC;
	world_pool(&w, "wrong.test");
	treq_init(&t, 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
		"pool: request completed");
	UNIT_CHECK(t.ndone == 1 && t.err == 0,
		"tls: opportunistic profile sends despite a wrong name");
	UNIT_CHECK(dotpool_upstream_stats(w.up)->err_verify == 1,
		"tls: opportunistic verify failure counted");
	world_free(&w);
}

/** The peer never answers: timeout, ID kept, late answer dropped. */
static void
test_timeout_late_answer(void)
{
	struct world w;
	struct treq t;
	struct dotpool_conn* c;
	const struct dotpool_stats* s;
	int start = completed;
	world_init(&w);
	world_pool(&w, "dot.test");
	w.peer->hold = -1;
	treq_init(&t, 1, 300);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
		"pool: request completed");
	UNIT_CHECK(t.ndone == 1 && t.err == DOTPOOL_ETIMEOUT,
		"pool: unanswered request times out");
	s = dotpool_upstream_stats(w.up);
	UNIT_CHECK(s->timeouts == 1, "pool: timeout counted");
	UNIT_CHECK(dotpool_upstream_health(w.up) == DOTPOOL_BACKOFF,
		"pool: a timeout backs off");
	c = w.up->conns;
	UNIT_REQUIRE(c != NULL, "pool: the connection stays open");
	UNIT_CHECK(dotpool_idmap_used(c->ids) == 1 &&
		dotpool_idmap_live(c->ids) == 0,
		"pool: the timed out ID stays reserved, not live");
	/* a late answer with the right ID for another question first: it
	 * must not free the ID the real late answer may still come for */
	w.peer->mangle = 1;
	w.peer->keep_held = 1;
	peer_answer_all(w.peer);
	run_until(&w, NULL, 0, 200);
	UNIT_CHECK(s->dropped == 1, "pool: the forged late answer is dropped");
	UNIT_CHECK(w.up->conns == c && dotpool_idmap_used(c->ids) == 1 &&
		c->stale == 1, "conn: a late answer for another question "
		"leaves the cancelled ID reserved");
	w.peer->mangle = 0;
	w.peer->keep_held = 0;
	peer_answer_all(w.peer);
	run_until(&w, NULL, 0, 200);
	UNIT_CHECK(s->dropped == 2, "pool: the late answer is dropped");
	UNIT_CHECK(t.ndone == 1, "pool: no second done() for a late answer");
	UNIT_CHECK(w.up->conns == c && dotpool_idmap_used(c->ids) == 0,
		"pool: the late answer frees the reserved ID");
	check_at_rest(&w);
	world_free(&w);
}

/** The server closes with queries in flight: re-sent once, answered. */
static void
test_peer_close_resend(void)
{
	struct world w;
	struct treq t[2];
	const struct dotpool_stats* s;
	int i, start = completed;
	world_init(&w);
	world_pool(&w, "dot.test");
	w.peer->hold = 2;
	w.peer->close_after = 2;
	w.peer->close_conns = 1;
	for(i = 0; i < 2; i++) {
		treq_init(&t[i], i, 10000);
		UNIT_REQUIRE(dotpool_pool_send(w.up, &t[i].r) == 0,
			"pool: send accepted");
	}
	UNIT_CHECK(run_until(&w, &completed, start + 2, 15000),
		"pool: both completed");
	for(i = 0; i < 2; i++)
		UNIT_CHECKF(t[i].ndone == 1 && t[i].err == 0 && t[i].id_ok,
			"pool: request %d re-sent and answered (err %d)", i,
			t[i].err);
	s = dotpool_upstream_stats(w.up);
	UNIT_CHECK(w.peer->accepted == 2, "pool: a second connection was made");
	UNIT_CHECK(s->resends == 2 && s->err_closed == 1 && s->queries == 4,
		"pool: re-sends and the lost connection counted");
	UNIT_CHECK(dotpool_upstream_srtt(w.up) == 0 && s->lat_count == 2,
		"pool: answers to re-sent queries are no RTT sample (Karn: "
		"which write do they answer?), though their latency counts");
	UNIT_CHECK(dotpool_upstream_health(w.up) == DOTPOOL_UP,
		"pool: a close in flight is not a health failure");
	check_at_rest(&w);
	world_free(&w);

	/* lost twice: DOTPOOL_ECLOSED */
	start = completed;
	world_init(&w);
	world_pool(&w, "dot.test");
	w.peer->close_after = 1;
	treq_init(&t[0], 0, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t[0].r) == 0,
		"pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
		"pool: request completed");
	UNIT_CHECK(t[0].ndone == 1 && t[0].err == DOTPOOL_ECLOSED,
		"pool: a request lost twice fails with DOTPOOL_ECLOSED");
	UNIT_CHECK(dotpool_upstream_stats(w.up)->resends == 1,
		"pool: re-sent only once");
	check_at_rest(&w);
	world_free(&w);
}

/** An answer to another question is dropped, the ID stays live and the
 * timer decides; a zero-length frame closes the connection. */
static void
test_bad_answers(void)
{
	struct world w;
	struct treq t;
	const struct dotpool_stats* s;
	int start = completed;
	world_init(&w);
	world_pool(&w, "dot.test");
	w.peer->mangle = 1;
	treq_init(&t, 1, 300);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
		"pool: request completed");
	s = dotpool_upstream_stats(w.up);
	UNIT_CHECK(t.ndone == 1 && t.err == DOTPOOL_ETIMEOUT,
		"pool: an answer to another question does not complete");
	UNIT_CHECK(s->dropped == 1 && s->err_proto == 0,
		"pool: wrong question dropped, connection kept");
	UNIT_CHECK(w.up->conns && dotpool_idmap_used(w.up->conns->ids) == 1,
		"pool: the ID stays reserved after the timeout");
	world_free(&w);

	start = completed;
	world_init(&w);
	world_pool(&w, "dot.test");
	w.peer->garbage = 1;
	treq_init(&t, 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
		"pool: request completed");
	s = dotpool_upstream_stats(w.up);
	UNIT_CHECK(t.ndone == 1 && t.err == DOTPOOL_ECLOSED,
		"pool: zero-length frames: re-sent once, then DOTPOOL_ECLOSED");
	UNIT_CHECK(s->err_proto == 2 && s->resends == 1 &&
		w.peer->accepted == 2, "pool: each bad frame closed its "
		"connection");
	UNIT_CHECK(dotpool_upstream_health(w.up) == DOTPOOL_BACKOFF,
		"pool: protocol errors count against health");
	check_at_rest(&w);
	world_free(&w);
}

/** Largest frames are reassembled; duplicate answers are dropped. */
static void
test_big_and_duplicate(void)
{
	struct world w;
	struct treq t[3];
	int i, start = completed;
	world_init(&w);
	world_pool(&w, "dot.test");
	w.peer->big = 1;
	w.peer->hold = 3;
	for(i = 0; i < 3; i++) {
		treq_init(&t[i], i, 10000);
		UNIT_REQUIRE(dotpool_pool_send(w.up, &t[i].r) == 0, "pool: send");
	}
	UNIT_CHECK(run_until(&w, &completed, start + 3, 15000),
		"pool: three answered");
	for(i = 0; i < 3; i++)
		UNIT_CHECKF(t[i].err == 0 && t[i].id_ok && t[i].alen == 65535,
			"conn: 65535-byte answer %d delivered whole (%zu)", i,
			t[i].alen);
	world_free(&w);

	start = completed;
	world_init(&w);
	world_pool(&w, "dot.test");
	w.peer->duplicate = 1;
	w.peer->hold = 2;
	for(i = 0; i < 2; i++) {
		treq_init(&t[i], i, 10000);
		UNIT_REQUIRE(dotpool_pool_send(w.up, &t[i].r) == 0, "pool: send");
	}
	UNIT_CHECK(run_until(&w, &completed, start + 2, 15000),
		"pool: two answered");
	run_until(&w, NULL, 0, 50);
	UNIT_CHECK(t[0].ndone == 1 && t[1].ndone == 1 && t[0].err == 0 &&
		t[1].err == 0, "pool: each answered exactly once");
	UNIT_CHECK(dotpool_upstream_stats(w.up)->dropped == 2 &&
		dotpool_upstream_stats(w.up)->err_proto == 0,
		"pool: duplicates dropped, connection kept");
	UNIT_CHECK(w.up->conns != NULL, "pool: connection still open");
	check_at_rest(&w);
	world_free(&w);
}

/** max_inflight reached: the rest waits; the queue has a limit. */
static void
test_queue(void)
{
	struct world w;
	struct treq t[5];
	int i, start = completed;
	world_init(&w);
	w.cfg.max_inflight = 2;
	w.cfg.max_connections = 1;
	w.cfg.max_queue = 4;
	world_pool(&w, "dot.test");
	w.peer->hold = 2;
	for(i = 0; i < 4; i++) {
		treq_init(&t[i], i, 10000);
		UNIT_REQUIRE(dotpool_pool_send(w.up, &t[i].r) == 0,
			"pool: send accepted");
	}
	treq_init(&t[4], 4, 10000);
	UNIT_CHECK(dotpool_pool_send(w.up, &t[4].r) == DOTPOOL_EFULL,
		"pool: send beyond max_queue is DOTPOOL_EFULL");
	UNIT_CHECK(run_until(&w, &completed, start + 4, 15000),
		"pool: four completed");
	for(i = 0; i < 4; i++)
		UNIT_CHECKF(t[i].ndone == 1 && t[i].err == 0 && t[i].id_ok,
			"pool: queued request %d answered", i);
	UNIT_CHECK(t[4].ndone == 0, "pool: refused request never completes");
	dotpool_pool_cancel(&t[0].r);
	UNIT_CHECK(t[0].ndone == 1, "pool: cancel of a finished request is a "
		"no-op");
	/* cancel one that waits for a connection */
	treq_init(&t[4], 4, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t[4].r) == 0 &&
		dotpool_pool_send(w.up, &t[0].r) == 0, "pool: two more sent");
	UNIT_CHECK(t[4].r.state == DOTPOOL_REQ_SENT &&
		t[0].r.state == DOTPOOL_REQ_SENT, "pool: both on the wire");
	treq_init(&t[1], 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t[1].r) == 0, "pool: third");
	UNIT_CHECK(t[1].r.state == DOTPOOL_REQ_QUEUED &&
		dotpool_upstream_stats(w.up)->queued == 1,
		"pool: third waits: max_inflight on the only connection");
	dotpool_pool_cancel(&t[1].r);
	UNIT_CHECK(t[1].r.state == DOTPOOL_REQ_IDLE &&
		dotpool_upstream_stats(w.up)->queued == 0,
		"pool: a cancelled waiting request leaves the queue");
	UNIT_CHECK(run_until(&w, &completed, start + 6, 15000),
		"pool: the two sent answered");
	run_until(&w, NULL, 0, 50);
	UNIT_CHECK(t[1].ndone == 0 && w.peer->queries == 6,
		"pool: the cancelled waiting request was never sent");
	UNIT_CHECK(w.peer->max_held == 2 && w.peer->accepted == 1,
		"pool: never more than max_inflight on the connection");
	check_at_rest(&w);
	world_free(&w);
}

/** The server closes an idle connection: not a failure; next query makes
 * a new connection which resumes the TLS session. */
static void
test_idle_close_by_peer(void)
{
	struct world w;
	struct treq t[2];
	const struct dotpool_stats* s;
	int start = completed;
	world_init(&w);
	world_pool(&w, "dot.test");
	w.peer->close_after_answer = 1;
	treq_init(&t[0], 0, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t[0].r) == 0,
		"pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
		"pool: first answered");
	s = dotpool_upstream_stats(w.up);
	/* let the close arrive */
	run_until(&w, NULL, 0, 100);
	UNIT_CHECK(s->idle_closed_by_peer == 1 && s->err_closed == 0,
		"pool: idle close by the server counted as such");
	UNIT_CHECK(dotpool_upstream_health(w.up) == DOTPOOL_UP &&
		w.up->fails == 0, "pool: an idle close is not a failure");
	UNIT_CHECK(s->conns_open == 0, "pool: closed connection gone");
	treq_init(&t[1], 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t[1].r) == 0,
		"pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 2, 15000),
		"pool: second answered");
	UNIT_CHECK(t[1].err == 0 && t[1].id_ok, "pool: answered on a new "
		"connection");
	UNIT_CHECK(s->conns_opened == 2 && s->hs_full == 1 &&
		s->hs_resumed == 1, "tls: the second connection resumed");
	check_at_rest(&w);
	world_free(&w);
}

/** done() of one request cancels the next one on the same connection and
 * sends a new one; the cancelled one never completes. */
static void
test_cancel_in_done(void)
{
	struct world w;
	struct treq t[4];
	const struct dotpool_stats* s;
	int i, start = completed;
	world_init(&w);
	world_pool(&w, "dot.test");
	w.peer->hold = 3;
	w.peer->hold_once = 1;
	for(i = 0; i < 4; i++)
		treq_init(&t[i], i, 10000);
	t[0].cancel_in_done = &t[1];
	t[0].send_in_done = &t[3];
	for(i = 0; i < 3; i++)
		UNIT_REQUIRE(dotpool_pool_send(w.up, &t[i].r) == 0,
			"pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 3, 15000),
		"pool: three completed");
	run_until(&w, NULL, 0, 50);
	UNIT_CHECK(t[0].ndone == 1 && t[0].err == 0, "pool: first answered");
	UNIT_CHECK(t[1].ndone == 0 && t[1].r.state == DOTPOOL_REQ_IDLE,
		"pool: request cancelled inside done() never completes");
	UNIT_CHECK(t[2].ndone == 1 && t[2].err == 0 && t[2].id_ok,
		"pool: the one after it still answered");
	UNIT_CHECK(t[0].send_in_done_ret == 0 && t[3].ndone == 1 &&
		t[3].err == 0 && t[3].id_ok, "pool: sent from done() answered");
	s = dotpool_upstream_stats(w.up);
	UNIT_CHECK(s->dropped == 1, "pool: the cancelled one's answer dropped");
	UNIT_CHECK(w.peer->accepted == 1, "pool: all on one connection");
	check_at_rest(&w);
	world_free(&w);
}

/** Freeing the pool with requests queued and in flight: no callback, no
 * fd left; also after the event base is gone (Unbound's reload order). */
static void
test_free_pending(void)
{
	struct world w;
	struct treq t[3];
	int i, start = completed;
	world_init(&w);
	w.cfg.max_inflight = 1;
	w.cfg.max_connections = 1;
	world_pool(&w, "dot.test");
	w.peer->hold = -1;
	for(i = 0; i < 3; i++) {
		treq_init(&t[i], i, 10000);
		UNIT_REQUIRE(dotpool_pool_send(w.up, &t[i].r) == 0,
			"pool: send accepted");
	}
	run_until(&w, &w.peer->queries, 1, 15000);
	UNIT_CHECK(w.peer->queries == 1 && w.up->qlen == 2,
		"pool: one in flight, two queued");
	world_free(&w);
	UNIT_CHECK(completed == start, "pool: free completes no request");

	/* the base first, then the pool, as on reload */
	world_init(&w);
	world_pool(&w, "dot.test");
	w.peer->hold = -1;
	for(i = 0; i < 3; i++) {
		treq_init(&t[i], i, 10000);
		UNIT_REQUIRE(dotpool_pool_send(w.up, &t[i].r) == 0,
			"pool: send accepted");
	}
	run_until(&w, &w.peer->queries, 3, 15000);
	peer_free(w.peer);
	event_base_free(w.base);
	dotpool_pool_free(w.pool, 0);
	dotpool_tls_free(w.tls);
	UNIT_CHECK(completed == start, "pool: free completes no request");
	UNIT_CHECKF(unit_count_fds() == w.fds, "pool: no fd left after free with "
		"the base gone (%d before, %d after)", w.fds, unit_count_fds());
}

/** Connection refused: the request fails with DOTPOOL_EIO, health counts. */
static void
test_connect_refused(void)
{
	struct world w;
	struct treq t;
	int start = completed;
	world_init(&w);
	/* nobody listens any more on the server's port */
	event_del(&w.peer->ev);
	close(w.peer->lfd);
	w.peer->lfd = socket(AF_INET, SOCK_STREAM, 0);
	world_pool(&w, "dot.test");
	treq_init(&t, 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
		"pool: request completed");
	UNIT_CHECK(t.ndone == 1 && t.err == DOTPOOL_EIO,
		"pool: refused connection fails with DOTPOOL_EIO");
	UNIT_CHECK(dotpool_upstream_stats(w.up)->err_connect == 1,
		"pool: connect failure counted");
	UNIT_CHECK(!dotpool_upstream_usable(w.up),
		"pool: upstream backs off right after a failure");
	check_at_rest(&w);
	world_free(&w);
}

/** A server that takes TCP but never speaks TLS: handshake timeout. */
static void
test_handshake_timeout(void)
{
	struct world w;
	struct treq t;
	int start = completed;
	world_init(&w);
	w.cfg.connect_timeout = 200;
	/* the kernel completes TCP from the backlog; nobody answers TLS */
	event_del(&w.peer->ev);
	world_pool(&w, "dot.test");
	treq_init(&t, 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
		"pool: request completed");
	UNIT_CHECK(t.ndone == 1 && t.err == DOTPOOL_ETIMEOUT,
		"conn: a stalled handshake fails the waiting request");
	UNIT_CHECK(dotpool_upstream_stats(w.up)->err_tls == 1 &&
		dotpool_upstream_stats(w.up)->queries == 0,
		"conn: handshake timeout counted as TLS error, nothing sent");
	check_at_rest(&w);
	world_free(&w);
}

/** Failures in a row: BACKOFF, then DOWN; an answer brings it UP. */
static void
test_health(void)
{
	struct world w;
	struct treq t;
	int i, start = completed;
	world_init(&w);
	w.cfg.fail_threshold = 2;
	w.cfg.backoff_initial = 50;
	w.cfg.backoff_max = 80;
	world_pool(&w, "dot.test");
	w.peer->hold = -1;
	for(i = 0; i < 2; i++) {
		treq_init(&t, i, 100);
		UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0,
			"pool: send accepted");
		UNIT_CHECK(run_until(&w, &completed, start + i + 1, 3000),
			"pool: request completed");
		UNIT_CHECK(t.err == DOTPOOL_ETIMEOUT, "pool: timed out");
		UNIT_CHECK(dotpool_upstream_health(w.up) == (i == 0 ?
			DOTPOOL_BACKOFF : DOTPOOL_DOWN),
			"pool: one failure backs off, fail_threshold marks down");
		UNIT_CHECK(!dotpool_upstream_usable(w.up),
			"pool: not usable during the backoff");
	}
	UNIT_CHECK(dotpool_upstream_stats(w.up)->health == DOTPOOL_DOWN,
		"pool: health gauge follows");
	run_until(&w, NULL, 0, 100);
	UNIT_CHECK(dotpool_upstream_usable(w.up),
		"pool: usable again when the capped backoff expired");
	w.peer->hold = 0;
	peer_answer_all(w.peer);
	treq_init(&t, 9, 2000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 3, 15000),
		"pool: request completed");
	UNIT_CHECK(t.err == 0 && dotpool_upstream_health(w.up) == DOTPOOL_UP,
		"pool: an answer brings the upstream up");
	dotpool_upstream_report(w.up, DOTPOOL_OUTCOME_BAD_ANSWER);
	UNIT_CHECK(dotpool_upstream_health(w.up) == DOTPOOL_BACKOFF,
		"pool: a bad answer reported by the glue counts as failure");
	dotpool_upstream_report(w.up, DOTPOOL_OUTCOME_OK);
	UNIT_CHECK(dotpool_upstream_health(w.up) == DOTPOOL_UP,
		"pool: a good answer reported by the glue brings it up");
	world_free(&w);
}

/** A DOWN upstream is probed on a schedule and comes back UP by itself. */
static void
test_probe(void)
{
	struct world w;
	struct treq t;
	int start = completed;
	world_init(&w);
	w.cfg.fail_threshold = 1;
	w.cfg.probe_interval = 100;
	w.cfg.attempt_timeout = 500;
	world_pool(&w, "dot.test");
	w.peer->hold = -1;
	treq_init(&t, 1, 100);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000), "pool: done");
	UNIT_CHECK(dotpool_upstream_health(w.up) == DOTPOOL_DOWN,
		"pool: down after fail_threshold failures");
	w.peer->hold = 0;
	peer_answer_all(w.peer);
	run_until(&w, NULL, 0, 400);
	UNIT_CHECK(dotpool_upstream_health(w.up) == DOTPOOL_UP,
		"pool: the probe's answer brought the upstream up");
	UNIT_CHECK(dotpool_upstream_stats(w.up)->queries == 2 &&
		w.peer->queries == 2, "pool: exactly one probe was sent");
	UNIT_CHECK(completed == start + 1, "pool: a probe completes no "
		"request of the caller");
	check_at_rest(&w);
	world_free(&w);
}

/** A session is only resumed by the upstream (address, port, name) that
 * got it. */
static void
test_session_per_name(void)
{
	struct world w;
	struct treq t[2];
	struct dotpool_upstream* b;
	int start = completed;
	world_init(&w);
	world_pool(&w, "dot.test");
	b = world_upstream(&w, AF_INET, "127.0.0.1");
	UNIT_REQUIRE(b != NULL && b != w.up,
		"pool: another name on the same address is another upstream");
	treq_init(&t[0], 0, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t[0].r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
		"pool: answered");
	run_until(&w, NULL, 0, 50);
	UNIT_CHECK(w.up->auth.session != NULL,
		"tls: the first upstream kept its session");
	treq_init(&t[1], 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(b, &t[1].r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &completed, start + 2, 15000),
		"pool: answered");
	UNIT_CHECK(t[1].err == 0, "tls: an IP auth name verifies against the "
		"IP SAN");
	UNIT_CHECK(dotpool_upstream_stats(b)->hs_full == 1 &&
		dotpool_upstream_stats(b)->hs_resumed == 0,
		"tls: another name never resumes the first one's session");
	world_free(&w);
}

/** Client certificate (mTLS) from the upstream section, over IPv6 when
 * the host has it. */
static void
test_client_cert_v6(void)
{
	struct world w;
	struct treq t;
	struct peer* p6;
	char cert[300], key[300];
	int start = completed;
	world_init(&w);
	peer_free(w.peer);
	p6 = peer_new_af(w.base, AF_INET6, 1);
	if(p6) {
		w.af = AF_INET6;
		w.peer = p6;
	} else {
		w.peer = peer_new_af(w.base, AF_INET, 1);
	}
	snprintf(cert, sizeof(cert), "%s/cli.pem", peer_certdir);
	snprintf(key, sizeof(key), "%s/cli.key", peer_certdir);
	w.ucfg.client_cert = cert;
	w.ucfg.client_key = key;
	world_pool(&w, "dot.test");
	treq_init(&t, 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
		"pool: request completed");
	UNIT_CHECK(t.err == 0 && t.id_ok && w.peer->client_certs == 1,
		"tls: the client certificate is presented and accepted");
	UNIT_CHECK(p6 == NULL || strncmp(dotpool_upstream_name(w.up), "::1@",
		4) == 0, "pool: IPv6 upstream named ::1@port#name");
	world_free(&w);
}

/** prewarm: a connection is ready before the first query and comes back
 * after the server closed it while idle. */
static void
test_prewarm(void)
{
	struct world w;
	struct treq t;
	int start = completed;
	world_init(&w);
	w.cfg.prewarm = 1;
	world_pool(&w, "dot.test");
	UNIT_CHECK(run_until(&w, &w.peer->hs_ok, 1, 15000),
		"pool: prewarm connects without a query");
	w.peer->close_after_answer = 1;
	treq_init(&t, 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send accepted");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
		"pool: request completed");
	UNIT_CHECK(t.err == 0 && w.peer->accepted == 1,
		"pool: the query used the warm connection");
	UNIT_CHECK(run_until(&w, &w.peer->hs_ok, 2, 15000),
		"pool: after an idle close a new connection is warmed");
	UNIT_CHECK(dotpool_upstream_stats(w.up)->idle_closed_by_peer == 1,
		"pool: idle close counted");
	world_free(&w);
}

/** The rewarm window: a connection the server closed for idleness is
 * replaced at once while the upstream carried a query recently; not one
 * dotpool closed after its own idle-timeout, and not once the window has
 * passed. */
static void
test_rewarm_window(void)
{
	struct world w;
	struct treq t[2];
	struct pconn* pc;
	int start = completed;
	world_init(&w);
	w.cfg.rewarm_window = 10000;
	w.cfg.idle_timeout = 200;
	world_pool(&w, "dot.test");
	run_until(&w, NULL, 0, 100);
	UNIT_CHECK(w.peer->accepted == 0,
		"pool: no connection before a query (prewarm off)");
	treq_init(&t[0], 0, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t[0].r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
		"pool: first answered");
	run_until(&w, NULL, 0, 600);
	UNIT_CHECK(w.peer->accepted == 1 && w.up->nconns == 0,
		"pool: a connection closed by our own idle-timeout is not "
		"replaced");
	w.cfg.idle_timeout = 5000;
	w.peer->close_after_answer = 1;
	treq_init(&t[1], 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t[1].r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &completed, start + 2, 15000),
		"pool: second answered");
	UNIT_CHECK(run_until(&w, &w.peer->hs_ok, 3, 15000),
		"pool: the server's idle close is replaced within the window");
	UNIT_CHECK(w.peer->queries == 2 &&
		dotpool_upstream_stats(w.up)->queries == 2,
		"pool: the new connection was opened without a query");
	UNIT_CHECK(t[1].err == 0 && t[1].id_ok, "pool: answer intact");
	/* the window has passed: the next idle close is not replaced */
	w.up->last_query_us = dotpool_now_us() - 10001ULL * 1000;
	for(pc = w.peer->conns; pc; pc = pc->next)
		pconn_close(pc);
	run_until(&w, NULL, 0, 300);
	UNIT_CHECK(w.peer->accepted == 3 && w.up->nconns == 0,
		"pool: no new connection once the window has passed");
	world_free(&w);
}

/** The health board: a failure one worker's pool sees makes another
 * worker's pool avoid the same upstream (and no other), for the same
 * backoff; an answer on any worker clears it; a pool without the board is
 * not affected. Then for real: a request that times out on pool 1 makes
 * the upstream unusable on pool 2. */
static void
test_board_shared_health(void)
{
	struct world w;
	struct dotpool_pool* p2, *p3, *own;
	struct dotpool_upstream* up2, *up3, *other2;
	struct treq t;
	int start = completed;
	world_init(&w);
	w.board = dotpool_board_create();
	UNIT_REQUIRE(w.board != NULL, "board: created");
	w.cfg.backoff_initial = 5000;
	w.cfg.backoff_max = 5000;
	world_pool(&w, "dot.test");
	own = w.pool;
	p2 = dotpool_pool_create(w.base, &w.cfg, w.tls, NULL, NULL);
	p3 = dotpool_pool_create(w.base, &w.cfg, w.tls, NULL, NULL);
	UNIT_REQUIRE(p2 && p3, "pool: two more created");
	dotpool_pool_set_board(p2, w.board);
	w.pool = p2;
	up2 = world_upstream(&w, w.af, "dot.test");
	other2 = world_upstream(&w, w.af, "other.test");
	w.pool = p3;
	up3 = world_upstream(&w, w.af, "dot.test");
	w.pool = own;
	UNIT_REQUIRE(up2 && up3 && other2 && up2 != w.up,
		"pool: each pool has its own upstream object");
	UNIT_CHECK(dotpool_upstream_usable(up2), "board: usable at first");
	dotpool_upstream_report(w.up, DOTPOOL_OUTCOME_BAD_ANSWER);
	UNIT_CHECK(!dotpool_upstream_usable(w.up),
		"board: the failing pool backs off");
	UNIT_CHECK(!dotpool_upstream_usable(up2),
		"board: the other worker avoids the upstream too");
	UNIT_CHECK(dotpool_upstream_health(up2) == DOTPOOL_UP &&
		dotpool_upstream_usable(other2),
		"board: its own state and other upstreams are untouched");
	UNIT_CHECK(dotpool_upstream_usable(up3),
		"board: a pool without the board is not affected");
	dotpool_upstream_report(up2, DOTPOOL_OUTCOME_OK);
	UNIT_CHECK(dotpool_upstream_usable(up2),
		"board: an answer clears the post");
	/* metrics label: the first zone any worker used it for, everywhere */
	dotpool_upstream_set_zone(up2, "b.example.");
	dotpool_upstream_set_zone(w.up, "a.example.");
	dotpool_upstream_set_zone(up3, "c.example.");
	UNIT_CHECK(strcmp(dotpool_upstream_zone(w.up), "b.example.") == 0 &&
		strcmp(dotpool_upstream_zone(up2), "b.example.") == 0,
		"board: both workers label the upstream with the same zone");
	UNIT_CHECK(strcmp(dotpool_upstream_zone(up3), "c.example.") == 0,
		"board: a pool without the board keeps its own");
	UNIT_CHECK(dotpool_board_mem(w.board) > 0, "board: memory counted");
	/* for real: a request times out on pool 1 (back up first: a failure
	 * during its own backoff is the same outage, posted once) */
	dotpool_upstream_report(w.up, DOTPOOL_OUTCOME_OK);
	UNIT_CHECK(dotpool_upstream_usable(w.up) && dotpool_upstream_usable(up2),
		"board: both usable again");
	w.peer->hold = -1;
	treq_init(&t, 1, 200);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
		"pool: request completed");
	UNIT_CHECK(t.err == DOTPOOL_ETIMEOUT, "pool: it timed out");
	UNIT_CHECK(!dotpool_upstream_usable(up2),
		"board: a timeout on one worker is seen by the other");
	w.peer->hold = 0;
	dotpool_pool_free(p2, 1);
	dotpool_pool_free(p3, 1);
	world_free(&w);
	dotpool_board_free(w.board);
}

/** Queries time out on a connection until half its IDs are stale: it
 * drains (no new queries) and closes when nothing live is left. */
static void
test_drain_stale(void)
{
	struct world w;
	struct treq t[3];
	struct dotpool_conn* c;
	int i, start = completed;
	world_init(&w);
	w.cfg.max_inflight = 4;
	world_pool(&w, "dot.test");
	w.peer->hold = -1;
	for(i = 0; i < 2; i++) {
		treq_init(&t[i], i, 100);
		UNIT_REQUIRE(dotpool_pool_send(w.up, &t[i].r) == 0,
			"pool: send accepted");
	}
	UNIT_CHECK(run_until(&w, &completed, start + 2, 15000),
		"pool: both timed out");
	run_until(&w, NULL, 0, 50);
	c = w.up->conns;
	UNIT_CHECK(c == NULL, "conn: a drained connection with nothing "
		"live is closed");
	w.peer->hold = 0;
	treq_init(&t[2], 2, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t[2].r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &completed, start + 3, 15000),
		"pool: answered");
	UNIT_CHECK(t[2].err == 0 && w.peer->accepted == 2,
		"conn: the next query went to a fresh connection");
	check_at_rest(&w);
	world_free(&w);
}

/** A server that does not read: writes block (WANT_WRITE), the write
 * buffer fills and requests wait; when it reads again all are answered. */
static void
test_partial_writes(void)
{
	struct world w;
	struct treq* t;
	struct dotpool_conn* c;
	int small = 4096, i, n = 1500, ok = 0, start = completed;
	world_init(&w);
	w.cfg.max_inflight = 2000;
	w.cfg.max_connections = 1;
	w.cfg.max_queue = 2000;
	setsockopt(w.peer->lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	world_pool(&w, "dot.test");
	t = calloc((size_t)n, sizeof(*t));
	/* one answered query: the connection is up */
	treq_init(&t[0], 0, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t[0].r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000), "pool: first");
	c = w.up->conns;
	UNIT_REQUIRE(c != NULL, "pool: connection open");
	setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	peer_pause(w.peer, 1);
	for(i = 1; i < n; i++) {
		treq_init(&t[i], i, 10000);
		treq_pad(&t[i], 400);
		UNIT_REQUIRE(dotpool_pool_send(w.up, &t[i].r) == 0,
			"pool: send accepted");
	}
	run_until(&w, NULL, 0, 200);
	UNIT_CHECK(c->writing && dotpool_wbuf_len(&c->wbuf) > 0,
		"conn: the write blocked and waits for the socket");
	UNIT_CHECK(w.up->qlen > 0, "pool: requests wait while the write "
		"buffer is full");
	peer_pause(w.peer, 0);
	run_until(&w, &completed, start + n, 10000);
	for(i = 0; i < n; i++)
		ok += (t[i].ndone == 1 && t[i].err == 0 && t[i].id_ok);
	UNIT_CHECKF(ok == n, "conn: all %d answered after blocked writes "
		"(%d ok)", n, ok);
	UNIT_CHECK(w.peer->accepted == 1 && dotpool_upstream_stats(
		w.up)->err_tls == 0, "conn: one connection, no TLS error "
		"(SSL_write retried with the same bytes)");
	check_at_rest(&w);
	world_free(&w);
	free(t);
}

/** edns-tcp-keepalive from the server: 0 closes after the answer, a
 * short timeout shortens our idle time. */
static void
test_keepalive(void)
{
	struct world w;
	struct treq t;
	int start = completed;
	world_init(&w);
	w.cfg.keepalive = 1;
	world_pool(&w, "dot.test");
	w.peer->keepalive = 0;
	treq_init(&t, 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000), "pool: done");
	UNIT_CHECK(t.err == 0, "pool: answered with keepalive 0");
	run_until(&w, NULL, 0, 50);
	UNIT_CHECK(w.up->conns == NULL && dotpool_upstream_health(w.up) ==
		DOTPOOL_UP, "conn: keepalive 0 closes the connection, no failure");
	world_free(&w);

	start = completed;
	world_init(&w);
	w.cfg.keepalive = 1;
	world_pool(&w, "dot.test");
	w.peer->keepalive = 3;
	treq_init(&t, 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000), "pool: done");
	run_until(&w, NULL, 0, 100);
	UNIT_CHECK(w.up->conns != NULL, "conn: open within the keepalive");
	run_until(&w, NULL, 0, 400);
	UNIT_CHECK(w.up->conns == NULL, "conn: closed by us after the "
		"server's 300 ms keepalive, before our 5 s idle timeout");
	world_free(&w);
}

/** One server that one zone uses strictly and another opportunistically
 * is two upstreams. The server's certificate is for another name: the
 * opportunistic upstream gets answers over its unauthenticated
 * connection, the strict one is refused before and after, and the server
 * never receives a strict query. Health is apart: the strict failure
 * does not make the opportunistic upstream avoided, an opportunistic
 * answer does not clear the strict one's backoff. */
static void
test_profile_identity(void)
{
	struct world w;
	struct dotpool_upstream* strict, *opp;
	struct treq t;
	int i, start;
	world_init(&w);
	w.board = dotpool_board_create();
	UNIT_REQUIRE(w.board != NULL, "board: created");
	w.cfg.backoff_initial = 5000;
	w.cfg.backoff_max = 5000;
	world_pool(&w, "wrong.test");
	strict = w.up;
	opp = world_upstream_p(&w, w.af, "wrong.test",
		DOTPOOL_PROFILE_OPPORTUNISTIC);
	UNIT_REQUIRE(opp != NULL && opp != strict, "pool: strict and "
		"opportunistic use of one server are two upstreams");
	UNIT_CHECK(world_upstream_p(&w, w.af, "wrong.test",
		DOTPOOL_PROFILE_OPPORTUNISTIC) == opp &&
		world_upstream_p(&w, w.af, "wrong.test",
		DOTPOOL_PROFILE_STRICT) == strict,
		"pool: the same profile finds the same upstream");
	UNIT_CHECK(strcmp(dotpool_upstream_name(strict),
		dotpool_upstream_name(opp)) != 0 &&
		strstr(dotpool_upstream_name(opp), " (opportunistic)") &&
		!strstr(dotpool_upstream_name(strict), "opportunistic"),
		"pool: the opportunistic upstream's label says so, the strict "
		"one's is addr@port#name");
	UNIT_CHECK(strict->shared && opp->shared && strict->shared !=
		opp->shared, "board: each has its own health slot");
	UNIT_CHECK(strict->auth.profile == DOTPOOL_PROFILE_STRICT &&
		opp->auth.profile == DOTPOOL_PROFILE_OPPORTUNISTIC,
		"pool: each keeps its profile");

	start = completed;
	treq_init(&t, 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(opp, &t.r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000) && t.err == 0,
		"pool: the opportunistic upstream answers despite the name");
	UNIT_CHECK(opp->conns && !opp->conns->authenticated,
		"conn: its connection is open and unauthenticated");
	for(i = 0; i < 3; i++) {
		start = completed;
		treq_init(&t, 10 + i, 10000);
		UNIT_REQUIRE(dotpool_pool_send(strict, &t.r) == 0,
			"pool: send");
		UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
			"pool: strict request completed");
		UNIT_CHECKF(t.err == DOTPOOL_EVERIFY, "pool: strict request %d "
			"after an opportunistic answer fails with EVERIFY (got "
			"%d)", i, t.err);
	}
	UNIT_CHECKF(w.peer->queries == 1, "pool: the server received only the "
		"opportunistic query (got %d)", w.peer->queries);
	UNIT_CHECK(strict->auth.session == NULL,
		"tls: no session of the opportunistic upstream for the strict");
	UNIT_CHECK(!dotpool_upstream_usable(strict) &&
		dotpool_upstream_usable(opp),
		"board: the strict upstream backs off, the opportunistic one "
		"is still usable");
	start = completed;
	treq_init(&t, 2, 10000);
	UNIT_REQUIRE(dotpool_pool_send(opp, &t.r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000) && t.err == 0,
		"pool: the opportunistic upstream answers again");
	UNIT_CHECK(!dotpool_upstream_usable(strict), "board: an opportunistic "
		"answer does not clear the strict upstream's backoff");
	/* an upstream: section's own profile wins over the zone's */
	w.ucfg.profile = DOTPOOL_PROFILE_STRICT;
	UNIT_CHECK(world_upstream_p(&w, w.af, "wrong.test",
		DOTPOOL_PROFILE_OPPORTUNISTIC) == strict,
		"pool: an upstream: section's profile wins over the zone's");
	w.ucfg.profile = -1;
	world_free(&w);
	dotpool_board_free(w.board);
}

/** The send path never writes a strict upstream's query on a connection
 * that did not authenticate the server, whatever led there: such a
 * connection offers no room, a direct send is refused, and the pool
 * opens an authenticated connection instead. */
static void
test_send_needs_auth(void)
{
	struct world w;
	struct treq t;
	struct dotpool_conn* c;
	struct pconn* pc;
	uint16_t id;
	int start = completed;
	world_init(&w);
	world_pool(&w, "dot.test");
	treq_init(&t, 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000) && t.err == 0,
		"pool: answered");
	c = w.up->conns;
	UNIT_REQUIRE(c && c->authenticated && dotpool_conn_has_room(c),
		"conn: an authenticated connection with room");
	c->authenticated = 0; /* as if its server had not been verified */
	UNIT_CHECK(!dotpool_conn_has_room(c), "conn: an unauthenticated "
		"connection has no room for a strict upstream's queries");
	treq_init(&t, 2, 10000);
	UNIT_CHECK(dotpool_conn_send(c, &t.r, &id) == DOTPOOL_EVERIFY &&
		t.r.state == DOTPOOL_REQ_IDLE && dotpool_wbuf_len(&c->wbuf) == 0,
		"conn: a direct send on it is refused, nothing queued");
	start = completed;
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000) && t.err == 0 &&
		t.id_ok, "pool: answered on another connection");
	UNIT_CHECK(w.peer->accepted == 2, "pool: a second connection opened");
	pc = peer_conn(w.peer, 1);
	UNIT_CHECKF(pc && pc->nrecv == 1, "pool: the unauthenticated "
		"connection carried nothing more (%d queries)",
		pc ? pc->nrecv : -1);
	world_free(&w);
}

/** Strict with neither a name nor pins: a chain alone would accept any
 * trusted certificate for any name, so nothing is sent. */
static void
test_strict_needs_name_or_pin(void)
{
	struct world w;
	struct treq t;
	int start = completed;
	world_init(&w);
	world_pool(&w, NULL);
	treq_init(&t, 1, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t.r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &completed, start + 1, 15000),
		"pool: request completed");
	UNIT_CHECKF(t.err == DOTPOOL_EVERIFY, "tls: strict without name or pin "
		"fails with EVERIFY (got %d)", t.err);
	run_until(&w, NULL, 0, 50);
	UNIT_CHECK(w.peer->app_bytes == 0 && w.peer->queries == 0,
		"tls: no DNS bytes sent");
	world_free(&w);
}

/** A 200-character name, prefix + tail. */
static void
long_name(char* out, const char* tail)
{
	size_t i, n = 200 - strlen(tail);
	for(i = 0; i < n; i++)
		out[i] = (i % 10 == 9) ? '.' : (char)('a' + i % 10);
	strcpy(out + n, tail);
}

/** Labels are the whole identity: two 200-character names that share a
 * long prefix are two labels, two health slots and two metrics rows. */
static void
test_long_labels(void)
{
	struct world w;
	struct dotpool_pool* p2, *own;
	struct dotpool_upstream* up2, *again;
	struct dotpool_metrics_snapshot* snap;
	char n1[201], n2[201], expect[300];
	const char* l1, *l2;
	long_name(n1, "one.test");
	long_name(n2, "two.test");
	UNIT_REQUIRE(strlen(n1) == 200 && strlen(n2) == 200 &&
		strncmp(n1, n2, 190) == 0, "test: two 200-character names "
		"with a common prefix");
	world_init(&w);
	w.board = dotpool_board_create();
	UNIT_REQUIRE(w.board != NULL, "board: created");
	w.cfg.backoff_initial = 5000;
	w.cfg.backoff_max = 5000;
	world_pool(&w, n1);
	up2 = world_upstream(&w, w.af, n2);
	UNIT_REQUIRE(up2 && up2 != w.up, "pool: two upstreams");
	l1 = dotpool_upstream_name(w.up);
	l2 = dotpool_upstream_name(up2);
	snprintf(expect, sizeof(expect), "127.0.0.1@%d#%s", w.peer->port, n1);
	UNIT_CHECKF(strcmp(l1, expect) == 0, "pool: the label keeps the "
		"whole name (%zu characters, expected %zu)", strlen(l1),
		strlen(expect));
	UNIT_CHECK(strcmp(l1, l2) != 0, "pool: the two labels differ");
	UNIT_CHECK(w.up->shared && up2->shared && w.up->shared != up2->shared,
		"board: two health slots");
	UNIT_CHECK(dotpool_board_slot(w.board, l1) == w.up->shared &&
		dotpool_board_slot(w.board, l2) == up2->shared,
		"board: each slot is found again by its full label");
	dotpool_upstream_report(w.up, DOTPOOL_OUTCOME_BAD_ANSWER);
	UNIT_CHECK(!dotpool_upstream_usable(w.up) &&
		dotpool_upstream_usable(up2), "board: one name failing does not "
		"make the other avoided");
	/* another worker's pool: the same name shares the slot */
	own = w.pool;
	p2 = dotpool_pool_create(w.base, &w.cfg, w.tls, NULL, NULL);
	UNIT_REQUIRE(p2 != NULL, "pool: another created");
	dotpool_pool_set_board(p2, w.board);
	w.pool = p2;
	again = world_upstream(&w, w.af, n1);
	w.pool = own;
	UNIT_CHECK(again && again->shared == w.up->shared &&
		!dotpool_upstream_usable(again),
		"board: the same long name on another worker shares its slot");
	snap = dotpool_metrics_snapshot_new();
	UNIT_REQUIRE(snap != NULL, "metrics: snapshot");
	UNIT_CHECK(dotpool_metrics_snapshot_add(snap, l1, "z.",
		dotpool_upstream_stats(w.up)) == 0 &&
		dotpool_metrics_snapshot_add(snap, l2, "z.",
		dotpool_upstream_stats(up2)) == 0 &&
		dotpool_metrics_snapshot_add(snap, dotpool_upstream_name(again),
		"z.", dotpool_upstream_stats(again)) == 0 && snap->num == 2,
		"metrics: two rows for two names, one for the same name twice");
	dotpool_metrics_snapshot_free(snap);
	/* link-local addresses on two interfaces are two servers */
	{
		struct sockaddr_in6 s6;
		struct dotpool_upstream* a, *b;
		memset(&s6, 0, sizeof(s6));
		s6.sin6_family = AF_INET6;
		s6.sin6_port = htons(853);
		UNIT_REQUIRE(inet_pton(AF_INET6, "fe80::1", &s6.sin6_addr) == 1,
			"test: fe80::1");
		s6.sin6_scope_id = 1;
		a = dotpool_pool_upstream(w.pool, (struct sockaddr*)&s6,
			sizeof(s6), "dot.test", NULL, DOTPOOL_PROFILE_STRICT);
		s6.sin6_scope_id = 2;
		b = dotpool_pool_upstream(w.pool, (struct sockaddr*)&s6,
			sizeof(s6), "dot.test", NULL, DOTPOOL_PROFILE_STRICT);
		UNIT_REQUIRE(a && b && a != b, "pool: two link-local upstreams");
		UNIT_CHECKF(strcmp(dotpool_upstream_name(a),
			"fe80::1%1@853#dot.test") == 0 &&
			strcmp(dotpool_upstream_name(b),
			"fe80::1%2@853#dot.test") == 0 && a->shared != b->shared,
			"pool: the scope is part of the label and the slot (%s, "
			"%s)", dotpool_upstream_name(a), dotpool_upstream_name(b));
	}
	dotpool_pool_free(p2, 1);
	world_free(&w);
	dotpool_board_free(w.board);
}

/** Send request n on the world's upstream and wait for its completion. */
static void
send_wait(struct world* w, struct treq* t, int n)
{
	int start = completed;
	treq_init(t, n, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w->up, &t->r) == 0,
		"pool: send accepted");
	UNIT_CHECK(run_until(w, &completed, start + 1, 15000),
		"pool: request completed");
	UNIT_CHECKF(t->err == 0 && t->id_ok, "pool: request %d answered "
		"(err %d)", n, t->err);
}

/** Learning how long a server lets connections idle: a close right after
 * an answer teaches nothing; a short idle close teaches no less than the
 * floor; when the server later keeps connections for the whole learned
 * time, the learned value goes up again. */
static void
test_idle_learning(void)
{
	struct world w;
	struct treq t;
	const struct dotpool_stats* s;
	unsigned before;
	world_init(&w);
	w.cfg.idle_timeout = 5000;
	w.cfg.rewarm_window = 0;
	world_pool(&w, "dot.test");
	s = dotpool_upstream_stats(w.up);

	/* closed 30 ms after the answer: a server closing after N queries,
	 * not an idle timeout */
	w.peer->idle_close_ms = 30;
	send_wait(&w, &t, 1);
	UNIT_CHECK(run_until(&w, &w.peer->idle_closes, 1, 2000),
		"peer: closed the connection after its answer");
	run_until(&w, NULL, 0, 50);
	UNIT_CHECK(w.up->nconns == 0 && s->idle_closed_by_peer == 1,
		"conn: the server's close after the answer was seen");
	UNIT_CHECKF(w.up->learned_idle_ms == 0, "conn: a close 30 ms after "
		"an answer teaches no idle time (learned %u ms)",
		w.up->learned_idle_ms);

	/* a real idle close, but after only 400 ms: the floor */
	w.peer->idle_close_ms = 400;
	send_wait(&w, &t, 2);
	UNIT_CHECK(run_until(&w, &w.peer->idle_closes, 2, 3000),
		"peer: closed the idle connection");
	run_until(&w, NULL, 0, 50);
	UNIT_CHECKF(w.up->learned_idle_ms == DOTPOOL_IDLE_LEARN_MIN_MS,
		"conn: an idle close after 400 ms teaches the floor of %u ms "
		"(learned %u ms)", DOTPOOL_IDLE_LEARN_MIN_MS,
		w.up->learned_idle_ms);
	send_wait(&w, &t, 3);
	UNIT_CHECK(w.up->conns && w.up->conns->idle_ms ==
		DOTPOOL_IDLE_LEARN_MIN_MS,
		"conn: a new connection idles for the learned time");
	UNIT_CHECK(run_until(&w, &w.peer->idle_closes, 3, 3000),
		"peer: closed the idle connection again");
	run_until(&w, NULL, 0, 50);

	/* the server keeps connections now: ours close at the learned time
	 * (the server kept them that long), and after a few such closes
	 * the learned time grows */
	w.peer->idle_close_ms = 0;
	before = w.up->learned_idle_ms;
	send_wait(&w, &t, 4);
	run_until(&w, NULL, 0, before + 300);
	UNIT_CHECK(w.up->nconns == 0, "conn: ours closed at the learned time");
	send_wait(&w, &t, 5);
	run_until(&w, NULL, 0, before + 300);
	UNIT_CHECK(w.up->nconns == 0, "conn: ours closed at the learned time "
		"again");
	UNIT_CHECKF(w.up->learned_idle_ms > before || w.up->learned_idle_ms ==
		0, "conn: the learned idle time rises again when the server "
		"keeps connections (%u ms, was %u ms)", w.up->learned_idle_ms,
		before);
	UNIT_CHECK(w.peer->idle_closes == 3 && s->err_closed == 0 &&
		dotpool_upstream_health(w.up) == DOTPOOL_UP,
		"conn: no close counted as a failure");
	check_at_rest(&w);
	world_free(&w);
}

/** A server that closes every connection shortly after its handshake or
 * its answer, inside the rewarm window: the close after the answer gets
 * one rewarm connection; that one, closed by the server without having
 * carried a query, is not replaced (no reconnect loop). */
static void
test_rewarm_no_loop(void)
{
	struct world w;
	struct treq t;
	world_init(&w);
	w.cfg.idle_timeout = 5000;
	w.cfg.rewarm_window = 10000;
	world_pool(&w, "dot.test");
	w.peer->idle_close_ms = 30;
	send_wait(&w, &t, 1);
	run_until(&w, NULL, 0, 1000);
	UNIT_CHECKF(w.peer->accepted == 2 && w.peer->hs_ok == 2,
		"pool: one rewarm connection after the close that followed the "
		"answer, none after the unused one was closed (%d "
		"connections)", w.peer->accepted);
	UNIT_CHECK(w.up->nconns == 0 && w.peer->queries == 1,
		"pool: nothing left open, no query on the rewarm connection");
	UNIT_CHECKF(w.up->learned_idle_ms == 0, "conn: nothing learned from "
		"closes right after an answer or a handshake (%u ms)",
		w.up->learned_idle_ms);
	world_free(&w);
}

/** Rewarm opens are rate-limited per upstream: a server that closes
 * idle connections every 300 ms gets a burst of rewarm connections, then
 * none, although the window is still open. */
static void
test_rewarm_rate(void)
{
	struct world w;
	struct treq t;
	world_init(&w);
	w.cfg.idle_timeout = 5000;
	w.cfg.rewarm_window = 10000;
	world_pool(&w, "dot.test");
	w.peer->idle_close_ms = 300;
	send_wait(&w, &t, 1);
	UNIT_CHECK(run_until(&w, &w.peer->hs_ok, 2, 2000),
		"pool: the server's idle close is replaced within the window");
	run_until(&w, NULL, 0, 2500);
	UNIT_CHECKF(w.peer->accepted <= 1 + DOTPOOL_REWARM_BURST,
		"pool: at most %d rewarm connections in a burst (%d "
		"connections)", DOTPOOL_REWARM_BURST, w.peer->accepted);
	UNIT_CHECK(w.peer->queries == 1, "pool: rewarm connections carry no "
		"query");
	/* the next query is served and is not refused by the limit */
	send_wait(&w, &t, 2);
	world_free(&w);
}

/* ---- a BIO seam: the TLS layer's reads and writes made to block ------- */

/* OpenSSL 3.0 does not write from SSL_read after the handshake (a TLS 1.3
 * key update is answered on the next SSL_write; renegotiation is off), nor
 * read from SSL_write. What the connection must handle is what
 * SSL_get_error reports for a BIO that needs the other direction first (a
 * BIO pair, a proxy BIO): these filters in front of the socket make the
 * TLS layer see exactly that. */

/** State of a test filter BIO. */
struct test_bio {
	/** the socket BIO underneath (one reference held) */
	BIO* next;
	/** a read returns "retry when writable" */
	int read_wants_write;
	/** a write returns "retry when readable" */
	int write_wants_read;
	/** reads or writes refused so */
	int refused;
};

/** Read: refuse while read_wants_write, else pass on. */
static int
test_bio_read(BIO* b, char* data, int len)
{
	struct test_bio* tb = BIO_get_data(b);
	int r;
	BIO_clear_retry_flags(b);
	if(tb->read_wants_write) {
		tb->refused++;
		BIO_set_retry_write(b);
		return -1;
	}
	r = BIO_read(tb->next, data, len);
	if(r <= 0 && BIO_should_retry(tb->next))
		BIO_set_retry_read(b);
	return r;
}

/** Write: refuse while write_wants_read, else pass on. */
static int
test_bio_write(BIO* b, const char* data, int len)
{
	struct test_bio* tb = BIO_get_data(b);
	int r;
	BIO_clear_retry_flags(b);
	if(tb->write_wants_read) {
		tb->refused++;
		BIO_set_retry_read(b);
		return -1;
	}
	r = BIO_write(tb->next, data, len);
	if(r <= 0 && BIO_should_retry(tb->next))
		BIO_set_retry_write(b);
	return r;
}

/** Control: the socket BIO's. */
static long
test_bio_ctrl(BIO* b, int cmd, long num, void* ptr)
{
	struct test_bio* tb = BIO_get_data(b);
	return BIO_ctrl(tb->next, cmd, num, ptr);
}

/** Create. */
static int
test_bio_create(BIO* b)
{
	BIO_set_init(b, 1);
	return 1;
}

/** Destroy: drop the reference to the socket BIO. */
static int
test_bio_destroy(BIO* b)
{
	struct test_bio* tb = BIO_get_data(b);
	if(tb)
		BIO_free(tb->next);
	BIO_set_data(b, NULL);
	return 1;
}

/** Put a test filter in front of a connection's socket, for reading
 * (rd) or for writing. */
static void
test_bio_install(SSL* ssl, struct test_bio* tb, int rd)
{
	static BIO_METHOD* meth;
	BIO* b;
	if(!meth) {
		meth = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_FILTER,
			"test filter");
		BIO_meth_set_read(meth, test_bio_read);
		BIO_meth_set_write(meth, test_bio_write);
		BIO_meth_set_ctrl(meth, test_bio_ctrl);
		BIO_meth_set_create(meth, test_bio_create);
		BIO_meth_set_destroy(meth, test_bio_destroy);
	}
	memset(tb, 0, sizeof(*tb));
	tb->next = rd ? SSL_get_rbio(ssl) : SSL_get_wbio(ssl);
	BIO_up_ref(tb->next);
	b = BIO_new(meth);
	BIO_set_data(b, tb);
	if(rd)
		SSL_set0_rbio(ssl, b);
	else	SSL_set0_wbio(ssl, b);
}

/** SSL_read returns WANT_WRITE while nothing is queued: the write event
 * is armed for it and disarmed once the read could go on (no busy loop on
 * a writable socket), and the answer is delivered. */
static void
test_read_wants_write(void)
{
	struct world w;
	struct treq t[2];
	struct dotpool_conn* c;
	struct test_bio tb;
	int wakes, start;
	world_init(&w);
	world_pool(&w, "dot.test");
	send_wait(&w, &t[0], 1);
	c = w.up->conns;
	UNIT_REQUIRE(c != NULL, "pool: connection up");
	run_until(&w, NULL, 0, 20);
	UNIT_CHECK(!c->writing && dotpool_wbuf_len(&c->wbuf) == 0,
		"conn: idle, nothing to write, write event off");
	/* the server holds a query; its answer comes when nothing is
	 * queued on our side */
	w.peer->hold = -1;
	start = completed;
	treq_init(&t[1], 2, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t[1].r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &w.peer->queries, 2, 2000),
		"peer: holds the second query");
	run_until(&w, NULL, 0, 20);
	UNIT_CHECK(!c->writing && dotpool_wbuf_len(&c->wbuf) == 0,
		"conn: the query is out, write event off");
	test_bio_install(c->ssl, &tb, 1);
	tb.read_wants_write = 1;
	w.peer->hold = 0;
	peer_answer_all(w.peer);
	UNIT_CHECK(run_until(&w, &tb.refused, 1, 2000),
		"conn: the answer came and SSL_read wanted to write");
	UNIT_CHECK(c->writing && dotpool_wbuf_len(&c->wbuf) == 0,
		"conn: the write event is armed for the read, nothing queued");
	tb.read_wants_write = 0;
	UNIT_CHECK(run_until(&w, &completed, start + 1, 2000) &&
		t[1].err == 0 && t[1].id_ok,
		"conn: the read went on from the write event: answered");
	run_until(&w, NULL, 0, 20);
	wakes = w.wakes;
	run_until(&w, NULL, 0, 200);
	UNIT_CHECKF(!c->writing, "conn: the write event is off once the "
		"read could go on (writing %d, %zu bytes queued)", c->writing,
		dotpool_wbuf_len(&c->wbuf));
	UNIT_CHECKF(w.wakes - wakes < 20, "conn: no busy loop on a writable "
		"socket (%d callbacks in 200 ms)", w.wakes - wakes);
	send_wait(&w, &t[0], 3);
	UNIT_CHECK(w.peer->accepted == 1 && w.up->conns == c,
		"conn: the same connection goes on working");
	check_at_rest(&w);
	world_free(&w);
}

/** SSL_write returns WANT_READ: the queued query waits for the read
 * event, the write event stays off (the socket is writable all along),
 * and the write goes out when the socket has something to read. */
static void
test_write_wants_read(void)
{
	struct world w;
	struct treq t[3];
	struct dotpool_conn* c;
	struct test_bio tb;
	int wakes, start, i;
	world_init(&w);
	world_pool(&w, "dot.test");
	send_wait(&w, &t[0], 1);
	c = w.up->conns;
	UNIT_REQUIRE(c != NULL, "pool: connection up");
	/* one query the server holds: its answer makes the socket readable
	 * later */
	w.peer->hold = 2;
	start = completed;
	treq_init(&t[1], 2, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t[1].r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &w.peer->queries, 2, 2000),
		"peer: holds the second query");
	test_bio_install(c->ssl, &tb, 0);
	tb.write_wants_read = 1;
	treq_init(&t[2], 3, 10000);
	UNIT_REQUIRE(dotpool_pool_send(w.up, &t[2].r) == 0, "pool: send");
	UNIT_CHECK(run_until(&w, &tb.refused, 1, 2000),
		"conn: SSL_write wanted to read");
	wakes = w.wakes;
	run_until(&w, NULL, 0, 100);
	UNIT_CHECKF(!c->writing && c->write_wants_read &&
		dotpool_wbuf_len(&c->wbuf) > 0, "conn: the query waits for a "
		"read, write event off (writing %d, %zu bytes queued)",
		c->writing, dotpool_wbuf_len(&c->wbuf));
	UNIT_CHECKF(w.wakes - wakes < 20, "conn: no busy loop while the "
		"write waits for a read (%d callbacks)", w.wakes - wakes);
	UNIT_CHECK(w.peer->queries == 2, "peer: the third query is not out");
	tb.write_wants_read = 0;
	w.peer->hold = 0;
	peer_answer_all(w.peer);
	UNIT_CHECK(run_until(&w, &completed, start + 2, 2000),
		"conn: the read event retried the write: both answered");
	for(i = 1; i < 3; i++)
		UNIT_CHECKF(t[i].ndone == 1 && t[i].err == 0 && t[i].id_ok,
			"pool: request %d answered", i);
	UNIT_CHECK(!c->writing && !c->write_wants_read,
		"conn: nothing waits any more");
	check_at_rest(&w);
	world_free(&w);
}

/** A zero-delay timer that re-arms itself: counts loop iterations. */
static void
ticker_cb(evutil_socket_t fd, short what, void* arg)
{
	struct event* ev = arg;
	struct timeval tv = { 0, 0 };
	(void)fd; (void)what;
	loop_tick++;
	event_add(ev, &tv);
}

/** An upstream that sends many answers at once: the connection delivers
 * them in batches of at most DOTPOOL_CONN_READ_FRAMES per event, the loop
 * runs other events between the batches (the TLS layer has already read
 * the bytes ahead, the socket is not readable again: the connection
 * calls itself again), and every answer is delivered once. */
static void
test_read_budget(void)
{
	struct world w;
	struct treq* t;
	struct event ticker;
	struct timeval tv = { 0, 0 };
	int i, n = 1000, ok = 0, start = completed, run = 1, maxrun = 1;
	unsigned batches = 1;
	world_init(&w);
	w.cfg.max_inflight = 2000;
	w.cfg.max_connections = 1;
	w.cfg.max_queue = 2000;
	world_pool(&w, "dot.test");
	t = calloc((size_t)n, sizeof(*t));
	send_wait(&w, &t[0], 0);
	w.peer->hold = n - 1;
	for(i = 1; i < n; i++) {
		treq_init(&t[i], i, 10000);
		UNIT_REQUIRE(dotpool_pool_send(w.up, &t[i].r) == 0,
			"pool: send accepted");
	}
	event_assign(&ticker, w.base, -1, 0, ticker_cb, &ticker);
	event_add(&ticker, &tv);
	run_until(&w, &completed, start + n, 15000);
	event_del(&ticker);
	for(i = 0; i < n; i++)
		ok += (t[i].ndone == 1 && t[i].err == 0 && t[i].id_ok);
	UNIT_CHECKF(ok == n, "conn: all %d answers delivered once (%d ok)",
		n, ok);
	for(i = 2; i < n; i++) {
		if(t[i].tick == t[i - 1].tick) {
			if(++run > maxrun)
				maxrun = run;
		} else {
			run = 1;
			batches++;
		}
	}
	UNIT_CHECKF(maxrun <= DOTPOOL_CONN_READ_FRAMES, "conn: at most %d "
		"answers per read event (%d in one)", DOTPOOL_CONN_READ_FRAMES,
		maxrun);
	UNIT_CHECKF(batches >= (unsigned)(n - 1) / DOTPOOL_CONN_READ_FRAMES,
		"conn: other events ran between the batches (%u batches)",
		batches);
	UNIT_CHECK(w.peer->accepted == 1 && dotpool_upstream_stats(
		w.up)->dropped == 0, "conn: one connection, nothing dropped");
	check_at_rest(&w);
	world_free(&w);
	free(t);
}

/** No message of the whole suite named a query. */
static void
test_log_privacy(void)
{
	UNIT_CHECK(log_count > 0, "log: the transport logged through the hook");
	UNIT_CHECK(log_leak == 0, "log: no message names a query");
}

/** The TLS context refuses to authenticate nothing. */
static void
test_tls_create(void)
{
	struct dotpool_config cfg;
	struct dotpool_upstream_cfg u;
	struct dotpool_tls_trust trust = { NULL, 0, 1 };
	struct dotpool_tls* t;
	char err[256] = "";
	memset(&cfg, 0, sizeof(cfg));
	memset(&u, 0, sizeof(u));
	u.profile = -1;
	t = dotpool_tls_create(&trust, &cfg, err, sizeof(err));
	UNIT_CHECK(t == NULL && strstr(err, "tls-cert-bundle") != NULL,
		"tls: no CA, no pins, strict: refused with a clear message");
	u.num_pins = 1;
	cfg.upstreams = &u;
	t = dotpool_tls_create(&trust, &cfg, err, sizeof(err));
	UNIT_CHECK(t != NULL && !dotpool_tls_has_ca(t),
		"tls: pins alone are enough to create a context");
	dotpool_tls_free(t);
	cfg.tls_min_version = (char*)"1.1";
	t = dotpool_tls_create(&trust, &cfg, err, sizeof(err));
	UNIT_CHECK(t == NULL, "tls: TLS below 1.2 refused");
	dotpool_tls_free(NULL);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "tls_create", test_tls_create },
		{ "pipelined_out_of_order", test_pipelined_out_of_order },
		{ "rtt_samples", test_rtt_samples },
		{ "onebyte_records", test_onebyte_records },
		{ "wrong_name", test_wrong_name },
		{ "pins", test_pins },
		{ "timeout_late_answer", test_timeout_late_answer },
		{ "peer_close_resend", test_peer_close_resend },
		{ "bad_answers", test_bad_answers },
		{ "big_and_duplicate", test_big_and_duplicate },
		{ "queue", test_queue },
		{ "idle_close_by_peer", test_idle_close_by_peer },
		{ "cancel_in_done", test_cancel_in_done },
		{ "free_pending", test_free_pending },
		{ "connect_refused", test_connect_refused },
		{ "handshake_timeout", test_handshake_timeout },
		{ "health", test_health },
		{ "probe", test_probe },
		{ "session_per_name", test_session_per_name },
		{ "client_cert_v6", test_client_cert_v6 },
		{ "prewarm", test_prewarm },
		{ "rewarm_window", test_rewarm_window },
		{ "board_shared_health", test_board_shared_health },
		{ "drain_stale", test_drain_stale },
		{ "partial_writes", test_partial_writes },
		{ "keepalive", test_keepalive },
		{ "profile_identity", test_profile_identity },
		{ "send_needs_auth", test_send_needs_auth },
		{ "strict_needs_name_or_pin", test_strict_needs_name_or_pin },
		{ "long_labels", test_long_labels },
		{ "idle_learning", test_idle_learning },
		{ "rewarm_no_loop", test_rewarm_no_loop },
		{ "rewarm_rate", test_rewarm_rate },
		{ "read_wants_write", test_read_wants_write },
		{ "write_wants_read", test_write_wants_read },
		{ "read_budget", test_read_budget },
		{ "log_privacy", test_log_privacy },
		{ NULL, NULL }
	};
	int r;
	/* as Unbound does (daemon.c): a write to a closed socket is an
	 * error return, not a signal */
	signal(SIGPIPE, SIG_IGN);
	dotpool_log_set(test_log);
	if(!peer_certs_make()) {
		fprintf(stderr, "test_pool: cannot make test certificates "
			"(openssl tool needed)\n");
		return 99;
	}
	r = unit_run("pool", tests);
	peer_certs_remove();
	return r;
}
