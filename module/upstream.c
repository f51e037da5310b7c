/**
 * \file
 * One upstream on one worker: identity and label, health with capped
 * jittered backoff (one setter), whether it has answered yet (verified),
 * active probes of a DOWN or unverified upstream (its zone's SOA), the
 * shared health board, the RTT estimate, the server's idle timeout as
 * learned from its closes, and the rewarm decision and rate. Time and
 * random bits come from the worker's context, so that the state machine
 * runs under a fake clock in its unit test.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include "dotpool/error.h"
#include "dotpool/log.h"
#include "conn.h"
#include "upstream.h"

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

static void up_set_suspect(struct dotpool_upstream* up, int suspect);

/* ---- health ------------------------------------------------------------ */

/** Schedule the next active probe of a DOWN or unverified upstream. */
static void
up_probe_arm(struct dotpool_upstream* up)
{
	unsigned ms = up->ctx->cfg->probe_interval;
	struct timeval tv;
	if(ms == 0 || up->probe_armed || !up->probe_send)
		return;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if(event_add(&up->probe_ev, &tv) == 0)
		up->probe_armed = 1;
}

void
dotpool_up_set_health(struct dotpool_upstream* up, enum dotpool_health h,
	const char* why)
{
	/* every transition is legal (an answer brings any state up, a
	 * failure any state down a step), so only the value is checked */
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

void
dotpool_up_failure(struct dotpool_upstream* up, const char* why)
{
	const struct dotpool_config* cfg = up->ctx->cfg;
	uint64_t b = cfg->backoff_initial ? cfg->backoff_initial : 1;
	uint64_t now = dotpool_ctx_now(up->ctx);
	uint32_t r;
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
	r = ((uint32_t)up->ctx->rand16(up->ctx->arg) << 16) |
		up->ctx->rand16(up->ctx->arg);
	b = b / 2 + r % (b / 2 + 1);
	up->backoff_until = now + b * 1000;
	dotpool_board_avoid(up->shared, up->backoff_until);
	dotpool_up_set_health(up, up->fails >= cfg->fail_threshold ?
		DOTPOOL_DOWN : DOTPOOL_BACKOFF, why);
}

/**
 * The only writer of up->stats.unverified: set at creation (selection
 * tries a new upstream, but only an answer shows it works), cleared by its
 * first answer, from which on its health speaks for it
 * (dotpool_upstream_up). Republishes the counters.
 */
static void
up_set_verified(struct dotpool_upstream* up, int verified)
{
	if(verified && up->stats.unverified)
		dotpool_log(DOTPOOL_LOG_OPS, "dotpool: %s: answered, verified",
			up->label);
	up->stats.unverified = !verified;
	dotpool_stats_publish(&up->pub, &up->stats);
}

void
dotpool_up_success(struct dotpool_upstream* up)
{
	up->last_answer_us = dotpool_ctx_now(up->ctx);
	up_set_suspect(up, 0);
	up->fails = 0;
	up->backoff_until = 0;
	dotpool_board_clear(up->shared);
	if(up->stats.unverified)
		up_set_verified(up, 1);
	dotpool_up_set_health(up, DOTPOOL_UP, NULL);
}


/* ---- the round-trip estimate and the soft deadline ---------------------- */

/** Whether the estimate has had no sample for DOTPOOL_RTT_IDLE_MS. */
static int
up_rtt_idle(const struct dotpool_upstream* up, uint64_t now)
{
	return now - up->last_sample_us > (uint64_t)DOTPOOL_RTT_IDLE_MS * 1000;
}

/** Publish the estimate's gauges into the counters (the caller
 * republishes them). */
static void
up_rtt_gauges(struct dotpool_upstream* up)
{
	up->stats.srtt_us = (int64_t)up->srtt;
	up->stats.rttvar_us = (int64_t)up->rttvar;
	up->stats.soft_us = (int64_t)dotpool_up_soft_us(up);
}

/**
 * RFC 6298's SRTT and RTTVAR with one change: RTTVAR rises with the
 * RFC's gain (1/4) but falls with 1/32 (as Linux's TCP keeps its mdev).
 * With the RFC's symmetric gain a bimodal upstream (cached names fast,
 * uncached ones 200 ms slower, one in ten) has its variation collapse
 * between slow answers, and about half of the slow answers would fall
 * past the soft deadline and be hedged although the upstream is healthy;
 * with the slow fall about one in twenty does. A quantile estimate would
 * do as well but costs memory per upstream and reacts slower to a real
 * change of the path; SRTT follows a change within a few samples.
 */
void
dotpool_up_rtt(struct dotpool_upstream* up, uint64_t lat)
{
	uint64_t now = dotpool_ctx_now(up->ctx);
	if(up->rtt_samples == 0 || up_rtt_idle(up, now) || up->suspect) {
		/* first sample, the first after a pause, or the answer that
		 * ends a suspicion (which proved the estimate wrong: a
		 * server now answering 300 ms slower would otherwise take a
		 * dozen slow answers to be passed over): what was learned
		 * before may no longer hold (RFC 6298 2.2) */
		up->srtt = lat;
		up->rttvar = lat / 2;
		up->rtt_samples = 1;
	} else {
		uint64_t dev = up->srtt > lat ? up->srtt - lat : lat - up->srtt;
		if(dev > up->rttvar)
			up->rttvar = (up->rttvar * 3 + dev) / 4;
		else	up->rttvar = (up->rttvar * 31 + dev) / 32;
		up->srtt = (up->srtt * 7 + lat) / 8;
		if(up->rtt_samples < 0xffff)
			up->rtt_samples++;
	}
	if(up->srtt == 0)
		up->srtt = 1; /* 0 means unknown to selection */
	up->last_sample_us = now;
	up_rtt_gauges(up);
}

uint64_t
dotpool_up_soft_us(const struct dotpool_upstream* up)
{
	const struct dotpool_config* cfg = up->ctx->cfg;
	uint64_t lo = (uint64_t)cfg->soft_deadline_min * 1000;
	uint64_t hi = (uint64_t)cfg->soft_deadline_max * 1000;
	uint64_t var = up->rttvar, d;
	if(lo > hi)
		lo = hi;
	if(up->rtt_samples == 0)
		return hi; /* nothing known: wait as long as allowed */
	if(up_rtt_idle(up, dotpool_ctx_now(up->ctx)) && var < up->srtt / 2)
		var = up->srtt / 2; /* as sure as one sample */
	d = up->srtt + 4 * var;
	return d < lo ? lo : d > hi ? hi : d;
}

/* ---- suspect: past the soft deadline, nothing heard since ---------------- */

/**
 * The only writer of up->suspect (and its gauge): a suspect upstream is
 * probed at once and then every probe-interval until it answers; new
 * queries skip it (dotpool_upstream_usable). Republishes the counters.
 */
static void
up_set_suspect(struct dotpool_upstream* up, int suspect)
{
	if(up->suspect == suspect)
		return;
	up->suspect = suspect;
	up->stats.suspect = suspect;
	if(suspect) {
		up->stats.suspects++;
		/* with probes it stays suspect until one answers: were it
		 * tried again sooner, each try would cost the queries sent
		 * to it until their soft deadline a hedge; without probes
		 * nothing would ever clear it, so it lapses once the hard
		 * timeout of the attempt that raised it is past */
		up->suspect_until = up->probe_send &&
			up->ctx->cfg->probe_interval ? UINT64_MAX :
			dotpool_ctx_now(up->ctx) +
			(uint64_t)up->ctx->cfg->attempt_timeout * 1000;
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: no answer past "
			"the soft deadline, suspect", up->label);
	} else
		dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: no longer "
			"suspect", up->label);
	dotpool_stats_publish(&up->pub, &up->stats);
	if(suspect)
		dotpool_upstream_probe(up);
}

int
dotpool_up_overdue(struct dotpool_upstream* up, uint64_t sent_us)
{
	/* an answer to anything sent since (a slow-but-healthy upstream
	 * keeps answering the others) says it is working; an attempt not
	 * yet written (sent_us 0: its connection is still being set up)
	 * says nothing of the server */
	if(sent_us != 0 && up->last_answer_us < sent_us)
		up_set_suspect(up, 1);
	return up->suspect;
}

void
dotpool_upstream_report(struct dotpool_upstream* up, enum dotpool_outcome o)
{
	if(o == DOTPOOL_OUTCOME_OK)
		dotpool_up_success(up);
	else	dotpool_up_failure(up, "bad answer");
}

enum dotpool_health
dotpool_upstream_health(const struct dotpool_upstream* up)
{
	return up->health;
}

int
dotpool_upstream_usable(struct dotpool_upstream* up)
{
	/* another worker may have found it failing a moment ago */
	uint64_t avoid = dotpool_board_avoid_until(up->shared), now;
	if(up->health == DOTPOOL_UP && avoid == 0 && !up->suspect)
		return 1; /* the common case reads no clock */
	now = dotpool_ctx_now(up->ctx);
	if(up->suspect) {
		if(now < up->suspect_until)
			return 0;
		up_set_suspect(up, 0);
	}
	return (up->health == DOTPOOL_UP || now >= up->backoff_until) &&
		now >= avoid;
}

/* ---- active probes of DOWN or unverified upstreams --------------------- */

int
dotpool_up_is_probe(const struct dotpool_upstream* up,
	const struct dotpool_req* req)
{
	return req == &up->probe;
}

/** The probe finished: an answer already brought the upstream up (unless
 * it was SERVFAIL or REFUSED); otherwise try again later. */
static void
up_probe_done(struct dotpool_req* req, int err, uint8_t* answer, size_t len)
{
	struct dotpool_upstream* up = req->arg;
	if(err == 0 && len >= 4 && ((answer[3] & 0x0f) == 2 ||
		(answer[3] & 0x0f) == 5))
		dotpool_up_failure(up, "probe answered SERVFAIL or REFUSED");
	/* an upstream nobody has seen answer is probed until it does, and
	 * one whose probe failed until one succeeds, so that its health is
	 * known (and comes back) without a client query */
	if(up->health != DOTPOOL_UP || up->stats.unverified || up->suspect)
		up_probe_arm(up);
}

/** Send the probe (the zone's SOA, or ". NS") now, through the send
 * function the pool handed in, so it takes the upstream's connections and
 * counts; the probe request is idle. */
static void
up_probe_send(struct dotpool_upstream* up)
{
	const struct dotpool_config* cfg = up->ctx->cfg;
	static const uint8_t q[17] = { 0, 0, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0,
		0, 0, 2, 0, 1 };
	memset(&up->probe, 0, sizeof(up->probe));
	if(up->probe_len == 0) {
		memcpy(up->probe_wire, q, sizeof(q));
		up->probe_len = sizeof(q);
	}
	up->probe.wire = up->probe_wire;
	up->probe.len = up->probe_len;
	up->probe.timeout_ms = cfg->attempt_timeout ? cfg->attempt_timeout :
		1000;
	up->probe.done = up_probe_done;
	up->probe.arg = up;
	dotpool_log(DOTPOOL_LOG_ALGO, "dotpool: %s: probing", up->label);
	if(up->probe_send(up, &up->probe) != 0)
		up_probe_arm(up);
}

/** Time to probe a DOWN or not yet verified upstream. */
static void
up_probe_cb(evutil_socket_t fd, short what, void* arg)
{
	struct dotpool_upstream* up = arg;
	(void)fd; (void)what;
	dotpool_ctx_wake(up->ctx);
	up->probe_armed = 0;
	if(up->health == DOTPOOL_UP && !up->stats.unverified && !up->suspect)
		return;
	if(up->probe.state != DOTPOOL_REQ_IDLE) {
		up_probe_arm(up);
		return;
	}
	up_probe_send(up);
}

int
dotpool_upstream_set_probe(struct dotpool_upstream* up, const uint8_t* zone,
	size_t len)
{
	uint8_t* w = up->probe_wire;
	if(!zone || len < 1 || len > 255 || zone[len - 1] != 0)
		return DOTPOOL_EINVAL;
	if(up->probe.state != DOTPOOL_REQ_IDLE)
		return DOTPOOL_EAGAIN;
	/* RD, one question: the zone's SOA, IN */
	memset(w, 0, 12);
	w[2] = 0x01;
	w[5] = 1;
	memcpy(w + 12, zone, len);
	w[12 + len] = 0; w[13 + len] = 6;
	w[14 + len] = 0; w[15 + len] = 1;
	up->probe_len = 16 + len;
	return 0;
}

void
dotpool_upstream_probe(struct dotpool_upstream* up)
{
	if(!up || !up->probe_send || up->probe.state != DOTPOOL_REQ_IDLE ||
		up->probe_armed || up->ctx->cfg->probe_interval == 0)
		return; /* one in flight or due already answers the question;
			 * probe-interval 0: no probes, client queries verify */
	up_probe_send(up);
}

/* ---- what the server's closes teach ------------------------------------ */

unsigned
dotpool_up_conn_idle_ms(const struct dotpool_upstream* up, int* learned)
{
	unsigned ms = up->ctx->cfg->idle_timeout;
	*learned = 0;
	if(up->learned_idle_ms && up->learned_idle_ms < ms) {
		*learned = 1;
		return up->learned_idle_ms;
	}
	return ms;
}

/**
 * The server closed an idle connection after idle_ms: ours close first
 * from now on, so no query is written into a connection the server is
 * closing. The latest measurement wins, up or down, less a margin, and
 * never below DOTPOOL_IDLE_LEARN_MIN_MS.
 */
static void
up_learn_peer_idle(struct dotpool_upstream* up, uint64_t idle_ms)
{
	unsigned cap = up->ctx->cfg->idle_timeout;
	unsigned learn = (unsigned)(idle_ms * 3 / 4);
	if(learn < DOTPOOL_IDLE_LEARN_MIN_MS)
		learn = DOTPOOL_IDLE_LEARN_MIN_MS;
	if(learn >= cap)
		learn = 0; /* our own idle-timeout is shorter anyway */
	up->idle_kept = 0;
	if(learn == up->learned_idle_ms)
		return;
	up->learned_idle_ms = learn;
	dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: server closes idle "
		"connections after about %u ms; ours now idle %u ms", up->label,
		(unsigned)idle_ms, learn ? learn : cap);
}

/**
 * Our idle timer closed a connection at the learned idle time: the server
 * kept it that long. After a few of those in a row, try a quarter longer
 * (up to idle-timeout): the server may have been restarted with a longer
 * timeout, or was shedding load; if not, its next idle close teaches the
 * value again.
 */
static void
up_learn_kept(struct dotpool_upstream* up, unsigned kept_ms)
{
	unsigned cap = up->ctx->cfg->idle_timeout, l = up->learned_idle_ms;
	if(l == 0 || kept_ms != l)
		return;
	if(++up->idle_kept < DOTPOOL_IDLE_RAISE_AFTER)
		return;
	up->idle_kept = 0;
	l += l / 4;
	up->learned_idle_ms = l >= cap ? 0 : l;
	dotpool_log(DOTPOOL_LOG_DETAIL, "dotpool: %s: server kept idle "
		"connections %u ms; ours now idle %u ms", up->label, kept_ms,
		l >= cap ? cap : l);
}

void
dotpool_up_learn_idle(struct dotpool_upstream* up,
	const struct dotpool_conn_end* end)
{
	if(end->peer_idle_ms)
		up_learn_peer_idle(up, end->peer_idle_ms);
	else if(end->kept_idle_ms)
		up_learn_kept(up, end->kept_idle_ms);
}

/**
 * Whether an idle connection closing cleanly should be replaced at once:
 * always with prewarm; otherwise only when the server set the pace (it
 * closed the connection, or ours closed early because of its keepalive
 * or its learned idle time; our own idle-timeout is the operator's wish
 * to let go) and the upstream carried a query within the rewarm window.
 * Never after a failure (a failing upstream is not hammered).
 */
int
dotpool_up_rewarm_wanted(const struct dotpool_upstream* up,
	const struct dotpool_conn_end* end)
{
	const struct dotpool_config* cfg = up->ctx->cfg;
	uint64_t last = up->last_query_us;
	if(!end->was_ready || !end->idle || (end->err != 0 &&
		end->err != DOTPOOL_ECLOSED))
		return 0;
	/* a connection that carried nothing and that the server closed
	 * right after it came up: the server does not want it, and opening
	 * another would loop */
	if(end->err == DOTPOOL_ECLOSED && end->sent == 0 && end->quiet_us <
		(uint64_t)DOTPOOL_CLOSE_GRACE_MS * 1000)
		return 0;
	if(cfg->prewarm)
		return 1;
	if(cfg->rewarm_window == 0 || last == 0)
		return 0;
	if(end->err != DOTPOOL_ECLOSED && end->idle_ms >= cfg->idle_timeout)
		return 0;
	return dotpool_ctx_now(up->ctx) - last <
		(uint64_t)cfg->rewarm_window * 1000;
}

/**
 * DOTPOOL_REWARM_BURST at once, then one per DOTPOOL_REWARM_INTERVAL_MS
 * (GCRA): whatever the server does, dotpool opens no more than that on its
 * own initiative; queries still open what they need.
 */
int
dotpool_up_rewarm_allowed(struct dotpool_upstream* up)
{
	uint64_t now = dotpool_ctx_now(up->ctx);
	uint64_t t = (uint64_t)DOTPOOL_REWARM_INTERVAL_MS * 1000;
	uint64_t tat = up->rewarm_tat_us > now ? up->rewarm_tat_us : now;
	if(tat > now + (DOTPOOL_REWARM_BURST - 1) * t)
		return 0;
	up->rewarm_tat_us = tat + t;
	return 1;
}

/* ---- identity, labels, counters ---------------------------------------- */

/** Whether two socket addresses are the same address and port. */
static int
up_addr_eq(const struct sockaddr_storage* a, socklen_t alen,
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
up_name_eq(const char* a, const char* b)
{
	if(!a) a = "";
	if(!b) b = "";
	return strcasecmp(a, b) == 0;
}

int
dotpool_up_is(const struct dotpool_upstream* up, const struct sockaddr* sa,
	socklen_t salen, const char* auth_name, enum dotpool_profile profile)
{
	return up_addr_eq(&up->addr, up->addrlen, sa, salen) &&
		up_name_eq(up->name, auth_name) && up->auth.profile == profile;
}

/** Allocate "addr@port#name[ (opportunistic)]", the upstream's whole
 * identity, for logs, metrics and the health board. @return 0 or -1. */
static int
up_label(struct dotpool_upstream* up)
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
dotpool_up_new(const struct dotpool_ctx* ctx, dotpool_up_send_fn probe_send,
	struct dotpool_board* board, const struct sockaddr* sa,
	socklen_t salen, const char* auth_name,
	const struct dotpool_upstream_cfg* ucfg, enum dotpool_profile profile)
{
	struct dotpool_upstream* up;
	if(!ctx || !sa || salen > sizeof(up->addr) ||
		(sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
		return NULL;
	if(!(up = calloc(1, sizeof(*up))))
		return NULL;
	if(auth_name && auth_name[0] && !(up->name = strdup(auth_name))) {
		free(up);
		return NULL;
	}
	up->probe_send = probe_send;
	up->ctx = ctx;
	memcpy(&up->addr, sa, salen);
	up->addrlen = salen;
	up->auth.name = up->name;
	up->auth.ucfg = ucfg;
	up->auth.profile = profile;
	if(up_label(up) != 0 || event_assign(&up->probe_ev, ctx->base, -1, 0,
		up_probe_cb, up) != 0) {
		free(up->label);
		free(up->name);
		free(up);
		return NULL;
	}
	/* an upstream the board cannot hold is simply not shared */
	up->shared = dotpool_board_slot(board, up->label);
	up_rtt_gauges(up);
	dotpool_up_set_health(up, DOTPOOL_UP, NULL);
	up_set_verified(up, 0);
	return up;
}

void
dotpool_up_free(struct dotpool_upstream* up, int base_alive)
{
	if(!up)
		return;
	if(base_alive && up->probe_armed)
		(void)event_del(&up->probe_ev);
	dotpool_tls_auth_clear(&up->auth);
	free(up->name);
	free(up->label);
	free(up->zone);
	free(up);
}

size_t
dotpool_up_mem(const struct dotpool_upstream* up)
{
	return sizeof(*up) + (up->name ? strlen(up->name) + 1 : 0) +
		strlen(up->label) + 1;
}

uint64_t
dotpool_upstream_srtt(const struct dotpool_upstream* up)
{
	return up->srtt;
}

unsigned
dotpool_upstream_soft_ms(const struct dotpool_upstream* up)
{
	return (unsigned)((dotpool_up_soft_us(up) + 999) / 1000);
}

int
dotpool_upstream_rtt_stale(const struct dotpool_upstream* up)
{
	return up->rtt_samples == 0 ||
		up_rtt_idle(up, dotpool_ctx_now(up->ctx));
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

void
dotpool_upstream_count(struct dotpool_upstream* up, enum dotpool_count what)
{
	switch(what) {
	case DOTPOOL_COUNT_FAILOVER:
		up->stats.failovers++;
		break;
	case DOTPOOL_COUNT_HEDGE_SOFT:
		up->stats.hedges_soft++;
		/* fall through - a hedge like any other */
	case DOTPOOL_COUNT_HEDGE:
		up->stats.hedges++;
		break;
	case DOTPOOL_COUNT_HEDGE_REFUSED:
		up->stats.hedges_refused++;
		break;
	}
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
