/**
 * \file
 * The stream of one DoT connection once it carries queries: writing the
 * queued frames and reading, matching and delivering answers
 * (module/conn_stream.c), apart from the connection's lifecycle (connect,
 * TLS, timers, closing: module/conn.c).
 */
#include <errno.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include "dotpool/error.h"
#include "dotpool/log.h"
#include "dotpool/wire.h"
#include "conn.h"
#include "conn_int.h"

/** Write as much of the queue as the socket takes. */
void
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
			c->last_activity_us = dotpool_ctx_now(c->with.ctx);
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
		c->with.stats->err_closed +=
			(dotpool_idmap_live(c->ids) > 0) ? 1 : 0;
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: write failed",
			c->with.label);
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
				"to close (keepalive 0)", c->with.label);
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
		c->with.stats->dropped++;
		return;
	}
	id = dotpool_wire_id(msg);
	st = dotpool_idmap_get(c->ids, id, &owner);
	if(st == DOTPOOL_ID_FREE) {
		c->with.stats->dropped++;
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: answer with "
			"unknown ID dropped", c->with.label);
		return;
	}
	if(st == DOTPOOL_ID_CANCELLED) {
		uint32_t check = 0;
		c->with.stats->dropped++;
		(void)dotpool_idmap_check(c->ids, id, &check);
		m = dotpool_wire_match_hash(msg, len, c->qseed, check);
		/* only the late answer to the question asked frees the
		 * reserved ID: one forged with the right ID must not, while
		 * the real one may still come */
		if(m != DOTPOOL_MATCH_OK || dotpool_idmap_release_late(c->ids,
			id, check) != 0) {
			dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: late "
				"answer dropped, ID kept: %s", c->with.label,
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
		c->with.stats->dropped++;
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: answer dropped: "
			"%s", c->with.label, dotpool_match_str(m));
		return;
	}
	(void)dotpool_idmap_release(c->ids, id);
	if(c->with.ctx->cfg->keepalive)
		conn_keepalive(c, msg, len);
	c->answered++;
	c->with.ops->answer(c->with.owner, c, req, msg, len);
}

/**
 * The server closed a connection with nothing live on it: how long it let
 * the connection idle, measured from the last activity, for the owner to
 * learn from (so that ours close first and no query is written into a
 * connection the server is closing). Nothing to learn from a close soon
 * after the last frame or the handshake (a server that closes after N
 * queries, a restart: no idle timeout at all), nor from one with
 * cancelled queries the server may still have been working on.
 * @return the ms it idled, or 0.
 */
static uint64_t
conn_peer_idle_ms(const struct dotpool_conn* c)
{
	uint64_t idle_ms = (dotpool_ctx_now(c->with.ctx) -
		c->last_activity_us) / 1000;
	if(dotpool_idmap_used(c->ids) > 0 || idle_ms < DOTPOOL_CLOSE_GRACE_MS ||
		idle_ms >= c->idle_ms)
		return 0;
	return idle_ms;
}

/** The peer closed (EOF or close_notify). */
static void
conn_peer_closed(struct dotpool_conn* c)
{
	if(dotpool_idmap_live(c->ids) == 0) {
		/* servers close idle connections: normal */
		c->with.stats->idle_closed_by_peer++;
		dotpool_log(DOTPOOL_LOG_ALGO, "dotpool: %s: idle connection "
			"closed by the server", c->with.label);
		conn_end(c, DOTPOOL_ECLOSED, 0, conn_peer_idle_ms(c), 0);
		return;
	}
	c->with.stats->err_closed++;
	dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: server closed the "
		"connection with %u queries in flight", c->with.label,
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
void
conn_read(struct dotpool_conn* c)
{
	uint8_t* msg, *space;
	size_t len, n, bytes = 0;
	unsigned frames = 0;
	int r, e;
	for(;;) {
		while((r = dotpool_frame_next(&c->rd, &msg, &len)) == 1) {
			c->last_activity_us = dotpool_ctx_now(c->with.ctx);
			c->last_read_us = c->last_activity_us;
			conn_answer(c, msg, len);
			if(!conn_open_for_io(c))
				return;
			if(++frames >= DOTPOOL_CONN_READ_FRAMES) {
				conn_read_later(c);
				return;
			}
		}
		if(r < 0) {
			c->with.stats->err_proto++;
			dotpool_log(DOTPOOL_LOG_WARN, "dotpool: %s: bad framing "
				"from the server", c->with.label);
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
			c->with.stats->err_closed++;
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: read failed",
			c->with.label);
		dotpool_conn_close(c, e == SSL_ERROR_SSL ? DOTPOOL_ETLS :
			DOTPOOL_EIO, 0);
		return;
	}
}

