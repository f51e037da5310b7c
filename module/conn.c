/**
 * \file
 * One DoT connection (RFC 7858): non-blocking TCP connect, TLS handshake,
 * pipelined framed queries, answers matched by ID and question. Any
 * protocol error closes the connection; closing never runs a request
 * callback (the owner fails or re-sends those from its deferred event) and
 * never frees the connection (the owner does, later), so a callback up the
 * stack may still look at it. What the connection learns about its server
 * (health, idle times) it reports through its callback table
 * (module/conn.h); it knows nothing of upstreams or pools.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include "dotpool/error.h"
#include "dotpool/log.h"
#include "dotpool/wire.h"
#include "conn.h"
#include "conn_int.h"

/** Most bytes of queries waiting to be written on one connection. */
#define CONN_WBUF_MAX (256 * 1024)
/** Rough size of an OpenSSL connection with its buffers, for get_mem. */
#define CONN_SSL_MEM 40000

const char*
dotpool_conn_state_str(enum dotpool_conn_state s)
{
	switch(s) {
	case DOTPOOL_CONN_CONNECTING: return "connecting";
	case DOTPOOL_CONN_HANDSHAKING: return "handshaking";
	case DOTPOOL_CONN_READY: return "ready";
	case DOTPOOL_CONN_DRAINING: return "draining";
	case DOTPOOL_CONN_CLOSED: return "closed";
	}
	return "unknown";
}

/**
 * The only writer of c->state: a connection only moves forward, so an
 * illegal step is a bug in the connection's two files; refuse it rather
 * than corrupt.
 * @return 0 or DOTPOOL_EINVAL (state unchanged).
 */
int
dotpool_conn_set_state(struct dotpool_conn* c, enum dotpool_conn_state n)
{
	enum dotpool_conn_state o = c->state;
	int ok = 0;
	switch(o) {
	case DOTPOOL_CONN_CONNECTING:
		ok = (n == DOTPOOL_CONN_HANDSHAKING || n == DOTPOOL_CONN_CLOSED);
		break;
	case DOTPOOL_CONN_HANDSHAKING:
		ok = (n == DOTPOOL_CONN_READY || n == DOTPOOL_CONN_CLOSED);
		break;
	case DOTPOOL_CONN_READY:
		ok = (n == DOTPOOL_CONN_DRAINING || n == DOTPOOL_CONN_CLOSED);
		break;
	case DOTPOOL_CONN_DRAINING:
		ok = (n == DOTPOOL_CONN_CLOSED);
		break;
	case DOTPOOL_CONN_CLOSED:
		ok = 0;
		break;
	}
	if(!ok) {
		dotpool_log(DOTPOOL_LOG_ERR, "dotpool: %s: illegal connection "
			"state change %s -> %s", c->with.label,
			dotpool_conn_state_str(o), dotpool_conn_state_str(n));
		return DOTPOOL_EINVAL;
	}
	dotpool_log(DOTPOOL_LOG_ALGO, "dotpool: %s: connection %s -> %s",
		c->with.label, dotpool_conn_state_str(o),
		dotpool_conn_state_str(n));
	c->state = n;
	return 0;
}

/** Whether the connection carries queries (answers may arrive). */
int
conn_open_for_io(const struct dotpool_conn* c)
{
	return c->state == DOTPOOL_CONN_READY ||
		c->state == DOTPOOL_CONN_DRAINING;
}

/** Add or remove the write event. */
static void
conn_want_write(struct dotpool_conn* c, int on)
{
	if(on && !c->writing) {
		if(event_add(&c->ev_write, NULL) == 0)
			c->writing = 1;
	} else if(!on && c->writing) {
		(void)event_del(&c->ev_write);
		c->writing = 0;
	}
}

/**
 * Arm the write event of a READY or DRAINING connection exactly while
 * something waits for a writable socket: a read the TLS layer cannot
 * finish without writing, or queued bytes that are not waiting for a read
 * instead. Anything else armed on an always-writable socket is a busy
 * loop. (The connect and the handshake arm it themselves.)
 */
void
conn_interest(struct dotpool_conn* c)
{
	if(!conn_open_for_io(c))
		return;
	conn_want_write(c, c->read_wants_write ||
		(dotpool_wbuf_len(&c->wbuf) > 0 && !c->write_wants_read));
}

/** Arm the connection timer. */
static void
conn_timer(struct dotpool_conn* c, unsigned ms)
{
	struct timeval tv;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	(void)event_add(&c->ev_timer, &tv);
}

/**
 * After any change: keep the idle timer right (only a READY connection with
 * nothing live in flight idles; a DRAINING one with nothing live closes on
 * the next loop iteration) and the gauges exact.
 */
static void
conn_update(struct dotpool_conn* c)
{
	if(conn_open_for_io(c)) {
		if(dotpool_idmap_live(c->ids) == 0) {
			if(c->state == DOTPOOL_CONN_DRAINING)
				conn_timer(c, 0);
			else if(!evtimer_pending(&c->ev_timer, NULL))
				conn_timer(c, c->idle_ms);
		} else {
			(void)event_del(&c->ev_timer);
		}
	}
	c->with.ops->changed(c->with.owner, c);
}

/** Whether the connection may carry its upstream's queries: a strict
 * upstream's only when the server was authenticated. */
static int
conn_auth_ok(const struct dotpool_conn* c)
{
	return c->authenticated ||
		c->with.auth->profile != DOTPOOL_PROFILE_STRICT;
}

int
dotpool_conn_has_room(const struct dotpool_conn* c)
{
	return c->state == DOTPOOL_CONN_READY && conn_auth_ok(c) &&
		dotpool_idmap_used(c->ids) < dotpool_idmap_capacity(c->ids);
}

int
dotpool_conn_pending(const struct dotpool_conn* c)
{
	return c->state == DOTPOOL_CONN_CONNECTING ||
		c->state == DOTPOOL_CONN_HANDSHAKING;
}

unsigned
dotpool_conn_live(const struct dotpool_conn* c)
{
	return dotpool_idmap_live(c->ids);
}

int
dotpool_conn_heard_since(const struct dotpool_conn* c, uint64_t t_us)
{
	return c->last_read_us >= t_us;
}

int
dotpool_conn_idle(const struct dotpool_conn* c)
{
	return c->state == DOTPOOL_CONN_READY &&
		dotpool_idmap_live(c->ids) == 0;
}

/** dotpool_conn_drain's walk of the ID map. */
struct conn_visit {
	/** the visitor */
	void (*fn)(struct dotpool_req* req, void* arg);
	/** its argument */
	void* arg;
};

/** Visit one live request. */
static void
conn_visit_one(void* owner, uint16_t id, void* arg)
{
	struct conn_visit* v = arg;
	(void)id;
	v->fn(owner, v->arg);
}

void
dotpool_conn_drain(struct dotpool_conn* c,
	void (*fn)(struct dotpool_req* req, void* arg), void* arg)
{
	struct conn_visit v;
	v.fn = fn;
	v.arg = arg;
	dotpool_idmap_drain(c->ids, conn_visit_one, &v);
}

/** Hand each live request of a closing connection back to its owner. */
static void
conn_drain_one(void* owner, uint16_t id, void* arg)
{
	struct dotpool_conn* c = arg;
	(void)id;
	/* a connection that answered something made progress: its
	 * unanswered queries are re-sent without using up their one
	 * re-send (a server that closes after every k queries still gets
	 * through a burst, k at a time) */
	c->with.ops->lost(c->with.owner, owner, c->answered > 0);
}

/**
 * Close, and tell the owner how it ended.
 * @param peer_idle_ms: see struct dotpool_conn_end.
 * @param kept_idle_ms: see struct dotpool_conn_end.
 */
void
conn_end(struct dotpool_conn* c, int err, int failure, uint64_t peer_idle_ms,
	unsigned kept_idle_ms)
{
	struct dotpool_conn_end end;
	if(c->state == DOTPOOL_CONN_CLOSED)
		return;
	memset(&end, 0, sizeof(end));
	end.err = err;
	end.failure = failure;
	end.was_ready = c->was_ready;
	end.idle = dotpool_idmap_live(c->ids) == 0;
	end.sent = c->sent;
	end.answered = c->answered;
	end.idle_ms = c->idle_ms;
	end.quiet_us = dotpool_ctx_now(c->with.ctx) - c->last_activity_us;
	end.peer_idle_ms = peer_idle_ms;
	end.kept_idle_ms = kept_idle_ms;
	if(dotpool_conn_set_state(c, DOTPOOL_CONN_CLOSED) != 0)
		return;
	if(c->ev_assigned) {
		(void)event_del(&c->ev_read);
		(void)event_del(&c->ev_write);
		(void)event_del(&c->ev_timer);
		(void)event_del(&c->ev_more);
		c->writing = 0;
	}
	if(c->ssl && err == 0) {
		/* polite close_notify; a full socket buffer just loses it */
		ERR_clear_error();
		(void)SSL_shutdown(c->ssl);
		ERR_clear_error();
	}
	if(c->ssl && c->was_ready && err != DOTPOOL_ETLS &&
		err != DOTPOOL_EPROTO)
		/* OpenSSL marks the session of a connection freed without a
		 * sent shutdown as not resumable; a clean close (idle, server
		 * going away) must keep it */
		SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN |
			SSL_get_shutdown(c->ssl));
	if(c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	if(err != 0)
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: connection "
			"closed: %s", c->with.label, dotpool_strerror(err));
	/* requests in flight are re-sent once or failed, from the loop */
	dotpool_idmap_drain(c->ids, conn_drain_one, c);
	c->stale = 0;
	c->with.ops->closed(c->with.owner, c, &end);
	/* freed from the owner's deferred work, never here */
	c->with.ctx->defer(c->with.ctx->arg);
}

void
dotpool_conn_close(struct dotpool_conn* c, int err, int failure)
{
	conn_end(c, err, failure, 0, 0);
}

void
dotpool_conn_free(struct dotpool_conn* c, int base_alive)
{
	if(!c)
		return;
	if(c->ev_assigned && base_alive) {
		(void)event_del(&c->ev_read);
		(void)event_del(&c->ev_write);
		(void)event_del(&c->ev_timer);
		(void)event_del(&c->ev_more);
	}
	if(c->ssl)
		SSL_free(c->ssl);
	if(c->fd != -1)
		close(c->fd);
	dotpool_idmap_free(c->ids);
	dotpool_wbuf_free(&c->wbuf);
	dotpool_frame_reader_free(&c->rd);
	free(c);
}

size_t
dotpool_conn_mem(const struct dotpool_conn* c)
{
	size_t m = sizeof(*c) + c->wbuf.cap + c->rd.cap +
		dotpool_idmap_mem(c->ids);
	if(c->ssl)
		m += CONN_SSL_MEM;
	return m;
}

/** Count and log a TLS or verification failure, then close. */
static void
conn_fail_tls(struct dotpool_conn* c, int err, const char* msg)
{
	if(err == DOTPOOL_EVERIFY)
		c->with.stats->err_verify++;
	else	c->with.stats->err_tls++;
	dotpool_log(DOTPOOL_LOG_WARN, "dotpool: %s: %s", c->with.label, msg);
	dotpool_conn_close(c, err, 1);
}

/** The handshake finished: authenticate, then take queries. */
static void
conn_handshake_done(struct dotpool_conn* c)
{
	char err[256];
	if(dotpool_tls_conn_verify(c->ssl, c->with.auth, err,
		sizeof(err)) != 0) {
		if(c->with.auth->profile == DOTPOOL_PROFILE_STRICT) {
			/* nothing was written: queries only go out on READY */
			conn_fail_tls(c, DOTPOOL_EVERIFY, err);
			return;
		}
		c->with.stats->err_verify++;
		dotpool_log(DOTPOOL_LOG_WARN, "dotpool: %s: not authenticated "
			"(%s); opportunistic profile, using it anyway",
			c->with.label, err);
	} else {
		c->authenticated = 1;
	}
	if(SSL_session_reused(c->ssl))
		c->with.stats->hs_resumed++;
	else	c->with.stats->hs_full++;
	(void)event_del(&c->ev_timer);
	if(dotpool_conn_set_state(c, DOTPOOL_CONN_READY) != 0)
		return;
	c->was_ready = 1;
	c->last_activity_us = dotpool_ctx_now(c->with.ctx);
	c->last_read_us = c->last_activity_us;
	dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: connected (%s, %s)",
		c->with.label, SSL_get_version(c->ssl),
		SSL_session_reused(c->ssl) ? "resumed" : "full handshake");
	c->with.ops->ready(c->with.owner, c);
}

/** Drive the handshake one step. */
static void
conn_handshake(struct dotpool_conn* c)
{
	char err[256];
	int r, e;
	ERR_clear_error();
	r = SSL_connect(c->ssl);
	if(r == 1) {
		conn_want_write(c, 0);
		conn_handshake_done(c);
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if(e == SSL_ERROR_WANT_READ) {
		conn_want_write(c, 0);
		return;
	}
	if(e == SSL_ERROR_WANT_WRITE) {
		conn_want_write(c, 1);
		return;
	}
	if(e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		ERR_clear_error();
		if(SSL_get_verify_result(c->ssl) == X509_V_OK) {
			snprintf(err, sizeof(err), "connection lost during "
				"the TLS handshake");
			conn_fail_tls(c, DOTPOOL_ETLS, err);
			return;
		}
	}
	conn_fail_tls(c, dotpool_tls_handshake_error(c->ssl, err,
		sizeof(err)), err);
}

/** Everything a readable or writable socket may mean once TLS runs. */
static void
conn_io(struct dotpool_conn* c)
{
	if(c->state == DOTPOOL_CONN_HANDSHAKING) {
		conn_handshake(c);
		if(!conn_open_for_io(c))
			return;
	}
	if(!conn_open_for_io(c))
		return;
	/* read first: a server that answered and then closed would
	 * otherwise fail our write and lose answers already here */
	conn_read(c);
	if(!conn_open_for_io(c))
		return;
	/* answers freed IDs, and done() callbacks may have queued more */
	c->with.ops->ready(c->with.owner, c);
	if(!conn_open_for_io(c))
		return;
	if(dotpool_wbuf_len(&c->wbuf) > 0)
		conn_flush(c);
	if(!conn_open_for_io(c))
		return;
	if(dotpool_wbuf_len(&c->wbuf) == 0) {
		/* the buffer was full and has drained: refill it now, no
		 * other event may come to do it */
		c->with.ops->ready(c->with.owner, c);
		if(!conn_open_for_io(c))
			return;
		if(dotpool_wbuf_len(&c->wbuf) > 0)
			conn_flush(c);
		if(!conn_open_for_io(c))
			return;
	}
	conn_update(c);
}

/** The TCP connect finished (or failed): start TLS. */
static void
conn_connected(struct dotpool_conn* c)
{
	char err[256];
	int soerr = 0;
	socklen_t slen = sizeof(soerr);
	if(getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &slen) != 0)
		soerr = errno;
	if(soerr != 0) {
		c->with.stats->err_connect++;
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: connect failed: %s",
			c->with.label, strerror(soerr));
		dotpool_conn_close(c, DOTPOOL_EIO, 1);
		return;
	}
	c->ssl = dotpool_tls_conn_new(c->with.ctx->tls, c->with.auth, c->fd,
		err, sizeof(err));
	if(!c->ssl) {
		conn_fail_tls(c, DOTPOOL_ETLS, err);
		return;
	}
	if(dotpool_conn_set_state(c, DOTPOOL_CONN_HANDSHAKING) != 0)
		return;
	if(event_add(&c->ev_read, NULL) != 0) {
		dotpool_conn_close(c, DOTPOOL_EIO, 0);
		return;
	}
	conn_handshake(c);
}

/** Readable socket. */
static void
conn_read_cb(evutil_socket_t fd, short what, void* arg)
{
	struct dotpool_conn* c = arg;
	(void)fd; (void)what;
	dotpool_ctx_wake(c->with.ctx);
	conn_io(c);
}

/** Writable socket (connect done, or a blocked write can go on). */
static void
conn_write_cb(evutil_socket_t fd, short what, void* arg)
{
	struct dotpool_conn* c = arg;
	(void)fd; (void)what;
	dotpool_ctx_wake(c->with.ctx);
	if(c->state == DOTPOOL_CONN_CONNECTING) {
		conn_want_write(c, 0);
		conn_connected(c);
		return;
	}
	conn_io(c);
}

/** A read event spent its budget: go on where it stopped. */
static void
conn_more_cb(evutil_socket_t fd, short what, void* arg)
{
	struct dotpool_conn* c = arg;
	(void)fd; (void)what;
	dotpool_ctx_wake(c->with.ctx);
	if(conn_open_for_io(c))
		conn_io(c);
}

/** Connect timeout, idle timeout, or a drained connection to close. */
static void
conn_timer_cb(evutil_socket_t fd, short what, void* arg)
{
	struct dotpool_conn* c = arg;
	(void)fd; (void)what;
	dotpool_ctx_wake(c->with.ctx);
	switch(c->state) {
	case DOTPOOL_CONN_CONNECTING:
		c->with.stats->err_connect++;
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: connect timed out",
			c->with.label);
		dotpool_conn_close(c, DOTPOOL_ETIMEOUT, 1);
		break;
	case DOTPOOL_CONN_HANDSHAKING:
		c->with.stats->err_tls++;
		dotpool_log(DOTPOOL_LOG_WARN, "dotpool: %s: TLS handshake timed "
			"out", c->with.label);
		dotpool_conn_close(c, DOTPOOL_ETIMEOUT, 1);
		break;
	case DOTPOOL_CONN_READY:
	case DOTPOOL_CONN_DRAINING:
		if(dotpool_idmap_live(c->ids) == 0)
			/* at a learned idle time: the server kept it that
			 * long, which the owner learns from */
			conn_end(c, 0, 0, 0, c->state == DOTPOOL_CONN_READY &&
				c->idle_learned ? c->idle_ms : 0);
		break;
	case DOTPOOL_CONN_CLOSED:
		break;
	}
}

struct dotpool_conn*
dotpool_conn_new(const struct dotpool_conn_args* a)
{
	const struct dotpool_config* cfg = a->ctx->cfg;
	struct dotpool_conn* c = calloc(1, sizeof(*c));
	if(!c)
		return NULL;
	c->fd = -1;
	c->with = *a;
	c->idle_ms = a->idle_ms;
	c->idle_learned = a->idle_learned;
	c->qseed = ((uint32_t)a->ctx->rand16(a->ctx->arg) << 16) |
		a->ctx->rand16(a->ctx->arg);
	if(!(c->ids = dotpool_idmap_create(cfg->max_inflight ?
		cfg->max_inflight : 1)))
		goto fail;
	if(dotpool_frame_reader_init(&c->rd) != 0)
		goto fail;
	dotpool_wbuf_init(&c->wbuf, CONN_WBUF_MAX);
	return c;
fail:
	dotpool_idmap_free(c->ids);
	dotpool_frame_reader_free(&c->rd);
	free(c);
	return NULL;
}

void
dotpool_conn_start(struct dotpool_conn* c)
{
	struct event_base* base = c->with.ctx->base;
	int one = 1;
	c->fd = socket(c->with.addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		SOCK_CLOEXEC, IPPROTO_TCP);
	c->with.stats->conns_opened++;
	if(c->fd == -1) {
		c->with.stats->err_connect++;
		dotpool_log(DOTPOOL_LOG_ERR, "dotpool: %s: socket: %s",
			c->with.label, strerror(errno));
		dotpool_conn_close(c, DOTPOOL_EIO, 1);
		return;
	}
	/* queries are small and latency matters */
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if(event_assign(&c->ev_read, base, c->fd, EV_READ | EV_PERSIST,
		conn_read_cb, c) != 0 ||
		event_assign(&c->ev_write, base, c->fd, EV_WRITE |
		EV_PERSIST, conn_write_cb, c) != 0 ||
		event_assign(&c->ev_timer, base, -1, 0, conn_timer_cb,
		c) != 0 ||
		event_assign(&c->ev_more, base, -1, 0, conn_more_cb,
		c) != 0) {
		dotpool_conn_close(c, DOTPOOL_EIO, 0);
		return;
	}
	c->ev_assigned = 1;
	if(connect(c->fd, (const struct sockaddr*)c->with.addr,
		c->with.addrlen) != 0 && errno != EINPROGRESS) {
		c->with.stats->err_connect++;
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: connect failed: %s",
			c->with.label, strerror(errno));
		dotpool_conn_close(c, DOTPOOL_EIO, 1);
		return;
	}
	conn_want_write(c, 1);
	conn_timer(c, c->with.ctx->cfg->connect_timeout);
	c->with.ops->changed(c->with.owner, c);
}

int
dotpool_conn_send(struct dotpool_conn* c, struct dotpool_req* req,
	uint16_t* idp)
{
	uint16_t start, id;
	int r;
	if(c->state != DOTPOOL_CONN_READY)
		return DOTPOOL_EAGAIN;
	if(!conn_auth_ok(c)) {
		/* cannot happen (a strict handshake that fails to verify
		 * closes the connection); if it ever does, no byte of a
		 * strict query goes out on it */
		dotpool_log(DOTPOOL_LOG_ERR, "dotpool: %s: refusing to send a "
			"query on an unauthenticated connection",
			c->with.label);
		return DOTPOOL_EVERIFY;
	}
	start = c->with.ctx->rand16(c->with.ctx->arg);
	if((r = dotpool_idmap_alloc(c->ids, req, start, &id)) != 0)
		return r;
	dotpool_wire_set_id(req->wire, id);
	if((r = dotpool_wbuf_put(&c->wbuf, req->wire, req->len)) != 0) {
		(void)dotpool_idmap_release(c->ids, id);
		return r;
	}
	*idp = id;
	c->sent++;
	c->with.stats->queries++;
	(void)event_del(&c->ev_timer);
	/* written from the event loop: send() must not fail requests
	 * synchronously, which a write error here would do */
	conn_interest(c);
	c->with.ops->changed(c->with.owner, c);
	return 0;
}

void
dotpool_conn_cancel(struct dotpool_conn* c, struct dotpool_req* req)
{
	uint32_t check = 0;
	/* the query goes away; its late answer is recognised by this */
	(void)dotpool_wire_question_hash(req->wire, req->len, c->qseed,
		&check);
	if(dotpool_idmap_cancel(c->ids, req->id, check) != 0)
		return;
	c->stale++;
	if(c->state == DOTPOOL_CONN_READY &&
		c->stale * 2 >= dotpool_idmap_capacity(c->ids) &&
		dotpool_idmap_capacity(c->ids) > 1) {
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: %u queries "
			"unanswered on a connection, draining it",
			c->with.label, c->stale);
		(void)dotpool_conn_set_state(c, DOTPOOL_CONN_DRAINING);
	}
	conn_update(c);
}
