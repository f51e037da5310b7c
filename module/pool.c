/**
 * \file
 * The per-worker pool: upstreams, their wait queues, request timers,
 * health with capped jittered backoff, and the deferred-work event that
 * frees closed connections and completes failed requests outside of the
 * callbacks that caused them (done() re-enters us through Unbound's mesh).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/rand.h>
#include <openssl/err.h>
#include "dotpool/conn.h"
#include "dotpool/error.h"
#include "dotpool/log.h"

const char*
dotpool_req_state_str(enum dotpool_req_state s)
{
	switch(s) {
	case DOTPOOL_REQ_IDLE: return "idle";
	case DOTPOOL_REQ_QUEUED: return "queued";
	case DOTPOOL_REQ_SENT: return "sent";
	}
	return "unknown";
}

const char*
dotpool_health_str(enum dotpool_health h)
{
	switch(h) {
	case DOTPOOL_UP: return "up";
	case DOTPOOL_BACKOFF: return "backoff";
	case DOTPOOL_DOWN: return "down";
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

void
dotpool_pool_wake(struct dotpool_pool* p)
{
	if(p->wake)
		p->wake(p->wake_arg);
}

void
dotpool_pool_defer(struct dotpool_pool* p)
{
	/* a no-op when already active: one run does all the work */
	event_active(&p->ev_defer, EV_TIMEOUT, 1);
}

/* ---- health ------------------------------------------------------------ */

/** Schedule the next active probe of a DOWN upstream. */
static void
up_probe_arm(struct dotpool_upstream* up)
{
	unsigned ms = up->pool->cfg->probe_interval;
	struct timeval tv;
	if(ms == 0 || up->probe_armed)
		return;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if(event_add(&up->probe_ev, &tv) == 0)
		up->probe_armed = 1;
}

/** The only writer of up->health. Every transition is legal (an answer
 * brings any state up, a failure any state down a step), so this checks
 * the value and keeps the log and gauge in one place. */
static void
up_set_health(struct dotpool_upstream* up, enum dotpool_health h,
	const char* why)
{
	if(h != DOTPOOL_UP && h != DOTPOOL_BACKOFF && h != DOTPOOL_DOWN)
		return;
	if(up->health != h) {
		dotpool_log(h == DOTPOOL_UP ? DOTPOOL_LOG_OPS : DOTPOOL_LOG_WARN,
			"dotpool: %s: %s -> %s%s%s%s", up->label,
			dotpool_health_str(up->health), dotpool_health_str(h),
			why ? " (" : "", why ? why : "", why ? ")" : "");
		up->health = h;
		up->stats.health = (int64_t)h;
		/* not every change of health is followed by a gauge
		 * update (a probe's answer, a bad answer) */
		dotpool_stats_publish(&up->pub, &up->stats);
	}
	if(h == DOTPOOL_DOWN)
		up_probe_arm(up);
	else if(h == DOTPOOL_UP && up->probe_armed) {
		(void)event_del(&up->probe_ev);
		up->probe_armed = 0;
	}
}

uint16_t
dotpool_pool_rand16(struct dotpool_pool* p)
{
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

/** A random number for jitter. */
static uint32_t
pool_random(void)
{
	uint32_t r;
	if(RAND_bytes((unsigned char*)&r, sizeof(r)) != 1) {
		ERR_clear_error();
		r = (uint32_t)(dotpool_now_us() * 2654435761u);
	}
	return r;
}

void
dotpool_up_failure(struct dotpool_upstream* up, const char* why)
{
	const struct dotpool_config* cfg = up->pool->cfg;
	uint64_t b = cfg->backoff_initial ? cfg->backoff_initial : 1;
	uint64_t now = dotpool_now_us();
	unsigned i;
	if(up->health != DOTPOOL_UP && now < up->backoff_until) {
		/* the same outage seen again (a burst of queries timing out
		 * together): one failure, not one per query */
		return;
	}
	up->fails++;
	/* exponential in the failures, capped; jitter in [b/2, b] so that
	 * workers and resolvers do not retry in lockstep */
	for(i = 1; i < up->fails && b < cfg->backoff_max; i++)
		b *= 2;
	if(cfg->backoff_max && b > cfg->backoff_max)
		b = cfg->backoff_max;
	b = b / 2 + pool_random() % (b / 2 + 1);
	up->backoff_until = now + b * 1000;
	dotpool_board_avoid(up->shared, up->backoff_until);
	up_set_health(up, up->fails >= cfg->fail_threshold ? DOTPOOL_DOWN :
		DOTPOOL_BACKOFF, why);
}

/** An answer: the upstream works. */
static void
up_success(struct dotpool_upstream* up)
{
	up->fails = 0;
	up->backoff_until = 0;
	dotpool_board_clear(up->shared);
	up_set_health(up, DOTPOOL_UP, NULL);
}

void
dotpool_upstream_report(struct dotpool_upstream* up, enum dotpool_outcome o)
{
	if(o == DOTPOOL_OUTCOME_OK)
		up_success(up);
	else	dotpool_up_failure(up, "bad answer");
}

enum dotpool_health
dotpool_upstream_health(const struct dotpool_upstream* up)
{
	return up->health;
}

int
dotpool_upstream_usable(const struct dotpool_upstream* up)
{
	/* another worker may have found it failing a moment ago */
	uint64_t avoid = dotpool_board_avoid_until(up->shared), now;
	if(up->health == DOTPOOL_UP && avoid == 0)
		return 1; /* the common case reads no clock */
	now = dotpool_now_us();
	return (up->health == DOTPOOL_UP || now >= up->backoff_until) &&
		now >= avoid;
}

uint64_t
dotpool_upstream_srtt(const struct dotpool_upstream* up)
{
	return up->srtt;
}

const char*
dotpool_upstream_name(const struct dotpool_upstream* up)
{
	return up->label;
}

const struct dotpool_stats*
dotpool_upstream_stats(const struct dotpool_upstream* up)
{
	return &up->stats;
}

void
dotpool_upstream_stats_read(const struct dotpool_upstream* up,
	struct dotpool_stats* out)
{
	dotpool_stats_read(out, &up->pub);
}

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

void
dotpool_up_gauges(struct dotpool_upstream* up)
{
	struct dotpool_conn* c;
	int64_t inflight = 0, idle = 0;
	size_t mem = 0;
	for(c = up->conns; c; c = c->next) {
		unsigned live = dotpool_idmap_live(c->ids);
		inflight += live;
		if(c->state == DOTPOOL_CONN_READY && live == 0)
			idle++;
		mem += dotpool_conn_mem(c);
	}
	up->stats.inflight = inflight;
	up->stats.conns_open = up->nconns;
	up->stats.conns_idle = idle;
	up->stats.queued = up->qlen;
	up->stats.health = (int64_t)up->health;
	/* other threads never walk our connections: they read what is
	 * published here, after every change */
	up->pool->mem_ups = up->pool->mem_ups - up->mem_conns + mem;
	up->mem_conns = mem;
	dotpool_stats_publish(&up->pub, &up->stats);
	pool_mem_publish(up->pool);
}

/* ---- request lists ----------------------------------------------------- */

/** Unlink a request from whichever list holds it. */
static void
req_unlink(struct dotpool_req* req)
{
	struct dotpool_req** head, **tail;
	if(req->onlist == DOTPOOL_REQ_ON_QUEUE) {
		head = &req->up->qhead;
		tail = &req->up->qtail;
		req->up->qlen--;
	} else if(req->onlist == DOTPOOL_REQ_ON_FAIL) {
		head = &req->up->pool->fhead;
		tail = &req->up->pool->ftail;
	} else	return;
	if(req->prev)
		req->prev->next = req->next;
	else	*head = req->next;
	if(req->next)
		req->next->prev = req->prev;
	else	*tail = req->prev;
	req->next = req->prev = NULL;
	req->onlist = DOTPOOL_REQ_ON_NONE;
}

/** Append (or with front, prepend) a request to a list. */
static void
req_link(struct dotpool_req* req, int list, int front)
{
	struct dotpool_req** head, **tail;
	if(list == DOTPOOL_REQ_ON_QUEUE) {
		head = &req->up->qhead;
		tail = &req->up->qtail;
		req->up->qlen++;
	} else {
		head = &req->up->pool->fhead;
		tail = &req->up->pool->ftail;
	}
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
	req->onlist = (uint8_t)list;
	req->state = DOTPOOL_REQ_QUEUED;
}

/** Queue a request to fail with err from the event loop. */
static void
req_fail_later(struct dotpool_req* req, int err)
{
	req_unlink(req);
	req->err = err;
	req_link(req, DOTPOOL_REQ_ON_FAIL, 0);
	dotpool_pool_defer(req->up->pool);
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

void
dotpool_up_lost(struct dotpool_req* req, int progress)
{
	struct dotpool_upstream* up = req->up;
	req->conn = NULL;
	req->state = DOTPOOL_REQ_IDLE;
	if(!req->resent || progress) {
		/* once: a server closing a busy connection is routine
		 * (restart, load balancer); twice smells of the query --
		 * unless the connection answered others before it closed */
		if(!progress)
			req->resent = 1;
		up->stats.resends++;
		req_link(req, DOTPOOL_REQ_ON_QUEUE, 1);
		dotpool_pool_defer(up->pool);
		return;
	}
	req_fail_later(req, DOTPOOL_ECLOSED);
}

void
dotpool_up_connect_failed(struct dotpool_upstream* up, int err)
{
	if(up->nconns > 0)
		return;
	while(up->qhead)
		req_fail_later(up->qhead, err);
}

/* ---- sending ----------------------------------------------------------- */

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
		if(!best || dotpool_idmap_live(c->ids) <
			dotpool_idmap_live(best->ids))
			best = c;
	}
	return best;
}

void
dotpool_up_dispatch(struct dotpool_upstream* up)
{
	const struct dotpool_config* cfg = up->pool->cfg;
	struct dotpool_conn* c;
	unsigned pending, cap = cfg->max_inflight ? cfg->max_inflight : 1;
	unsigned maxc = cfg->max_connections ? cfg->max_connections : 1;
	int opened = 0;
	while(up->qhead) {
		struct dotpool_req* req = up->qhead;
		if((c = up_pick(up)) != NULL) {
			req_unlink(req);
			if(dotpool_conn_send(c, req) != 0) {
				/* no buffer room: retry when it drains */
				req_link(req, DOTPOOL_REQ_ON_QUEUE, 1);
				break;
			}
			continue;
		}
		if(opened || up->nconns >= maxc)
			break;
		pending = 0;
		for(c = up->conns; c; c = c->next)
			if(c->state == DOTPOOL_CONN_CONNECTING ||
				c->state == DOTPOOL_CONN_HANDSHAKING)
				pending++;
		/* another connection only when those coming up cannot take
		 * the queue */
		if(pending > 0 && up->qlen <= pending * cap)
			break;
		if(dotpool_conn_open(up) != 0)
			break;
		opened = 1;
	}
	dotpool_up_gauges(up);
}

void
dotpool_req_deliver(struct dotpool_req* req, uint8_t* answer, size_t len)
{
	struct dotpool_upstream* up = req->up;
	uint64_t now = dotpool_now_us();
	uint64_t lat = now > req->sent_us ? now - req->sent_us : 0;
	req_timer_stop(req);
	req->state = DOTPOOL_REQ_IDLE;
	req->conn = NULL;
	if(len >= 4)
		up->stats.rcode[answer[3] & 0x0f]++;
	dotpool_stats_latency(&up->stats, lat);
	up->srtt = up->srtt ? (up->srtt * 7 + lat) / 8 : lat;
	up_success(up);
	dotpool_up_gauges(up);
	req->done(req, 0, answer, len);
}

/** A request's time is up. */
static void
req_timer_cb(evutil_socket_t fd, short what, void* arg)
{
	struct dotpool_req* req = arg;
	struct dotpool_upstream* up = req->up;
	(void)fd; (void)what;
	dotpool_pool_wake(up->pool);
	req->timer_set = 0;
	if(req->state == DOTPOOL_REQ_SENT && req->conn)
		dotpool_conn_cancel(req->conn, req);
	req_unlink(req);
	req->state = DOTPOOL_REQ_IDLE;
	req->conn = NULL;
	up->stats.timeouts++;
	dotpool_up_failure(up, "query timed out");
	dotpool_up_gauges(up);
	req->done(req, DOTPOOL_ETIMEOUT, NULL, 0);
}

int
dotpool_pool_send(struct dotpool_upstream* up, struct dotpool_req* req)
{
	struct timeval tv;
	if(!up || !req || !req->wire || req->len < 12 || req->len > 65535 ||
		!req->done || req->state != DOTPOOL_REQ_IDLE)
		return DOTPOOL_EINVAL;
	if(up->qlen >= up->pool->cfg->max_queue && !up_pick(up))
		return DOTPOOL_EFULL;
	req->up = up;
	req->conn = NULL;
	req->resent = 0;
	req->err = 0;
	req->next = req->prev = NULL;
	req->onlist = DOTPOOL_REQ_ON_NONE;
	if(event_assign(&req->timer, up->pool->base, -1, 0, req_timer_cb,
		req) != 0)
		return DOTPOOL_ENOMEM;
	tv.tv_sec = req->timeout_ms / 1000;
	tv.tv_usec = (req->timeout_ms % 1000) * 1000;
	if(event_add(&req->timer, &tv) != 0)
		return DOTPOOL_ENOMEM;
	req->timer_set = 1;
	req_link(req, DOTPOOL_REQ_ON_QUEUE, 0);
	dotpool_up_dispatch(up);
	return 0;
}

void
dotpool_pool_cancel(struct dotpool_req* req)
{
	struct dotpool_upstream* up;
	if(!req || req->state == DOTPOOL_REQ_IDLE)
		return;
	up = req->up;
	req_timer_stop(req);
	if(req->state == DOTPOOL_REQ_SENT && req->conn)
		dotpool_conn_cancel(req->conn, req);
	req_unlink(req);
	req->state = DOTPOOL_REQ_IDLE;
	req->conn = NULL;
	dotpool_up_gauges(up);
}

/* ---- active probes of DOWN upstreams ----------------------------------- */

/** The probe finished: an answer already brought the upstream up (unless
 * it was SERVFAIL or REFUSED); otherwise try again later. */
static void
up_probe_done(struct dotpool_req* req, int err, uint8_t* answer, size_t len)
{
	struct dotpool_upstream* up = req->arg;
	if(err == 0 && len >= 4 && ((answer[3] & 0x0f) == 2 ||
		(answer[3] & 0x0f) == 5))
		dotpool_up_failure(up, "probe answered SERVFAIL or REFUSED");
	if(up->health == DOTPOOL_DOWN)
		up_probe_arm(up);
}

/** Time to probe a DOWN upstream with ". IN NS". */
static void
up_probe_cb(evutil_socket_t fd, short what, void* arg)
{
	struct dotpool_upstream* up = arg;
	const struct dotpool_config* cfg = up->pool->cfg;
	static const uint8_t q[17] = { 0, 0, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0,
		0, 0, 2, 0, 1 };
	(void)fd; (void)what;
	dotpool_pool_wake(up->pool);
	up->probe_armed = 0;
	if(up->health != DOTPOOL_DOWN)
		return;
	if(up->probe.state != DOTPOOL_REQ_IDLE) {
		up_probe_arm(up);
		return;
	}
	memset(&up->probe, 0, sizeof(up->probe));
	memcpy(up->probe_wire, q, sizeof(q));
	up->probe.wire = up->probe_wire;
	up->probe.len = sizeof(q);
	up->probe.timeout_ms = cfg->attempt_timeout ? cfg->attempt_timeout :
		1000;
	up->probe.done = up_probe_done;
	up->probe.arg = up;
	dotpool_log(DOTPOOL_LOG_ALGO, "dotpool: %s: probing", up->label);
	if(dotpool_pool_send(up, &up->probe) != 0)
		up_probe_arm(up);
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

/**
 * Whether a rewarm connection may be opened now, and if so take the
 * token: DOTPOOL_REWARM_BURST at once, then one per
 * DOTPOOL_REWARM_INTERVAL_MS (GCRA). Whatever the server does, dotpool
 * opens no more than that on its own initiative; queries still open what
 * they need.
 */
static int
up_rewarm_allowed(struct dotpool_upstream* up)
{
	uint64_t now = dotpool_now_us();
	uint64_t t = (uint64_t)DOTPOOL_REWARM_INTERVAL_MS * 1000;
	uint64_t tat = up->rewarm_tat_us > now ? up->rewarm_tat_us : now;
	if(tat > now + (DOTPOOL_REWARM_BURST - 1) * t)
		return 0;
	up->rewarm_tat_us = tat + t;
	return 1;
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
	dotpool_pool_wake(p);
	pool_reap(p, 1);
	for(up = p->ups; up; up = up->next) {
		if(up->qhead)
			dotpool_up_dispatch(up);
		if(up->rewarm) {
			/* prewarm or the rewarm window: the next query
			 * should not wait for a handshake; only after clean
			 * idle closes, so a failing upstream is not
			 * hammered, and rate-limited, so not even a server
			 * that closes every connection at once is */
			up->rewarm = 0;
			if(up->nconns == 0) {
				if(up_rewarm_allowed(up))
					(void)dotpool_conn_open(up);
				else	dotpool_log(DOTPOOL_LOG_ALGO, "dotpool: "
					"%s: rewarm skipped (rate limit)",
					up->label);
			}
		}
	}
	while((req = p->fhead) != NULL) {
		int err = req->err;
		req_unlink(req);
		req_timer_stop(req);
		req->state = DOTPOOL_REQ_IDLE;
		req->conn = NULL;
		dotpool_up_gauges(req->up);
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
	p->base = base;
	p->cfg = cfg;
	p->tls = tls;
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
pool_forget_req(struct dotpool_req* req, int base_alive)
{
	if(base_alive)
		req_timer_stop(req);
	req->timer_set = 0;
	req->state = DOTPOOL_REQ_IDLE;
	req->conn = NULL;
	req->onlist = DOTPOOL_REQ_ON_NONE;
	req->next = req->prev = NULL;
}

/** pool_free helper: forget a request that was in flight. */
static void
pool_forget_live(void* owner, uint16_t id, void* arg)
{
	(void)id;
	pool_forget_req(owner, *(int*)arg);
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
		pool_forget_req(req, base_alive);
	}
	p->fhead = p->ftail = NULL;
	pool_reap(p, base_alive);
	for(up = p->ups; up; up = unext) {
		unext = up->next;
		for(req = up->qhead; req; req = rnext) {
			rnext = req->next;
			pool_forget_req(req, base_alive);
		}
		for(c = up->conns; c; c = cnext) {
			cnext = c->next;
			dotpool_idmap_drain(c->ids, pool_forget_live,
				&base_alive);
			dotpool_conn_free(c, base_alive);
		}
		if(base_alive && up->probe_armed)
			(void)event_del(&up->probe_ev);
		dotpool_tls_auth_clear(&up->auth);
		free(up->name);
		free(up->label);
		free(up->zone);
		free(up);
	}
	if(base_alive)
		(void)event_del(&p->ev_defer);
	free(p);
}

/** Whether two socket addresses are the same address and port. */
static int
pool_addr_eq(const struct sockaddr_storage* a, socklen_t alen,
	const struct sockaddr* b, socklen_t blen)
{
	if(a->ss_family != b->sa_family)
		return 0;
	if(b->sa_family == AF_INET && blen >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in* x = (const struct sockaddr_in*)a;
		const struct sockaddr_in* y = (const struct sockaddr_in*)b;
		return x->sin_port == y->sin_port &&
			x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if(b->sa_family == AF_INET6 && blen >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6* x = (const struct sockaddr_in6*)a;
		const struct sockaddr_in6* y = (const struct sockaddr_in6*)b;
		return x->sin6_port == y->sin6_port &&
			x->sin6_scope_id == y->sin6_scope_id &&
			memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return alen == blen && memcmp(a, b, blen) == 0;
}

/** Whether two auth names are the same (case-insensitive, NULL = ""). */
static int
pool_name_eq(const char* a, const char* b)
{
	if(!a) a = "";
	if(!b) b = "";
	return strcasecmp(a, b) == 0;
}

/** Allocate "addr@port#name[ (opportunistic)]", the upstream's whole
 * identity, for logs, metrics and the health board. @return 0 or -1. */
static int
pool_label(struct dotpool_upstream* up)
{
	static const char opp[] = " (opportunistic)";
	char ip[INET6_ADDRSTRLEN + 12] = "?";
	int port = 0, n;
	size_t len;
	if(up->addr.ss_family == AF_INET) {
		struct sockaddr_in* s = (struct sockaddr_in*)&up->addr;
		(void)inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
		port = ntohs(s->sin_port);
	} else if(up->addr.ss_family == AF_INET6) {
		struct sockaddr_in6* s = (struct sockaddr_in6*)&up->addr;
		(void)inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
		port = ntohs(s->sin6_port);
		if(s->sin6_scope_id) {
			/* fe80::1%2 and fe80::1%3 are two servers */
			size_t l = strlen(ip);
			snprintf(ip + l, sizeof(ip) - l, "%%%u",
				(unsigned)s->sin6_scope_id);
		}
	}
	len = strlen(ip) + 8 + (up->name ? strlen(up->name) + 1 : 0) +
		sizeof(opp);
	if(!(up->label = malloc(len)))
		return -1;
	n = snprintf(up->label, len, "%s@%d%s%s%s", ip, port,
		up->name ? "#" : "", up->name ? up->name : "",
		up->auth.profile == DOTPOOL_PROFILE_OPPORTUNISTIC ? opp : "");
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

struct dotpool_upstream*
dotpool_pool_upstream(struct dotpool_pool* p, const struct sockaddr* sa,
	socklen_t salen, const char* auth_name,
	const struct dotpool_upstream_cfg* ucfg, enum dotpool_profile profile)
{
	struct dotpool_upstream* up;
	if(!p || !sa || salen > sizeof(up->addr) ||
		(sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return NULL;
	if(auth_name && !auth_name[0])
		auth_name = NULL;
	if(ucfg && ucfg->profile >= 0)
		profile = (enum dotpool_profile)ucfg->profile; /* section wins */
	for(up = p->ups; up; up = up->next)
		if(pool_addr_eq(&up->addr, up->addrlen, sa, salen) &&
			pool_name_eq(up->name, auth_name) &&
			up->auth.profile == profile)
			return up;
	if(!(up = calloc(1, sizeof(*up))))
		return NULL;
	if(auth_name && !(up->name = strdup(auth_name))) {
		free(up);
		return NULL;
	}
	up->pool = p;
	memcpy(&up->addr, sa, salen);
	up->addrlen = salen;
	up->auth.name = up->name;
	up->auth.ucfg = ucfg;
	up->auth.profile = profile;
	if(pool_label(up) != 0 || event_assign(&up->probe_ev, p->base, -1, 0,
		up_probe_cb, up) != 0) {
		free(up->label);
		free(up->name);
		free(up);
		return NULL;
	}
	/* an upstream the board cannot hold is simply not shared */
	up->shared = dotpool_board_slot(p->board, up->label);
	up->health = DOTPOOL_UP;
	up->stats.health = DOTPOOL_UP;
	up->next = p->ups;
	p->mem_ups += sizeof(*up) + (up->name ? strlen(up->name) + 1 : 0) +
		strlen(up->label) + 1;
	dotpool_stats_publish(&up->pub, &up->stats);
	/* published with release: the metrics thread walks this list, and
	 * reads the label and the counters published above */
	__atomic_store_n(&p->ups, up, __ATOMIC_RELEASE);
	pool_mem_publish(p);
	if(p->cfg->prewarm)
		(void)dotpool_conn_open(up);
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

void
dotpool_upstream_count(struct dotpool_upstream* up, enum dotpool_count what)
{
	if(what == DOTPOOL_COUNT_FAILOVER)
		up->stats.failovers++;
	else	up->stats.hedges++;
	dotpool_stats_publish(&up->pub, &up->stats);
}

const char*
dotpool_upstream_zone(const struct dotpool_upstream* up)
{
	return __atomic_load_n(&up->zone, __ATOMIC_ACQUIRE);
}

void
dotpool_upstream_set_zone(struct dotpool_upstream* up, const char* zone)
{
	char* z;
	if(up->zone)
		return;
	/* every worker labels the upstream with the same zone */
	zone = dotpool_board_zone(up->shared, zone);
	if(!(z = strdup(zone)))
		return;
	/* published with release: the metrics thread reads it */
	__atomic_store_n(&up->zone, z, __ATOMIC_RELEASE);
}
