/**
 * \file
 * One DoT connection (RFC 7858): non-blocking TCP connect, TLS handshake,
 * pipelined framed queries, answers matched by ID and question. Any
 * protocol error closes the connection; closing never runs a request
 * callback (the pool fails or re-sends those from its deferred event) and
 * never frees the connection (the pool's graveyard does, later), so a
 * callback up the stack may still look at it.
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
#include "dotpool/conn.h"
#include "dotpool/error.h"
#include "dotpool/log.h"
#include "dotpool/wire.h"

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
 * illegal step is a bug in this file; refuse it rather than corrupt.
 * @return 0 or DOTPOOL_EINVAL (state unchanged).
 */
static int
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
			"state change %s -> %s", c->up->label,
			dotpool_conn_state_str(o), dotpool_conn_state_str(n));
		return DOTPOOL_EINVAL;
	}
	dotpool_log(DOTPOOL_LOG_ALGO, "dotpool: %s: connection %s -> %s",
		c->up->label, dotpool_conn_state_str(o),
		dotpool_conn_state_str(n));
	c->state = n;
	return 0;
}

/** Whether the connection carries queries (answers may arrive). */
static int
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
static void
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
	dotpool_up_gauges(c->up);
}

/** Whether the connection may carry its upstream's queries: a strict
 * upstream's only when the server was authenticated. */
static int
conn_auth_ok(const struct dotpool_conn* c)
{
	return c->authenticated ||
		c->up->auth.profile != DOTPOOL_PROFILE_STRICT;
}

int
dotpool_conn_has_room(const struct dotpool_conn* c)
{
	return c->state == DOTPOOL_CONN_READY && conn_auth_ok(c) &&
		dotpool_idmap_used(c->ids) < dotpool_idmap_capacity(c->ids);
}

/** Hand each live request of a closing connection back to the pool. */
static void
conn_drain_one(void* owner, uint16_t id, void* arg)
{
	struct dotpool_req* req = owner;
	(void)id;
	req->conn = NULL;
	dotpool_up_lost(req, *(int*)arg);
}

/**
 * Whether an idle connection closing cleanly should be replaced at once:
 * always with prewarm; otherwise only when the server set the pace (it
 * closed the connection, or ours closed early because of its keepalive
 * or its learned idle time; our own idle-timeout is the operator's wish
 * to let go) and the upstream carried a query within the rewarm window.
 */
static int
conn_rewarm_wanted(const struct dotpool_conn* c, int err)
{
	const struct dotpool_config* cfg = c->up->pool->cfg;
	uint64_t last = c->up->last_query_us;
	/* a connection that carried nothing and that the server closed
	 * right after it came up: the server does not want it, and opening
	 * another would loop */
	if(err == DOTPOOL_ECLOSED && c->sent == 0 && dotpool_now_us() -
		c->last_activity_us < (uint64_t)DOTPOOL_CLOSE_GRACE_MS * 1000)
		return 0;
	if(cfg->prewarm)
		return 1;
	if(cfg->rewarm_window == 0 || last == 0)
		return 0;
	if(err != DOTPOOL_ECLOSED && c->idle_ms >= cfg->idle_timeout)
		return 0;
	return dotpool_now_us() - last < (uint64_t)cfg->rewarm_window * 1000;
}

void
dotpool_conn_close(struct dotpool_conn* c, int err, int failure)
{
	struct dotpool_upstream* up = c->up;
	struct dotpool_conn** pp;
	int was_ready = c->was_ready;
	int progress;
	int idle;
	if(c->state == DOTPOOL_CONN_CLOSED)
		return;
	idle = dotpool_idmap_live(c->ids) == 0;
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
	if(c->ssl && was_ready && err != DOTPOOL_ETLS && err != DOTPOOL_EPROTO)
		/* OpenSSL marks the session of a connection freed without a
		 * sent shutdown as not resumable; a clean close (idle, server
		 * going away) must keep it */
		SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN |
			SSL_get_shutdown(c->ssl));
	if(c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	for(pp = &up->conns; *pp; pp = &(*pp)->next) {
		if(*pp == c) {
			*pp = c->next;
			up->nconns--;
			break;
		}
	}
	c->next = up->pool->grave;
	up->pool->grave = c;
	if(err != 0)
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: connection "
			"closed: %s", up->label, dotpool_strerror(err));
	/* requests in flight are re-sent once or failed, from the loop */
	/* a connection that answered something made progress: its
	 * unanswered queries are re-sent without using up their one
	 * re-send (a server that closes after every k queries still gets
	 * through a burst, k at a time) */
	progress = c->answered > 0;
	dotpool_idmap_drain(c->ids, conn_drain_one, &progress);
	c->stale = 0;
	if(failure)
		dotpool_up_failure(up, dotpool_strerror(err));
	if(!was_ready && err != 0)
		dotpool_up_connect_failed(up, err);
	if(was_ready && idle && (err == 0 || err == DOTPOOL_ECLOSED) &&
		conn_rewarm_wanted(c, err))
		up->rewarm = 1;
	dotpool_up_gauges(up);
	dotpool_pool_defer(up->pool);
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
		c->up->stats.err_verify++;
	else	c->up->stats.err_tls++;
	dotpool_log(DOTPOOL_LOG_WARN, "dotpool: %s: %s", c->up->label, msg);
	dotpool_conn_close(c, err, 1);
}

/** Write as much of the queue as the socket takes. */
static void
conn_flush(struct dotpool_conn* c)
{
	const uint8_t* data;
	size_t n;
	int r, e;
	while((data = dotpool_wbuf_data(&c->wbuf, &n)) != NULL) {
		/* after WANT_* OpenSSL needs the same bytes again; the queue
		 * only grows at its end until they are consumed, so passing
		 * all of it repeats them (moving buffer mode allows the
		 * realloc) */
		if(n > 0x7fffffff)
			n = 0x7fffffff;
		ERR_clear_error();
		r = SSL_write(c->ssl, data, (int)n);
		if(r > 0) {
			dotpool_wbuf_consume(&c->wbuf, (size_t)r);
			c->write_wants_read = 0;
			c->last_activity_us = dotpool_now_us();
			continue;
		}
		e = SSL_get_error(c->ssl, r);
		if(e == SSL_ERROR_WANT_WRITE) {
			c->write_wants_read = 0;
			conn_interest(c);
			return;
		}
		if(e == SSL_ERROR_WANT_READ) {
			/* the read event is always on and retries the write
			 * (conn_io flushes after reading) */
			c->write_wants_read = 1;
			conn_interest(c);
			return;
		}
		ERR_clear_error();
		c->up->stats.err_closed +=
			(dotpool_idmap_live(c->ids) > 0) ? 1 : 0;
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: write failed",
			c->up->label);
		dotpool_conn_close(c, e == SSL_ERROR_SSL ? DOTPOOL_ETLS :
			DOTPOOL_EIO, 0);
		return;
	}
	c->write_wants_read = 0;
	conn_interest(c);
}

/** Follow the server's keepalive: a shorter idle time, or (0) no more
 * queries on this connection. */
static void
conn_keepalive(struct dotpool_conn* c, const uint8_t* msg, size_t len)
{
	int k = dotpool_wire_keepalive(msg, len);
	if(k < 0)
		return;
	if(k == 0) {
		if(c->state == DOTPOOL_CONN_READY) {
			dotpool_log(DOTPOOL_LOG_ALGO, "dotpool: %s: server asks "
				"to close (keepalive 0)", c->up->label);
			(void)dotpool_conn_set_state(c, DOTPOOL_CONN_DRAINING);
		}
		return;
	}
	if((unsigned)k * 100 < c->idle_ms) {
		c->idle_ms = (unsigned)k * 100;
		c->idle_learned = 0;
		/* re-armed with the new value when next idle */
		if(evtimer_pending(&c->ev_timer, NULL))
			(void)event_del(&c->ev_timer);
	}
}

/** An answer frame arrived: find its request, check, deliver. */
static void
conn_answer(struct dotpool_conn* c, uint8_t* msg, size_t len)
{
	void* owner = NULL;
	struct dotpool_req* req;
	enum dotpool_id_state st;
	enum dotpool_match m;
	uint16_t id;
	if(len < 2) {
		c->up->stats.dropped++;
		return;
	}
	id = dotpool_wire_id(msg);
	st = dotpool_idmap_get(c->ids, id, &owner);
	if(st == DOTPOOL_ID_FREE) {
		c->up->stats.dropped++;
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: answer with "
			"unknown ID dropped", c->up->label);
		return;
	}
	if(st == DOTPOOL_ID_CANCELLED) {
		uint32_t check = 0;
		c->up->stats.dropped++;
		(void)dotpool_idmap_check(c->ids, id, &check);
		m = dotpool_wire_match_hash(msg, len, c->qseed, check);
		/* only the late answer to the question asked frees the
		 * reserved ID: one forged with the right ID must not, while
		 * the real one may still come */
		if(m != DOTPOOL_MATCH_OK || dotpool_idmap_release_late(c->ids,
			id, check) != 0) {
			dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: late "
				"answer dropped, ID kept: %s", c->up->label,
				dotpool_match_str(m));
			return;
		}
		if(c->stale > 0)
			c->stale--;
		return;
	}
	req = owner;
	m = dotpool_wire_match(req->wire, req->len, msg, len);
	if(m != DOTPOOL_MATCH_OK) {
		/* maybe spoofed or confused: the right answer may still
		 * come, the request's timer decides */
		c->up->stats.dropped++;
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: answer dropped: "
			"%s", c->up->label, dotpool_match_str(m));
		return;
	}
	(void)dotpool_idmap_release(c->ids, id);
	req->conn = NULL;
	if(c->up->pool->cfg->keepalive)
		conn_keepalive(c, msg, len);
	c->answered++;
	dotpool_up_gauges(c->up);
	dotpool_req_deliver(req, msg, len);
}

/**
 * The server closed a connection with nothing live on it: learn how long
 * it lets connections idle, so ours close first and no query is written
 * into a connection the server is closing. Measured from the last
 * activity. Not learned: a close soon after the last frame or the
 * handshake (a server that closes after N queries, a restart: no idle
 * timeout at all), nor one with cancelled queries the server may still
 * have been working on. The latest measurement wins, up or down, and never
 * below DOTPOOL_IDLE_LEARN_MIN_MS.
 */
static void
conn_learn_idle(struct dotpool_conn* c)
{
	struct dotpool_upstream* up = c->up;
	uint64_t idle_ms = (dotpool_now_us() - c->last_activity_us) / 1000;
	unsigned learn;
	if(dotpool_idmap_used(c->ids) > 0 || idle_ms < DOTPOOL_CLOSE_GRACE_MS ||
		idle_ms >= c->idle_ms)
		return;
	learn = (unsigned)(idle_ms * 3 / 4);
	if(learn < DOTPOOL_IDLE_LEARN_MIN_MS)
		learn = DOTPOOL_IDLE_LEARN_MIN_MS;
	if(learn >= up->pool->cfg->idle_timeout)
		learn = 0; /* our own idle-timeout is shorter anyway */
	up->idle_kept = 0;
	if(learn == up->learned_idle_ms)
		return;
	up->learned_idle_ms = learn;
	dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: server closes idle "
		"connections after about %u ms; ours now idle %u ms", up->label,
		(unsigned)idle_ms, learn ? learn : up->pool->cfg->idle_timeout);
}

/**
 * Our idle timer closed a connection at the learned idle time: the server
 * kept it that long. After a few of those in a row, try a quarter longer
 * (up to idle-timeout): the server may have been restarted with a longer
 * timeout, or was shedding load; if not, its next idle close teaches the
 * value again.
 */
static void
conn_idle_kept(struct dotpool_conn* c)
{
	struct dotpool_upstream* up = c->up;
	unsigned cap = up->pool->cfg->idle_timeout, l = up->learned_idle_ms;
	if(!c->idle_learned || l == 0 || c->idle_ms != l)
		return;
	if(++up->idle_kept < DOTPOOL_IDLE_RAISE_AFTER)
		return;
	up->idle_kept = 0;
	l += l / 4;
	up->learned_idle_ms = l >= cap ? 0 : l;
	dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: server kept idle "
		"connections %u ms; ours now idle %u ms", up->label, c->idle_ms,
		l >= cap ? cap : l);
}

/** The peer closed (EOF or close_notify). */
static void
conn_peer_closed(struct dotpool_conn* c)
{
	if(dotpool_idmap_live(c->ids) == 0) {
		/* servers close idle connections: normal */
		conn_learn_idle(c);
		c->up->stats.idle_closed_by_peer++;
		dotpool_log(DOTPOOL_LOG_ALGO, "dotpool: %s: idle connection "
			"closed by the server", c->up->label);
		dotpool_conn_close(c, DOTPOOL_ECLOSED, 0);
		return;
	}
	c->up->stats.err_closed++;
	dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: server closed the "
		"connection with %u queries in flight", c->up->label,
		dotpool_idmap_live(c->ids));
	dotpool_conn_close(c, DOTPOOL_ECLOSED, 0);
}

/** Go on reading from the next loop iteration: what is left may sit in
 * the frame reader or the TLS layer's read-ahead, where no socket event
 * will announce it. A timer, so that the loop polls sockets and runs other
 * events first (an event made active from here would run before them). */
static void
conn_read_later(struct dotpool_conn* c)
{
	struct timeval tv = { 0, 0 };
	(void)event_add(&c->ev_more, &tv);
}

/** Read and deliver until the socket has nothing more, or the budget of
 * one read event is spent (an upstream streaming at line rate must not
 * hold the worker). One answer at a time: each done() may change this
 * connection, so re-check after it. */
static void
conn_read(struct dotpool_conn* c)
{
	uint8_t* msg, *space;
	size_t len, n, bytes = 0;
	unsigned frames = 0;
	int r, e;
	for(;;) {
		while((r = dotpool_frame_next(&c->rd, &msg, &len)) == 1) {
			c->last_activity_us = dotpool_now_us();
			conn_answer(c, msg, len);
			if(!conn_open_for_io(c))
				return;
			if(++frames >= DOTPOOL_CONN_READ_FRAMES) {
				conn_read_later(c);
				return;
			}
		}
		if(r < 0) {
			c->up->stats.err_proto++;
			dotpool_log(DOTPOOL_LOG_WARN, "dotpool: %s: bad framing "
				"from the server", c->up->label);
			dotpool_conn_close(c, DOTPOOL_EPROTO, 1);
			return;
		}
		r = dotpool_frame_space(&c->rd, &space, &n);
		if(r != 0) {
			dotpool_conn_close(c, r, 0);
			return;
		}
		if(bytes >= DOTPOOL_CONN_READ_BYTES) {
			conn_read_later(c);
			return;
		}
		if(n > 0x7fffffff)
			n = 0x7fffffff;
		ERR_clear_error();
		errno = 0;
		r = SSL_read(c->ssl, space, (int)n);
		if(r > 0) {
			c->read_wants_write = 0;
			dotpool_frame_commit(&c->rd, (size_t)r);
			bytes += (size_t)r;
			continue;
		}
		e = SSL_get_error(c->ssl, r);
		if(e == SSL_ERROR_WANT_READ) {
			c->read_wants_write = 0;
			conn_interest(c);
			return;
		}
		if(e == SSL_ERROR_WANT_WRITE) {
			/* only until this read can go on: the write event is
			 * taken back then, whether queries are queued or not */
			c->read_wants_write = 1;
			conn_interest(c);
			return;
		}
		if(e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL &&
			(errno == 0 || errno == ECONNRESET || errno == EPIPE))
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
			|| (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error())
			== SSL_R_UNEXPECTED_EOF_WHILE_READING)
#endif
			) {
			ERR_clear_error();
			conn_peer_closed(c);
			return;
		}
		ERR_clear_error();
		if(dotpool_idmap_live(c->ids) > 0)
			c->up->stats.err_closed++;
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: read failed",
			c->up->label);
		dotpool_conn_close(c, e == SSL_ERROR_SSL ? DOTPOOL_ETLS :
			DOTPOOL_EIO, 0);
		return;
	}
}

/** The handshake finished: authenticate, then take queries. */
static void
conn_handshake_done(struct dotpool_conn* c)
{
	char err[256];
	struct dotpool_upstream* up = c->up;
	if(dotpool_tls_conn_verify(c->ssl, &up->auth, err, sizeof(err)) != 0) {
		if(up->auth.profile == DOTPOOL_PROFILE_STRICT) {
			/* nothing was written: queries only go out on READY */
			conn_fail_tls(c, DOTPOOL_EVERIFY, err);
			return;
		}
		up->stats.err_verify++;
		dotpool_log(DOTPOOL_LOG_WARN, "dotpool: %s: not authenticated "
			"(%s); opportunistic profile, using it anyway",
			up->label, err);
	} else {
		c->authenticated = 1;
	}
	if(SSL_session_reused(c->ssl))
		up->stats.hs_resumed++;
	else	up->stats.hs_full++;
	(void)event_del(&c->ev_timer);
	if(dotpool_conn_set_state(c, DOTPOOL_CONN_READY) != 0)
		return;
	c->was_ready = 1;
	c->last_activity_us = dotpool_now_us();
	dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: connected (%s, %s)",
		up->label, SSL_get_version(c->ssl),
		SSL_session_reused(c->ssl) ? "resumed" : "full handshake");
	dotpool_up_dispatch(up);
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
	struct dotpool_upstream* up = c->up;
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
	if(up->qhead)
		dotpool_up_dispatch(up);
	if(!conn_open_for_io(c))
		return;
	if(dotpool_wbuf_len(&c->wbuf) > 0)
		conn_flush(c);
	if(!conn_open_for_io(c))
		return;
	if(up->qhead && dotpool_wbuf_len(&c->wbuf) == 0) {
		/* the buffer was full and has drained: refill it now, no
		 * other event may come to do it */
		dotpool_up_dispatch(up);
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
		c->up->stats.err_connect++;
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: connect failed: %s",
			c->up->label, strerror(soerr));
		dotpool_conn_close(c, DOTPOOL_EIO, 1);
		return;
	}
	c->ssl = dotpool_tls_conn_new(c->up->pool->tls, &c->up->auth, c->fd,
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
	dotpool_pool_wake(c->up->pool);
	conn_io(c);
}

/** Writable socket (connect done, or a blocked write can go on). */
static void
conn_write_cb(evutil_socket_t fd, short what, void* arg)
{
	struct dotpool_conn* c = arg;
	(void)fd; (void)what;
	dotpool_pool_wake(c->up->pool);
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
	dotpool_pool_wake(c->up->pool);
	if(conn_open_for_io(c))
		conn_io(c);
}

/** Connect timeout, idle timeout, or a drained connection to close. */
static void
conn_timer_cb(evutil_socket_t fd, short what, void* arg)
{
	struct dotpool_conn* c = arg;
	(void)fd; (void)what;
	dotpool_pool_wake(c->up->pool);
	switch(c->state) {
	case DOTPOOL_CONN_CONNECTING:
		c->up->stats.err_connect++;
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: connect timed out",
			c->up->label);
		dotpool_conn_close(c, DOTPOOL_ETIMEOUT, 1);
		break;
	case DOTPOOL_CONN_HANDSHAKING:
		c->up->stats.err_tls++;
		dotpool_log(DOTPOOL_LOG_WARN, "dotpool: %s: TLS handshake timed "
			"out", c->up->label);
		dotpool_conn_close(c, DOTPOOL_ETIMEOUT, 1);
		break;
	case DOTPOOL_CONN_READY:
	case DOTPOOL_CONN_DRAINING:
		if(dotpool_idmap_live(c->ids) == 0) {
			if(c->state == DOTPOOL_CONN_READY)
				conn_idle_kept(c);
			dotpool_conn_close(c, 0, 0);
		}
		break;
	case DOTPOOL_CONN_CLOSED:
		break;
	}
}

int
dotpool_conn_open(struct dotpool_upstream* up)
{
	struct dotpool_pool* p = up->pool;
	struct dotpool_conn* c = calloc(1, sizeof(*c));
	int one = 1;
	if(!c)
		return DOTPOOL_ENOMEM;
	c->fd = -1;
	c->up = up;
	c->idle_ms = p->cfg->idle_timeout;
	if(up->learned_idle_ms && up->learned_idle_ms < c->idle_ms) {
		c->idle_ms = up->learned_idle_ms;
		c->idle_learned = 1;
	}
	c->qseed = ((uint32_t)dotpool_pool_rand16(p) << 16) |
		dotpool_pool_rand16(p);
	if(!(c->ids = dotpool_idmap_create(p->cfg->max_inflight ?
		p->cfg->max_inflight : 1)))
		goto fail;
	if(dotpool_frame_reader_init(&c->rd) != 0)
		goto fail;
	dotpool_wbuf_init(&c->wbuf, CONN_WBUF_MAX);
	c->fd = socket(up->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		SOCK_CLOEXEC, IPPROTO_TCP);
	c->next = up->conns;
	up->conns = c;
	up->nconns++;
	up->stats.conns_opened++;
	if(c->fd == -1) {
		up->stats.err_connect++;
		dotpool_log(DOTPOOL_LOG_ERR, "dotpool: %s: socket: %s",
			up->label, strerror(errno));
		dotpool_conn_close(c, DOTPOOL_EIO, 1);
		return 0;
	}
	/* queries are small and latency matters */
	(void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if(event_assign(&c->ev_read, p->base, c->fd, EV_READ | EV_PERSIST,
		conn_read_cb, c) != 0 ||
		event_assign(&c->ev_write, p->base, c->fd, EV_WRITE |
		EV_PERSIST, conn_write_cb, c) != 0 ||
		event_assign(&c->ev_timer, p->base, -1, 0, conn_timer_cb,
		c) != 0 ||
		event_assign(&c->ev_more, p->base, -1, 0, conn_more_cb,
		c) != 0) {
		dotpool_conn_close(c, DOTPOOL_EIO, 0);
		return 0;
	}
	c->ev_assigned = 1;
	if(connect(c->fd, (struct sockaddr*)&up->addr, up->addrlen) != 0 &&
		errno != EINPROGRESS) {
		up->stats.err_connect++;
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: connect failed: %s",
			up->label, strerror(errno));
		dotpool_conn_close(c, DOTPOOL_EIO, 1);
		return 0;
	}
	conn_want_write(c, 1);
	conn_timer(c, p->cfg->connect_timeout);
	dotpool_up_gauges(up);
	return 0;
fail:
	dotpool_idmap_free(c->ids);
	dotpool_frame_reader_free(&c->rd);
	free(c);
	return DOTPOOL_ENOMEM;
}

int
dotpool_conn_send(struct dotpool_conn* c, struct dotpool_req* req)
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
			"query on an unauthenticated connection", c->up->label);
		return DOTPOOL_EVERIFY;
	}
	start = dotpool_pool_rand16(c->up->pool);
	if((r = dotpool_idmap_alloc(c->ids, req, start, &id)) != 0)
		return r;
	dotpool_wire_set_id(req->wire, id);
	if((r = dotpool_wbuf_put(&c->wbuf, req->wire, req->len)) != 0) {
		(void)dotpool_idmap_release(c->ids, id);
		return r;
	}
	req->state = DOTPOOL_REQ_SENT;
	req->conn = c;
	req->id = id;
	req->sent_us = dotpool_now_us();
	c->sent++;
	if(req != &c->up->probe)
		c->up->last_query_us = req->sent_us;
	c->up->stats.queries++;
	(void)event_del(&c->ev_timer);
	/* written from the event loop: send() must not fail requests
	 * synchronously, which a write error here would do */
	conn_interest(c);
	dotpool_up_gauges(c->up);
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
	req->conn = NULL;
	c->stale++;
	if(c->state == DOTPOOL_CONN_READY &&
		c->stale * 2 >= dotpool_idmap_capacity(c->ids) &&
		dotpool_idmap_capacity(c->ids) > 1) {
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: %u queries "
			"unanswered on a connection, draining it",
			c->up->label, c->stale);
		(void)dotpool_conn_set_state(c, DOTPOOL_CONN_DRAINING);
	}
	conn_update(c);
}
