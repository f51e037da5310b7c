/**
 * \file
 * Unit tests of module/conn.c alone, with a fake context and a recording
 * owner: what a connection that cannot get going does (its state, its
 * counters, the one closed() report with how it ended, the deferral it
 * asks for, nothing sent before READY), without a server. The connection
 * against a real TLS peer is the component tier's (tests/component/).
 */
#include <string.h>
#include <sys/socket.h>
#include "dotpool/error.h"
#include "dotpool/log.h"
#include "module/conn.h"
#include "fake_ctx.h"
#include "unit.h"

/** The fake owner: what it was told. */
struct owner {
	/** calls of each callback */
	int ready, answer, lost, closed, changed;
	/** the last end reported */
	struct dotpool_conn_end end;
	/** the context */
	struct fake_ctx fx;
	/** the counters the connection adds to */
	struct dotpool_stats stats;
	/** authentication data */
	struct dotpool_tls_auth auth;
	/** the "server" address */
	struct sockaddr_storage addr;
};

static void
on_ready(void* o, struct dotpool_conn* c)
{
	(void)c;
	((struct owner*)o)->ready++;
}

static void
on_answer(void* o, struct dotpool_conn* c, struct dotpool_req* req,
	uint8_t* msg, size_t len)
{
	(void)c; (void)req; (void)msg; (void)len;
	((struct owner*)o)->answer++;
}

static void
on_lost(void* o, struct dotpool_req* req, int progress)
{
	(void)req; (void)progress;
	((struct owner*)o)->lost++;
}

static void
on_closed(void* o, struct dotpool_conn* c, const struct dotpool_conn_end* e)
{
	struct owner* w = o;
	UNIT_CHECK(c->state == DOTPOOL_CONN_CLOSED && c->fd == -1,
		"conn: closed() reports a connection already CLOSED, fd gone");
	w->closed++;
	w->end = *e;
}

static void
on_changed(void* o, struct dotpool_conn* c)
{
	(void)c;
	((struct owner*)o)->changed++;
}

static const struct dotpool_conn_ops ops = {
	on_ready, on_answer, on_lost, on_closed, on_changed
};

/** Log lines seen, and whether one named the connection. */
static int log_lines, log_named;

static void
test_log(int level, const char* msg)
{
	(void)level;
	log_lines++;
	if(strstr(msg, "192.0.2.1@853#dot.test"))
		log_named++;
}

/** Set up the owner and a connection for an address of family af. */
static struct dotpool_conn*
owner_conn(struct owner* w, int af)
{
	struct dotpool_conn_args a;
	memset(w, 0, sizeof(*w));
	fake_ctx_init(&w->fx);
	w->fx.rnd = 0x1234;
	w->fx.cfg.max_inflight = 16;
	w->fx.cfg.connect_timeout = 1000;
	w->fx.cfg.idle_timeout = 5000;
	w->auth.profile = DOTPOOL_PROFILE_STRICT;
	w->addr.ss_family = (sa_family_t)af;
	memset(&a, 0, sizeof(a));
	a.ctx = &w->fx.ctx;
	a.ops = &ops;
	a.owner = w;
	a.addr = &w->addr;
	a.addrlen = sizeof(w->addr);
	a.auth = &w->auth;
	a.label = "192.0.2.1@853#dot.test";
	a.stats = &w->stats;
	a.idle_ms = 1234;
	a.idle_learned = 1;
	return dotpool_conn_new(&a);
}

/** A made connection: CONNECTING, nothing on the wire, takes nothing. */
static void
test_new(void)
{
	struct owner w;
	struct dotpool_conn* c = owner_conn(&w, AF_INET);
	uint8_t q[17] = { 0, 0, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0,
		1 };
	struct dotpool_req req;
	uint16_t id = 0;
	UNIT_REQUIRE(c != NULL, "conn: made");
	UNIT_CHECK(c->state == DOTPOOL_CONN_CONNECTING && c->fd == -1 &&
		dotpool_conn_pending(c) && !dotpool_conn_idle(c) &&
		dotpool_conn_live(c) == 0, "conn: a new connection is "
		"CONNECTING with no socket yet");
	UNIT_CHECK(c->idle_ms == 1234 && c->idle_learned &&
		c->qseed == 0x12341234u, "conn: idle time from its owner, "
		"question-hash key from the context's random bits");
	memset(&req, 0, sizeof(req));
	req.wire = q;
	req.len = sizeof(q);
	UNIT_CHECK(!dotpool_conn_has_room(c) &&
		dotpool_conn_send(c, &req, &id) == DOTPOOL_EAGAIN &&
		dotpool_wbuf_len(&c->wbuf) == 0 && w.stats.queries == 0 &&
		q[0] == 0 && q[1] == 0, "conn: nothing is sent before READY, "
		"the query untouched");
	UNIT_CHECK(dotpool_conn_mem(c) > sizeof(*c), "conn: its memory counts "
		"its buffers and ID map");
	UNIT_CHECK(w.ready + w.answer + w.lost + w.closed + w.changed == 0 &&
		w.fx.defers == 0, "conn: making one reports nothing");
	dotpool_conn_free(c, 1);
	fake_ctx_free(&w.fx);
}

/** The socket cannot be made: closed at once, reported once as a
 * connect failure against health, counted, deferral asked for. */
static void
test_socket_fails(void)
{
	struct owner w;
	int fds = unit_count_fds();
	struct dotpool_conn* c = owner_conn(&w, AF_UNSPEC);
	UNIT_REQUIRE(c != NULL, "conn: made");
	log_lines = log_named = 0;
	dotpool_conn_start(c);
	UNIT_CHECK(c->state == DOTPOOL_CONN_CLOSED && w.closed == 1,
		"conn: a socket that cannot be made closes the connection at "
		"once, reported once");
	UNIT_CHECK(w.end.err == DOTPOOL_EIO && w.end.failure &&
		!w.end.was_ready && w.end.idle && w.end.sent == 0 &&
		w.end.peer_idle_ms == 0 && w.end.kept_idle_ms == 0,
		"conn: the end says: I/O error, a failure, never ready, "
		"nothing in flight, nothing to learn");
	UNIT_CHECK(w.stats.conns_opened == 1 && w.stats.err_connect == 1,
		"conn: counted as opened and as a connect error");
	UNIT_CHECK(w.fx.defers == 1, "conn: the owner's deferred work is "
		"asked for (it frees the connection, not the callback)");
	UNIT_CHECK(w.ready == 0 && w.answer == 0 && w.lost == 0,
		"conn: no ready, answer or lost for a connection that never "
		"came up");
	UNIT_CHECK(log_named > 0, "conn: the log line names the upstream "
		"(its label)");
	dotpool_conn_close(c, DOTPOOL_ETIMEOUT, 1);
	UNIT_CHECK(w.closed == 1 && w.fx.defers == 1 &&
		w.end.err == DOTPOOL_EIO, "conn: closing a closed connection "
		"does nothing");
	dotpool_conn_free(c, 1);
	dotpool_conn_free(NULL, 1);
	fake_ctx_free(&w.fx);
	UNIT_CHECKF(unit_count_fds() == fds, "conn: no fd left open (%d "
		"before, %d after)", fds, unit_count_fds());
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "new", test_new },
		{ "socket_fails", test_socket_fails },
		{ NULL, NULL }
	};
	dotpool_log_set(test_log);
	return unit_run("conn", tests);
}
