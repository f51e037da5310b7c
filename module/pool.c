/**
 * \file
 * The per-worker pool: finds or makes upstreams (module/upstream.c), owns
 * their connections (module/conn.c, which report back through the
 * callback table below), the requests with their one state setter, wait
 * queues and timers, and the deferred-work event that frees closed
 * connections and completes failed requests outside of the callbacks that
 * caused them (done() re-enters us through Unbound's mesh).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/rand.h>
#include <openssl/err.h>
#include "dotpool/error.h"
#include "dotpool/log.h"
#include "conn.h"
#include "pool.h"
#include "upstream.h"

const char*
dotpool_req_state_str(enum dotpool_req_state s)
{
	switch(s) {
	case DOTPOOL_REQ_IDLE: return "idle";
	case DOTPOOL_REQ_QUEUED: return "queued";
	case DOTPOOL_REQ_SENT: return "sent";
	case DOTPOOL_REQ_FAILING: return "failing";
	}
	return "unknown";
}

uint64_t
dotpool_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- the context the pool gives its upstreams and connections ---------- */

/** The real clock. */
static uint64_t
pool_ctx_now(void* arg)
{
	(void)arg;
	return dotpool_now_us();
}

/**
 * 16 unpredictable bits. OpenSSL's generator is drawn 256 bytes at a
 * time: one call per query cost more than the rest of the ID handling
 * together.
 */
static uint16_t
pool_ctx_rand16(void* arg)
{
	struct dotpool_pool* p = arg;
	uint16_t v;
	if(p->rnd_used == 0 || p->rnd_used + 2 > sizeof(p->rnd)) {
		if(RAND_bytes(p->rnd, sizeof(p->rnd)) != 1) {
			/* not fatal: IDs only need to be unpredictable, and
			 * TLS already keeps off-path spoofers out */
			uint64_t x = dotpool_now_us() * 2654435761u;
			unsigned i;
			ERR_clear_error();
			for(i = 0; i < sizeof(p->rnd); i++) {
				x ^= x << 13; x ^= x >> 7; x ^= x << 17;
				p->rnd[i] = (uint8_t)x;
			}
		}
		p->rnd_used = 0;
	}
	memcpy(&v, p->rnd + p->rnd_used, sizeof(v));
	p->rnd_used += 2;
	return v;
}

/** Schedule the deferred work (a no-op when already active: one run does
 * all the work). */
static void
pool_ctx_defer(void* arg)
{
	struct dotpool_pool* p = arg;
	event_active(&p->ev_defer, EV_TIMEOUT, 1);
}

/** The glue's wake hook. */
static void
pool_ctx_wake(void* arg)
{
	struct dotpool_pool* p = arg;
	if(p->wake)
		p->wake(p->wake_arg);
}

/* ---- gauges ------------------------------------------------------------ */

/** Publish the pool's memory figure for get_mem and the metrics thread:
 * the pool, its upstreams and open connections as last counted, and the
 * closed ones not freed yet. Owner only. */
static void
pool_mem_publish(struct dotpool_pool* p)
{
	const struct dotpool_conn* c;
	size_t m = sizeof(*p) + p->mem_ups;
	for(c = p->grave; c; c = c->next)
		m += dotpool_conn_mem(c);
	__atomic_store_n(&p->mem_pub, m, __ATOMIC_RELAXED);
}

/** Recompute the upstream's gauges and memory from its structures and
 * publish them and its counters for other threads. Called after every
 * change of the upstream's counters or connections. */
static void
up_gauges(struct dotpool_upstream* up)
{
	struct dotpool_conn* c;
	int64_t inflight = 0, idle = 0;
	size_t mem = 0;
	for(c = up->conns; c; c = c->next) {
		inflight += dotpool_conn_live(c);
		if(dotpool_conn_idle(c))
			idle++;
		mem += dotpool_conn_mem(c);
	}
	up->stats.inflight = inflight;
	up->stats.conns_open = up->nconns;
	up->stats.conns_idle = idle;
	up->stats.queued = up->qlen;
	/* other threads never walk our connections: they read what is
	 * published here, after every change */
	up->pool->mem_ups = up->pool->mem_ups - up->mem_conns + mem;
	up->mem_conns = mem;
	dotpool_stats_publish(&up->pub, &up->stats);
	pool_mem_publish(up->pool);
}

/* ---- requests: one state, one setter, the list its state says ---------- */

/**
 * The only writer of req->state. Not logged: it changes several times per
 * query, and the query's own log lines say what happened; an illegal step
 * is a bug in this file, refused and logged.
 * @return 0 or DOTPOOL_EINVAL (state unchanged).
 */
static int
req_set_state(struct dotpool_req* req, enum dotpool_req_state n)
{
	enum dotpool_req_state o = req->state;
	int ok = 0;
	switch(o) {
	case DOTPOOL_REQ_IDLE:
		ok = (n == DOTPOOL_REQ_QUEUED);
		break;
	case DOTPOOL_REQ_QUEUED:
	case DOTPOOL_REQ_SENT:
		/* sent (or lost and queued again), failed, or done */
		ok = (n != o);
		break;
	case DOTPOOL_REQ_FAILING:
		ok = (n == DOTPOOL_REQ_IDLE);
		break;
	}
	if(!ok) {
		dotpool_log(DOTPOOL_LOG_ERR, "dotpool: illegal request state "
			"change %s -> %s", dotpool_req_state_str(o),
			dotpool_req_state_str(n));
		return DOTPOOL_EINVAL;
	}
	req->state = n;
	return 0;
}

/** The list a QUEUED (its upstream's queue) or FAILING (the pool's fail
 * list) request is on. @return 0, or -1 for the other states. */
static int
req_list(struct dotpool_req* req, struct dotpool_req*** head,
	struct dotpool_req*** tail)
{
	if(req->state == DOTPOOL_REQ_QUEUED) {
		*head = &req->up->qhead;
		*tail = &req->up->qtail;
		return 0;
	}
	if(req->state == DOTPOOL_REQ_FAILING) {
		*head = &req->up->pool->fhead;
		*tail = &req->up->pool->ftail;
		return 0;
	}
	return -1;
}

/** Take a request off the list its state puts it on (state unchanged). */
static void
req_unlink(struct dotpool_req* req)
{
	struct dotpool_req** head, **tail;
	if(req_list(req, &head, &tail) != 0)
		return;
	if(req->state == DOTPOOL_REQ_QUEUED)
		req->up->qlen--;
	if(req->prev)
		req->prev->next = req->next;
	else	*head = req->next;
	if(req->next)
		req->next->prev = req->prev;
	else	*tail = req->prev;
	req->next = req->prev = NULL;
}

/** Put a request on the list its state says, at its end or front. */
static void
req_append(struct dotpool_req* req, int front)
{
	struct dotpool_req** head, **tail;
	if(req_list(req, &head, &tail) != 0)
		return;
	if(req->state == DOTPOOL_REQ_QUEUED)
		req->up->qlen++;
	if(front) {
		req->prev = NULL;
		req->next = *head;
		if(*head)
			(*head)->prev = req;
		else	*tail = req;
		*head = req;
	} else {
		req->next = NULL;
		req->prev = *tail;
		if(*tail)
			(*tail)->next = req;
		else	*head = req;
		*tail = req;
	}
}

/** Queue a request (new, or lost with its connection) for a connection. */
static void
req_enqueue(struct dotpool_req* req, int front)
{
	if(req_set_state(req, DOTPOOL_REQ_QUEUED) == 0)
		req_append(req, front);
}

/** Queue a request to fail with err from the event loop. */
static void
req_fail_later(struct dotpool_req* req, int err)
{
	req_unlink(req);
	req->err = err;
	if(req_set_state(req, DOTPOOL_REQ_FAILING) != 0)
		return;
	req_append(req, 0);
	pool_ctx_defer(req->up->pool);
}

/** Stop the request's timer. */
static void
req_timer_stop(struct dotpool_req* req)
{
	if(req->timer_set) {
		(void)event_del(&req->timer);
		req->timer_set = 0;
	}
}

/** The pool is done with a request: timer off, off its list, IDLE. */
static void
req_finish(struct dotpool_req* req)
{
	req_timer_stop(req);
	req_unlink(req);
	(void)req_set_state(req, DOTPOOL_REQ_IDLE);
	req->conn = NULL;
}

/* ---- what connections report ------------------------------------------- */

/** Hand a matched answer to its request (timer, stats, RTT, health) and
 * call done(). */
static void
up_deliver(struct dotpool_upstream* up, struct dotpool_req* req,
	uint8_t* answer, size_t len)
{
	uint64_t now = dotpool_now_us();
	uint64_t lat = now > req->sent_us ? now - req->sent_us : 0;
	req_finish(req);
	if(len >= 4)
		up->stats.rcode[answer[3] & 0x0f]++;
	dotpool_stats_latency(&up->stats, lat);
	if(!req->no_rtt && !req->requeued)
		dotpool_up_rtt(up, lat);
	dotpool_up_success(up);
	up_gauges(up);
	req->done(req, 0, answer, len);
}

static void up_dispatch(struct dotpool_upstream* up);

/** A connection can take queries. */
static void
conn_on_ready(void* owner, struct dotpool_conn* c)
{
	struct dotpool_upstream* up = owner;
	(void)c;
	if(up->qhead)
		up_dispatch(up);
}

/** A connection matched an answer. */
static void
conn_on_answer(void* owner, struct dotpool_conn* c, struct dotpool_req* req,
	uint8_t* msg, size_t len)
{
	(void)c;
	up_deliver(owner, req, msg, len);
}

/** A SENT request lost its connection: queue it again once, else fail it
 * with DOTPOOL_ECLOSED from the event loop. */
static void
conn_on_lost(void* owner, struct dotpool_req* req, int progress)
{
	struct dotpool_upstream* up = owner;
	req->conn = NULL;
	if(!req->resent || progress) {
		/* once: a server closing a busy connection is routine
		 * (restart, load balancer); twice smells of the query --
		 * unless the connection answered others before it closed */
		if(!progress)
			req->resent = 1;
		req->requeued = 1;
		up->stats.resends++;
		req_enqueue(req, 1);
		pool_ctx_defer(up->pool);
		return;
	}
	req_fail_later(req, DOTPOOL_ECLOSED);
}

/** A connection closed: off the upstream's list into the graveyard, and
 * what its end means for health, waiting requests and rewarm. */
static void
conn_on_closed(void* owner, struct dotpool_conn* c,
	const struct dotpool_conn_end* end)
{
	struct dotpool_upstream* up = owner;
	struct dotpool_conn** pp;
	for(pp = &up->conns; *pp; pp = &(*pp)->next) {
		if(*pp == c) {
			*pp = c->next;
			up->nconns--;
			break;
		}
	}
	c->next = up->pool->grave;
	up->pool->grave = c;
	dotpool_up_learn_idle(up, end);
	if(end->failure)
		dotpool_up_failure(up, dotpool_strerror(end->err));
	if(!end->was_ready && end->err != 0 && up->nconns == 0) {
		/* a connection that never became ready failed and none is
		 * left: the waiting requests fail, from the event loop, so
		 * the caller can try another upstream */
		while(up->qhead)
			req_fail_later(up->qhead, end->err);
	}
	if(dotpool_up_rewarm_wanted(up, end))
		up->rewarm = 1;
	up_gauges(up);
}

/** A connection's counters or load changed. */
static void
conn_on_changed(void* owner, struct dotpool_conn* c)
{
	(void)c;
	up_gauges(owner);
}

/** What every connection of the pool reports to. */
static const struct dotpool_conn_ops pool_conn_ops = {
	conn_on_ready, conn_on_answer, conn_on_lost, conn_on_closed,
	conn_on_changed
};

/* ---- sending ----------------------------------------------------------- */

/** Open a new connection for an upstream and start connecting; on an
 * immediate failure it is closed at once (nothing completes
 * synchronously). @return 0, or DOTPOOL_ENOMEM (nothing was created). */
static int
up_conn_open(struct dotpool_upstream* up)
{
	struct dotpool_conn_args a;
	struct dotpool_conn* c;
	memset(&a, 0, sizeof(a));
	a.ctx = &up->pool->ctx;
	a.ops = &pool_conn_ops;
	a.owner = up;
	a.addr = &up->addr;
	a.addrlen = up->addrlen;
	a.auth = &up->auth;
	a.label = up->label;
	a.stats = &up->stats;
	a.idle_ms = dotpool_up_conn_idle_ms(up, &a.idle_learned);
	if(!(c = dotpool_conn_new(&a)))
		return DOTPOOL_ENOMEM;
	c->next = up->conns;
	up->conns = c;
	up->nconns++;
	dotpool_conn_start(c);
	return 0;
}

/** The READY connection with room and the fewest queries in flight
 * (dotpool_conn_has_room: never an unauthenticated one for a strict
 * upstream). */
static struct dotpool_conn*
up_pick(struct dotpool_upstream* up)
{
	struct dotpool_conn* c, *best = NULL;
	for(c = up->conns; c; c = c->next) {
		if(!dotpool_conn_has_room(c))
			continue;
		if(!best || dotpool_conn_live(c) < dotpool_conn_live(best))
			best = c;
	}
	return best;
}

/** Put a request (off the queue) on a connection. @return 0 or the
 * connection's error (the request unchanged). */
static int
up_send_on(struct dotpool_upstream* up, struct dotpool_conn* c,
	struct dotpool_req* req)
{
	uint16_t id;
	int r = dotpool_conn_send(c, req, &id);
	if(r != 0)
		return r;
	req->conn = c;
	req->id = id;
	req->sent_us = dotpool_now_us();
	(void)req_set_state(req, DOTPOOL_REQ_SENT);
	/* the rewarm window follows the glue's queries, not our probes */
	if(!dotpool_up_is_probe(up, req))
		up->last_query_us = req->sent_us;
	return 0;
}

/** Send waiting requests of an upstream on connections with room, opening
 * one more connection when allowed. Never completes a request. */
static void
up_dispatch(struct dotpool_upstream* up)
{
	const struct dotpool_config* cfg = up->pool->ctx.cfg;
	struct dotpool_conn* c;
	unsigned pending, cap = cfg->max_inflight ? cfg->max_inflight : 1;
	unsigned maxc = cfg->max_connections ? cfg->max_connections : 1;
	int opened = 0;
	while(up->qhead) {
		struct dotpool_req* req = up->qhead;
		if((c = up_pick(up)) != NULL) {
			req_unlink(req);
			if(up_send_on(up, c, req) != 0) {
				/* no buffer room: retry when it drains */
				req_append(req, 1);
				break;
			}
			continue;
		}
		if(opened || up->nconns >= maxc)
			break;
		pending = 0;
		for(c = up->conns; c; c = c->next)
			if(dotpool_conn_pending(c))
				pending++;
		/* another connection only when those coming up cannot take
		 * the queue */
		if(pending > 0 && up->qlen <= pending * cap)
			break;
		if(up_conn_open(up) != 0)
			break;
		opened = 1;
	}
	up_gauges(up);
}

/** A request's time is up. */
static void
req_timer_cb(evutil_socket_t fd, short what, void* arg)
{
	struct dotpool_req* req = arg;
	struct dotpool_upstream* up = req->up;
	(void)fd; (void)what;
	pool_ctx_wake(up->pool);
	req->timer_set = 0;
	if(req->state == DOTPOOL_REQ_SENT && req->conn)
		dotpool_conn_cancel(req->conn, req);
	req_finish(req);
	up->stats.timeouts++;
	dotpool_up_failure(up, "query timed out");
	up_gauges(up);
	req->done(req, DOTPOOL_ETIMEOUT, NULL, 0);
}

int
dotpool_pool_send(struct dotpool_upstream* up, struct dotpool_req* req)
{
	struct timeval tv;
	if(!up || !req || !req->wire || req->len < 12 || req->len > 65535 ||
		!req->done || req->state != DOTPOOL_REQ_IDLE)
		return DOTPOOL_EINVAL;
	if(up->qlen >= up->pool->ctx.cfg->max_queue && !up_pick(up))
		return DOTPOOL_EFULL;
	req->up = up;
	req->conn = NULL;
	req->resent = 0;
	req->requeued = 0;
	req->sent_us = 0; /* not written yet */
	req->err = 0;
	req->next = req->prev = NULL;
	if(event_assign(&req->timer, up->pool->ctx.base, -1, 0, req_timer_cb,
		req) != 0)
		return DOTPOOL_ENOMEM;
	tv.tv_sec = req->timeout_ms / 1000;
	tv.tv_usec = (req->timeout_ms % 1000) * 1000;
	if(event_add(&req->timer, &tv) != 0)
		return DOTPOOL_ENOMEM;
	req->timer_set = 1;
	req_enqueue(req, 0);
	up_dispatch(up);
	return 0;
}

int
dotpool_upstream_overdue(struct dotpool_upstream* up,
	const struct dotpool_req* req)
{
	return dotpool_up_overdue(up, req->state == DOTPOOL_REQ_SENT ?
		req->sent_us : 0);
}

void
dotpool_pool_cancel(struct dotpool_req* req)
{
	if(!req || req->state == DOTPOOL_REQ_IDLE)
		return;
	if(req->state == DOTPOOL_REQ_SENT && req->conn)
		dotpool_conn_cancel(req->conn, req);
	req_finish(req);
	up_gauges(req->up);
}

/* ---- the pool ---------------------------------------------------------- */

/** Free closed connections; none of their callbacks is on the stack. */
static void
pool_reap(struct dotpool_pool* p, int base_alive)
{
	struct dotpool_conn* c;
	if(!p->grave)
		return;
	while((c = p->grave) != NULL) {
		p->grave = c->next;
		dotpool_conn_free(c, base_alive);
	}
	pool_mem_publish(p);
}

/** Deferred work: free, dispatch (re-sends), then fail requests one at a
 * time (each done() may cancel the ones after it). */
static void
pool_defer_cb(evutil_socket_t fd, short what, void* arg)
{
	struct dotpool_pool* p = arg;
	struct dotpool_upstream* up;
	struct dotpool_req* req;
	(void)fd; (void)what;
	pool_ctx_wake(p);
	pool_reap(p, 1);
	for(up = p->ups; up; up = up->next) {
		if(up->qhead)
			up_dispatch(up);
		if(up->rewarm) {
			/* prewarm or the rewarm window: the next query
			 * should not wait for a handshake; only after clean
			 * idle closes, so a failing upstream is not
			 * hammered, and rate-limited, so not even a server
			 * that closes every connection at once is */
			up->rewarm = 0;
			if(up->nconns == 0) {
				if(dotpool_up_rewarm_allowed(up))
					(void)up_conn_open(up);
				else	dotpool_log(DOTPOOL_LOG_ALGO, "dotpool: "
					"%s: rewarm skipped (rate limit)",
					up->label);
			}
		}
	}
	while((req = p->fhead) != NULL) {
		int err = req->err;
		req_finish(req);
		up_gauges(req->up);
		req->done(req, err, NULL, 0);
	}
}

struct dotpool_pool*
dotpool_pool_create(struct event_base* base, const struct dotpool_config* cfg,
	struct dotpool_tls* tls, void (*wake)(void*), void* wake_arg)
{
	struct dotpool_pool* p;
	if(!base || !cfg || !tls)
		return NULL;
	if(!(p = calloc(1, sizeof(*p))))
		return NULL;
	p->ctx.base = base;
	p->ctx.cfg = cfg;
	p->ctx.tls = tls;
	p->ctx.now_us = pool_ctx_now;
	p->ctx.rand16 = pool_ctx_rand16;
	p->ctx.defer = pool_ctx_defer;
	p->ctx.wake = pool_ctx_wake;
	p->ctx.arg = p;
	p->wake = wake;
	p->wake_arg = wake_arg;
	if(event_assign(&p->ev_defer, base, -1, 0, pool_defer_cb, p) != 0) {
		free(p);
		return NULL;
	}
	pool_mem_publish(p);
	return p;
}

/** Forget a request on pool free: no callback, timer off if possible. */
static void
pool_forget_req(struct dotpool_req* req, void* arg)
{
	if(*(int*)arg)
		req_timer_stop(req);
	req->timer_set = 0;
	if(req->state != DOTPOOL_REQ_IDLE)
		(void)req_set_state(req, DOTPOOL_REQ_IDLE);
	req->conn = NULL;
	req->next = req->prev = NULL;
}

void
dotpool_pool_free(struct dotpool_pool* p, int base_alive)
{
	struct dotpool_upstream* up, *unext;
	struct dotpool_conn* c, *cnext;
	struct dotpool_req* req, *rnext;
	if(!p)
		return;
	for(req = p->fhead; req; req = rnext) {
		rnext = req->next;
		pool_forget_req(req, &base_alive);
	}
	p->fhead = p->ftail = NULL;
	pool_reap(p, base_alive);
	for(up = p->ups; up; up = unext) {
		unext = up->next;
		for(req = up->qhead; req; req = rnext) {
			rnext = req->next;
			pool_forget_req(req, &base_alive);
		}
		for(c = up->conns; c; c = cnext) {
			cnext = c->next;
			dotpool_conn_drain(c, pool_forget_req, &base_alive);
			dotpool_conn_free(c, base_alive);
		}
		dotpool_up_free(up, base_alive);
	}
	if(base_alive)
		(void)event_del(&p->ev_defer);
	free(p);
}

struct dotpool_upstream*
dotpool_pool_upstream(struct dotpool_pool* p, const struct sockaddr* sa,
	socklen_t salen, const char* auth_name,
	const struct dotpool_upstream_cfg* ucfg, enum dotpool_profile profile)
{
	struct dotpool_upstream* up;
	if(!p || !sa)
		return NULL;
	if(auth_name && !auth_name[0])
		auth_name = NULL;
	if(ucfg && ucfg->profile >= 0)
		profile = (enum dotpool_profile)ucfg->profile; /* section wins */
	for(up = p->ups; up; up = up->next)
		if(dotpool_up_is(up, sa, salen, auth_name, profile))
			return up;
	if(!(up = dotpool_up_new(&p->ctx, dotpool_pool_send, p->board, sa,
		salen, auth_name, ucfg, profile)))
		return NULL;
	up->pool = p;
	up->next = p->ups;
	p->mem_ups += dotpool_up_mem(up);
	/* published with release: the metrics thread walks this list, and
	 * reads the label and the counters the upstream published */
	__atomic_store_n(&p->ups, up, __ATOMIC_RELEASE);
	pool_mem_publish(p);
	if(p->ctx.cfg->prewarm)
		(void)up_conn_open(up);
	return up;
}

void
dotpool_pool_set_board(struct dotpool_pool* p, struct dotpool_board* board)
{
	if(p)
		p->board = board;
}

void
dotpool_pool_foreach(struct dotpool_pool* p,
	void (*fn)(struct dotpool_upstream* up, void* arg), void* arg)
{
	struct dotpool_upstream* up, *next;
	if(!p)
		return;
	for(up = __atomic_load_n(&p->ups, __ATOMIC_ACQUIRE); up;
		up = next) {
		next = up->next;
		fn(up, arg);
	}
}

size_t
dotpool_pool_mem(const struct dotpool_pool* p)
{
	/* the owner's figure: walking its connections from here would read
	 * memory the owner may be freeing */
	return p ? __atomic_load_n(&p->mem_pub, __ATOMIC_RELAXED) : 0;
}
