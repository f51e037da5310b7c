/**
 * \file
 * Unit tests of module/upstream.c alone, under a fake clock and a fake
 * random source (module/ctx.h): the health state machine (UP, BACKOFF,
 * DOWN) with its capped, jittered backoff and the counters' mirror of it,
 * the RTT estimate, what a connection's end teaches about the server's
 * idle timeout, the rewarm decision and rate, and the probes of a DOWN
 * or unverified upstream (through a fake send). No socket, no pool.
 */
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <event2/event.h>
#include "dotpool/error.h"
#include "module/conn.h"
#include "module/upstream.h"
#include "fake_ctx.h"
#include "unit.h"

/** Set up the fake context with the settings the tests assume. */
static void
fake_init(struct fake_ctx* f)
{
	fake_ctx_init(f);
	f->cfg.fail_threshold = 3;
	f->cfg.backoff_initial = 100;
	f->cfg.backoff_max = 1000;
	f->cfg.idle_timeout = 10000;
	f->cfg.rewarm_window = 5000;
}

/** An upstream 127.0.0.1@853#dot.test whose probes go out by send. */
static struct dotpool_upstream*
new_up(struct fake_ctx* f, dotpool_up_send_fn send,
	enum dotpool_profile profile)
{
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(853);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return dotpool_up_new(&f->ctx, send, NULL, (struct sockaddr*)&sin,
		sizeof(sin), "dot.test", NULL, profile);
}

/** The same with no pool (no probes). */
static struct dotpool_upstream*
fake_up(struct fake_ctx* f, enum dotpool_profile profile)
{
	return new_up(f, NULL, profile);
}

static void
fake_free(struct fake_ctx* f, struct dotpool_upstream* up)
{
	dotpool_up_free(up, 1);
	fake_ctx_free(f);
}

/** The health other threads see: the published counters' mirror. */
static int64_t
published_health(const struct dotpool_upstream* up)
{
	struct dotpool_stats s;
	dotpool_upstream_stats_read(up, &s);
	return s.health;
}

/** A new upstream: its identity, UP and usable. */
static void
test_new(void)
{
	struct fake_ctx f;
	struct dotpool_upstream* up, *opp;
	struct sockaddr_in sin;
	fake_init(&f);
	up = fake_up(&f, DOTPOOL_PROFILE_STRICT);
	opp = fake_up(&f, DOTPOOL_PROFILE_OPPORTUNISTIC);
	UNIT_REQUIRE(up && opp, "upstream: created");
	UNIT_CHECK(strcmp(dotpool_upstream_name(up), "127.0.0.1@853#dot.test")
		== 0, "upstream: label is addr@port#name");
	UNIT_CHECK(strcmp(dotpool_upstream_name(opp),
		"127.0.0.1@853#dot.test (opportunistic)") == 0,
		"upstream: the opportunistic profile is part of the label");
	UNIT_CHECK(dotpool_upstream_health(up) == DOTPOOL_UP &&
		published_health(up) == DOTPOOL_UP &&
		dotpool_upstream_usable(up), "upstream: starts UP and usable");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(853);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	UNIT_CHECK(dotpool_up_is(up, (struct sockaddr*)&sin, sizeof(sin),
		"DOT.test", DOTPOOL_PROFILE_STRICT), "upstream: the name "
		"compares case-insensitively");
	UNIT_CHECK(!dotpool_up_is(up, (struct sockaddr*)&sin, sizeof(sin),
		"dot.test", DOTPOOL_PROFILE_OPPORTUNISTIC) &&
		!dotpool_up_is(up, (struct sockaddr*)&sin, sizeof(sin), NULL,
		DOTPOOL_PROFILE_STRICT), "upstream: another profile or name "
		"is another upstream");
	sin.sin_port = htons(854);
	UNIT_CHECK(!dotpool_up_is(up, (struct sockaddr*)&sin, sizeof(sin),
		"dot.test", DOTPOOL_PROFILE_STRICT), "upstream: another port "
		"is another upstream");
	UNIT_CHECK(dotpool_up_mem(up) > sizeof(*up), "upstream: its memory "
		"counts its strings");
	dotpool_up_free(opp, 1);
	fake_free(&f, up);
}

/** A failure: BACKOFF for a jittered backoff in [b/2, b], not usable
 * until it passes, and the counters say so. */
static void
test_backoff_jitter(void)
{
	struct fake_ctx f;
	struct dotpool_upstream* up;
	uint64_t t0;
	fake_init(&f);
	up = fake_up(&f, DOTPOOL_PROFILE_STRICT);
	UNIT_REQUIRE(up != NULL, "upstream: created");
	t0 = f.now;
	f.rnd = 0; /* the low end of the jitter: b/2 */
	dotpool_up_failure(up, "test");
	UNIT_CHECK(dotpool_upstream_health(up) == DOTPOOL_BACKOFF &&
		up->fails == 1, "upstream: one failure is BACKOFF");
	UNIT_CHECK(up->stats.health == DOTPOOL_BACKOFF &&
		published_health(up) == DOTPOOL_BACKOFF, "upstream: the "
		"counters' health follows, published for other threads");
	UNIT_CHECKF(up->backoff_until == t0 + 50 * 1000, "upstream: backoff "
		"of the first failure at the low end is half of "
		"backoff-initial (%llu µs)",
		(unsigned long long)(up->backoff_until - t0));
	UNIT_CHECK(!dotpool_upstream_usable(up), "upstream: not usable while "
		"backing off");
	f.now = t0 + 49 * 1000;
	UNIT_CHECK(!dotpool_upstream_usable(up), "upstream: still not usable "
		"just before the backoff ends");
	f.now = t0 + 50 * 1000;
	UNIT_CHECK(dotpool_upstream_usable(up) &&
		dotpool_upstream_health(up) == DOTPOOL_BACKOFF, "upstream: "
		"usable again (to be tried) when the backoff ends, still "
		"BACKOFF until it answers");
	/* two draws make the 32-bit jitter value */
	f.rnd = 0xffff;
	t0 = f.now;
	dotpool_up_failure(up, "test");
	UNIT_CHECKF(up->fails == 2 && up->backoff_until == t0 +
		(100 + 0xffffffffu % 101) * 1000,
		"upstream: the second failure doubles the backoff, jitter "
		"within [b/2, b] (%u fails, %llu µs)", up->fails,
		(unsigned long long)(up->backoff_until - t0));
	fake_free(&f, up);
}

/** Failures of one outage count once; fail_threshold of them make it
 * DOWN; the backoff never exceeds backoff-max; an answer clears it all. */
static void
test_down_cap_success(void)
{
	struct fake_ctx f;
	struct dotpool_upstream* up;
	int i;
	fake_init(&f);
	up = fake_up(&f, DOTPOOL_PROFILE_STRICT);
	UNIT_REQUIRE(up != NULL, "upstream: created");
	f.rnd = 0xffff;
	dotpool_up_failure(up, "test");
	dotpool_up_failure(up, "test");
	dotpool_up_failure(up, "test");
	UNIT_CHECK(up->fails == 1 && dotpool_upstream_health(up) ==
		DOTPOOL_BACKOFF, "upstream: failures inside the backoff are "
		"the same outage, counted once");
	f.now = up->backoff_until;
	dotpool_up_failure(up, "test");
	f.now = up->backoff_until;
	dotpool_up_failure(up, "test");
	UNIT_CHECK(up->fails == 3 && dotpool_upstream_health(up) ==
		DOTPOOL_DOWN && published_health(up) == DOTPOOL_DOWN,
		"upstream: fail-threshold failures make it DOWN");
	for(i = 0; i < 20; i++) {
		uint64_t t0;
		f.now = up->backoff_until;
		t0 = f.now;
		dotpool_up_failure(up, "test");
		UNIT_CHECKF(up->backoff_until - t0 <= 1000 * 1000 &&
			(up->fails < 5 || up->backoff_until - t0 >= 500 * 1000),
			"upstream: "
			"backoff capped at backoff-max, jitter keeps at least "
			"half (%llu µs)",
			(unsigned long long)(up->backoff_until - t0));
	}
	dotpool_upstream_report(up, DOTPOOL_OUTCOME_OK);
	UNIT_CHECK(dotpool_upstream_health(up) == DOTPOOL_UP &&
		up->fails == 0 && up->backoff_until == 0 &&
		published_health(up) == DOTPOOL_UP &&
		dotpool_upstream_usable(up), "upstream: an answer brings it "
		"UP, failures and backoff cleared");
	dotpool_upstream_report(up, DOTPOOL_OUTCOME_BAD_ANSWER);
	UNIT_CHECK(dotpool_upstream_health(up) == DOTPOOL_BACKOFF &&
		up->fails == 1, "upstream: a bad answer is a failure");
	dotpool_up_set_health(up, (enum dotpool_health)7, "test");
	UNIT_CHECK(dotpool_upstream_health(up) == DOTPOOL_BACKOFF &&
		up->stats.health == DOTPOOL_BACKOFF, "upstream: the setter "
		"refuses a value that is no health");
	fake_free(&f, up);
}

/** The RTT estimate: the first sample starts it (RTTVAR half of it),
 * then SRTT moves by 1/8; RTTVAR rises by 1/4 of a larger deviation and
 * falls by 1/32 towards a smaller one; after DOTPOOL_RTT_IDLE_MS without
 * a sample the next one starts it afresh. */
static void
test_rtt(void)
{
	struct fake_ctx f;
	struct dotpool_upstream* up;
	struct dotpool_stats st;
	fake_init(&f);
	up = fake_up(&f, DOTPOOL_PROFILE_STRICT);
	UNIT_REQUIRE(up != NULL, "upstream: created");
	UNIT_CHECK(dotpool_upstream_srtt(up) == 0 &&
		dotpool_upstream_rtt_stale(up), "upstream: no RTT yet");
	dotpool_up_rtt(up, 8000);
	UNIT_CHECK(dotpool_upstream_srtt(up) == 8000 && up->rttvar == 4000,
		"upstream: the first sample is the estimate, RTTVAR half of it");
	UNIT_CHECK(!dotpool_upstream_rtt_stale(up), "upstream: fresh now");
	f.now += 1000;
	dotpool_up_rtt(up, 16000);
	/* deviation 8000 > 4000: RTTVAR = 3/4 4000 + 1/4 8000 */
	UNIT_CHECK(dotpool_upstream_srtt(up) == 9000 && up->rttvar == 5000,
		"upstream: then 7/8 of the old and 1/8 of the new; RTTVAR "
		"rises by a quarter of the deviation");
	dotpool_up_rtt(up, 9000);
	/* deviation 0 < 5000: RTTVAR = 31/32 5000 */
	UNIT_CHECK(dotpool_upstream_srtt(up) == 9000 && up->rttvar == 4843,
		"upstream: RTTVAR falls by 1/32 only");
	st = *dotpool_upstream_stats(up);
	UNIT_CHECK(st.srtt_us == 9000 && st.rttvar_us == 4843 &&
		st.soft_us == (int64_t)dotpool_up_soft_us(up),
		"upstream: the estimate is in the counters (the pool publishes "
		"them with the answer's gauges)");
	f.now += (uint64_t)DOTPOOL_RTT_IDLE_MS * 1000 + 1;
	UNIT_CHECK(dotpool_upstream_rtt_stale(up), "upstream: stale after "
		"an idle period");
	dotpool_up_rtt(up, 30000);
	UNIT_CHECK(dotpool_upstream_srtt(up) == 30000 && up->rttvar == 15000,
		"upstream: the first sample after an idle period starts the "
		"estimate afresh");
	fake_free(&f, up);
}

/** The soft deadline: soft-deadline-max with nothing measured, then
 * SRTT + 4 RTTVAR within the bounds, and a wider margin when the
 * estimate is old. */
static void
test_soft_deadline(void)
{
	struct fake_ctx f;
	struct dotpool_upstream* up;
	int i;
	fake_init(&f);
	f.cfg.soft_deadline_min = 50;
	f.cfg.soft_deadline_max = 400;
	up = fake_up(&f, DOTPOOL_PROFILE_STRICT);
	UNIT_REQUIRE(up != NULL, "upstream: created");
	UNIT_CHECK(dotpool_up_soft_us(up) == 400000 &&
		dotpool_upstream_soft_ms(up) == 400, "upstream: no sample: "
		"the soft deadline is soft-deadline-max");
	dotpool_up_rtt(up, 40000);
	UNIT_CHECK(dotpool_up_soft_us(up) == 120000,
		"upstream: one sample: 40 ms + 4 * 20 ms");
	for(i = 0; i < 300; i++) {
		f.now += 10000;
		dotpool_up_rtt(up, 40000 + (uint64_t)(i % 3) * 1000);
	}
	UNIT_CHECK(dotpool_up_soft_us(up) == 50000, "upstream: a steady "
		"40 ms upstream gets soft-deadline-min");
	f.cfg.soft_deadline_min = 10;
	UNIT_CHECK(dotpool_up_soft_us(up) > 40000 &&
		dotpool_up_soft_us(up) < 50000, "upstream: SRTT + 4 RTTVAR "
		"when within the bounds");
	f.now += (uint64_t)DOTPOOL_RTT_IDLE_MS * 1000 + 1;
	UNIT_CHECK(dotpool_up_soft_us(up) >= 120000, "upstream: an old "
		"estimate is only as sure as one sample");
	f.now -= (uint64_t)DOTPOOL_RTT_IDLE_MS * 1000 + 1;
	for(i = 0; i < 20; i++)
		dotpool_up_rtt(up, 900000);
	UNIT_CHECK(dotpool_up_soft_us(up) == 400000, "upstream: never past "
		"soft-deadline-max");
	f.cfg.soft_deadline_min = 500;
	UNIT_CHECK(dotpool_up_soft_us(up) == 400000, "upstream: a minimum "
		"above the maximum gives way to it");
	fake_free(&f, up);
}

/** A slow-but-healthy bimodal upstream: 9 answers in 10 at 40 ms, one at
 * 240 ms (a name it had to resolve). The soft deadline must stay above
 * the slow answers, or every one of them would be hedged (with RFC 6298's
 * symmetric RTTVAR all of them would be here). */
static void
test_bimodal(void)
{
	struct fake_ctx f;
	struct dotpool_upstream* up;
	int i, slow = 0, late = 0;
	fake_init(&f);
	f.cfg.soft_deadline_min = 50;
	f.cfg.soft_deadline_max = 400;
	up = fake_up(&f, DOTPOOL_PROFILE_STRICT);
	UNIT_REQUIRE(up != NULL, "upstream: created");
	for(i = 0; i < 2000; i++) {
		uint64_t lat = i % 10 == 9 ? 240000 :
			40000 + (uint64_t)(i * 7919 % 5) * 1000;
		f.now += 10000;
		if(i > 100 && lat == 240000) {
			slow++;
			if(lat > dotpool_up_soft_us(up))
				late++;
		}
		dotpool_up_rtt(up, lat);
	}
	UNIT_CHECKF(late * 20 <= slow, "upstream: at most one slow answer in "
		"twenty is past the soft deadline, %d of %d were", late, slow);
	fake_free(&f, up);
}

/** The server's idle closes teach a shorter idle time; our closes at it
 * (the server kept the connection) raise it after a few in a row. */
static void
test_idle_learning(void)
{
	struct fake_ctx f;
	struct dotpool_upstream* up;
	struct dotpool_conn_end end;
	int learned;
	fake_init(&f);
	up = fake_up(&f, DOTPOOL_PROFILE_STRICT);
	UNIT_REQUIRE(up != NULL, "upstream: created");
	UNIT_CHECK(dotpool_up_conn_idle_ms(up, &learned) == 10000 && !learned,
		"upstream: connections idle idle-timeout before anything is "
		"learned");
	memset(&end, 0, sizeof(end));
	end.peer_idle_ms = 4000;
	dotpool_up_learn_idle(up, &end);
	UNIT_CHECK(up->learned_idle_ms == 3000 &&
		dotpool_up_conn_idle_ms(up, &learned) == 3000 && learned,
		"upstream: a server idle close after 4 s: ours idle 3 s");
	end.peer_idle_ms = 400;
	dotpool_up_learn_idle(up, &end);
	UNIT_CHECK(up->learned_idle_ms == DOTPOOL_IDLE_LEARN_MIN_MS,
		"upstream: never below the learning minimum");
	end.peer_idle_ms = 0;
	end.kept_idle_ms = DOTPOOL_IDLE_LEARN_MIN_MS;
	dotpool_up_learn_idle(up, &end);
	UNIT_CHECK(up->learned_idle_ms == DOTPOOL_IDLE_LEARN_MIN_MS,
		"upstream: one kept connection is not yet a reason to raise");
	dotpool_up_learn_idle(up, &end);
	UNIT_CHECKF(up->learned_idle_ms == DOTPOOL_IDLE_LEARN_MIN_MS * 5 / 4,
		"upstream: %d kept in a row raise it by a quarter (%u ms)",
		DOTPOOL_IDLE_RAISE_AFTER, up->learned_idle_ms);
	end.kept_idle_ms = 777;
	dotpool_up_learn_idle(up, &end);
	dotpool_up_learn_idle(up, &end);
	UNIT_CHECK(up->learned_idle_ms == DOTPOOL_IDLE_LEARN_MIN_MS * 5 / 4,
		"upstream: a kept connection at another idle time teaches "
		"nothing");
	end.kept_idle_ms = 0;
	end.peer_idle_ms = 20000;
	dotpool_up_learn_idle(up, &end);
	UNIT_CHECK(up->learned_idle_ms == 0 &&
		dotpool_up_conn_idle_ms(up, &learned) == 10000 && !learned,
		"upstream: a server slower than idle-timeout: back to ours");
	fake_free(&f, up);
}

/** When a closed connection is replaced, and how fast. */
static void
test_rewarm(void)
{
	struct fake_ctx f;
	struct dotpool_upstream* up;
	struct dotpool_conn_end end;
	int i, n;
	fake_init(&f);
	up = fake_up(&f, DOTPOOL_PROFILE_STRICT);
	UNIT_REQUIRE(up != NULL, "upstream: created");
	memset(&end, 0, sizeof(end));
	end.was_ready = 1;
	end.idle = 1;
	end.err = DOTPOOL_ECLOSED;
	end.sent = 1;
	end.quiet_us = 2000000;
	end.idle_ms = 10000;
	UNIT_CHECK(!dotpool_up_rewarm_wanted(up, &end), "upstream: no rewarm "
		"for an upstream that never carried a query");
	up->last_query_us = f.now - 1000 * 1000;
	UNIT_CHECK(dotpool_up_rewarm_wanted(up, &end), "upstream: the server "
		"closed an idle connection inside the rewarm window: rewarm");
	end.err = 0;
	UNIT_CHECK(!dotpool_up_rewarm_wanted(up, &end), "upstream: our own "
		"idle-timeout close lets go");
	end.idle_ms = 3000;
	UNIT_CHECK(dotpool_up_rewarm_wanted(up, &end), "upstream: our early "
		"close (the server's pace) is replaced");
	end.err = DOTPOOL_ETLS;
	UNIT_CHECK(!dotpool_up_rewarm_wanted(up, &end), "upstream: never "
		"after an error");
	end.err = DOTPOOL_ECLOSED;
	end.idle = 0;
	UNIT_CHECK(!dotpool_up_rewarm_wanted(up, &end), "upstream: not when "
		"queries were in flight (they reopen what they need)");
	end.idle = 1;
	end.sent = 0;
	end.quiet_us = 1000;
	UNIT_CHECK(!dotpool_up_rewarm_wanted(up, &end), "upstream: a server "
		"that closes an unused connection right away is not answered "
		"with another");
	end.sent = 1;
	f.now += 6000 * 1000;
	UNIT_CHECK(!dotpool_up_rewarm_wanted(up, &end), "upstream: not after "
		"the rewarm window");
	f.cfg.prewarm = 1;
	UNIT_CHECK(dotpool_up_rewarm_wanted(up, &end), "upstream: prewarm "
		"always replaces");
	for(i = 0, n = 0; i < 10; i++)
		n += dotpool_up_rewarm_allowed(up);
	UNIT_CHECKF(n == DOTPOOL_REWARM_BURST, "upstream: a burst of %d "
		"rewarm opens at once (%d)", DOTPOOL_REWARM_BURST, n);
	f.now += (uint64_t)DOTPOOL_REWARM_INTERVAL_MS * 1000;
	n = dotpool_up_rewarm_allowed(up);
	n += dotpool_up_rewarm_allowed(up);
	UNIT_CHECK(n == 1, "upstream: then one per interval");
	fake_free(&f, up);
}

/** What the fake send saw of the probes. */
static struct dotpool_req* probe_sent;
static int probe_sends, probe_send_ret;

/** The probe's way out: recorded, not sent. */
static int
fake_send(struct dotpool_upstream* up, struct dotpool_req* req)
{
	(void)up;
	probe_sent = req;
	probe_sends++;
	return probe_send_ret;
}

/** Run the event loop until the probe timer fired once more (at most
 * 2 s). */
static void
run_probe_timer(struct fake_ctx* f)
{
	int i, before = probe_sends;
	for(i = 0; i < 200 && probe_sends == before; i++) {
		event_base_loop(f->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(10000);
	}
}

/** A DOWN upstream is probed on its timer with ". IN NS"; the probe's
 * SERVFAIL keeps it DOWN and probing, an answer (UP) ends the probing. */
static void
test_probe(void)
{
	struct fake_ctx f;
	struct dotpool_upstream* up;
	static const uint8_t q[17] = { 0, 0, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0,
		0, 0, 2, 0, 1 };
	uint8_t servfail[17];
	fake_init(&f);
	f.cfg.probe_interval = 20;
	f.cfg.attempt_timeout = 700;
	up = new_up(&f, fake_send, DOTPOOL_PROFILE_STRICT);
	UNIT_REQUIRE(up != NULL, "upstream: created");
	probe_sent = NULL;
	probe_sends = probe_send_ret = 0;
	dotpool_up_failure(up, "test");
	UNIT_CHECK(!up->probe_armed, "upstream: BACKOFF is not probed");
	f.now = up->backoff_until;
	dotpool_up_failure(up, "test");
	f.now = up->backoff_until;
	dotpool_up_failure(up, "test");
	UNIT_REQUIRE(dotpool_upstream_health(up) == DOTPOOL_DOWN &&
		up->probe_armed, "upstream: DOWN arms the probe");
	run_probe_timer(&f);
	UNIT_REQUIRE(probe_sends == 1 && probe_sent == &up->probe &&
		dotpool_up_is_probe(up, probe_sent), "upstream: the timer "
		"sends one probe, its own request");
	UNIT_CHECK(probe_sent->len == sizeof(q) && memcmp(probe_sent->wire, q,
		sizeof(q)) == 0 && probe_sent->timeout_ms == 700 &&
		probe_sent->done != NULL, "upstream: the probe is . IN NS with "
		"attempt-timeout");
	memcpy(servfail, q, sizeof(q));
	servfail[2] |= 0x80;
	servfail[3] = 0x82; /* RA, SERVFAIL */
	probe_sent->done(probe_sent, 0, servfail, sizeof(servfail));
	UNIT_CHECK(dotpool_upstream_health(up) == DOTPOOL_DOWN &&
		up->probe_armed, "upstream: a SERVFAIL probe answer keeps it "
		"DOWN, probed again");
	probe_send_ret = DOTPOOL_EFULL;
	run_probe_timer(&f);
	UNIT_CHECK(probe_sends == 2 && up->probe_armed, "upstream: a probe "
		"the pool refuses is tried again later");
	probe_send_ret = 0;
	run_probe_timer(&f);
	UNIT_CHECK(probe_sends == 3, "upstream: and is sent then");
	dotpool_up_success(up);
	UNIT_CHECK(dotpool_upstream_health(up) == DOTPOOL_UP &&
		!up->probe_armed, "upstream: an answer brings it UP and stops "
		"the probing");
	probe_sent->done(probe_sent, DOTPOOL_ETIMEOUT, NULL, 0);
	UNIT_CHECK(!up->probe_armed, "upstream: a probe that ends after the "
		"upstream came UP arms nothing");
	fake_free(&f, up);
}

/** A new upstream is unverified until it answers: one probe now asks its
 * zone's SOA, a probe that ends without an answer is repeated on the timer
 * even while UP, an answer verifies it and ends the probing; with
 * probe-interval 0 nothing is probed. */
static void
test_verify_probe(void)
{
	struct fake_ctx f;
	struct dotpool_upstream* up;
	struct dotpool_stats st;
	static const uint8_t zone[] = "\003dot\004test";
	static const uint8_t soa[12 + sizeof(zone) + 4] = { 0, 0, 0x01, 0, 0,
		1, 0, 0, 0, 0, 0, 0, 3, 'd', 'o', 't', 4, 't', 'e', 's', 't', 0,
		0, 6, 0, 1 };
	fake_init(&f);
	f.cfg.probe_interval = 20;
	up = new_up(&f, fake_send, DOTPOOL_PROFILE_STRICT);
	UNIT_REQUIRE(up != NULL, "upstream: created");
	probe_sent = NULL;
	probe_sends = probe_send_ret = 0;
	dotpool_upstream_stats_read(up, &st);
	UNIT_CHECK(st.unverified == 1 && st.health == DOTPOOL_UP,
		"upstream: a new one is UP but published unverified");
	UNIT_CHECK(dotpool_upstream_set_probe(up, zone, sizeof(zone) - 1) ==
		DOTPOOL_EINVAL && dotpool_upstream_set_probe(up, NULL, 0) ==
		DOTPOOL_EINVAL, "upstream: a probe name without its root "
		"label is refused");
	UNIT_REQUIRE(dotpool_upstream_set_probe(up, zone, sizeof(zone)) == 0,
		"upstream: the probe names the zone");
	dotpool_upstream_probe(up);
	UNIT_REQUIRE(probe_sends == 1 && probe_sent == &up->probe,
		"upstream: probed at once");
	UNIT_CHECK(probe_sent->len == sizeof(soa) && memcmp(probe_sent->wire,
		soa, sizeof(soa)) == 0, "upstream: the probe asks the zone's "
		"SOA, class IN, RD");
	probe_sent->done(probe_sent, DOTPOOL_ETIMEOUT, NULL, 0);
	UNIT_CHECK(up->probe_armed, "upstream: unverified, a probe without "
		"an answer is repeated although UP");
	run_probe_timer(&f);
	UNIT_CHECK(probe_sends == 2 && probe_sent->len == sizeof(soa),
		"upstream: and the timer sends it again");
	dotpool_up_success(up);
	dotpool_upstream_stats_read(up, &st);
	UNIT_CHECK(st.unverified == 0 && !up->probe_armed, "upstream: an "
		"answer verifies it and stops the probing");
	probe_sent->done(probe_sent, 0, (uint8_t*)soa, sizeof(soa));
	UNIT_CHECK(!up->probe_armed, "upstream: verified and UP, the "
		"probe's end arms nothing");
	dotpool_up_free(up, 1);
	f.cfg.probe_interval = 0;
	up = new_up(&f, fake_send, DOTPOOL_PROFILE_STRICT);
	UNIT_REQUIRE(up != NULL, "upstream: created");
	dotpool_upstream_probe(up);
	UNIT_CHECK(probe_sends == 2 && !up->probe_armed, "upstream: "
		"probe-interval 0 sends no probe (client queries verify)");
	fake_free(&f, up);
}

/** A context with probes every probe_ms (0: none) and an upstream that
 * has answered once (verified: its probes are only for suspicion). */
static struct dotpool_upstream*
answered_up(struct fake_ctx* f, unsigned probe_ms)
{
	struct dotpool_upstream* up;
	fake_init(f);
	f->cfg.probe_interval = probe_ms;
	f->cfg.attempt_timeout = 700;
	f->cfg.soft_deadline_min = 50;
	f->cfg.soft_deadline_max = 400;
	up = new_up(f, fake_send, DOTPOOL_PROFILE_STRICT);
	UNIT_REQUIRE(up != NULL, "upstream: created");
	probe_sent = NULL;
	probe_sends = probe_send_ret = 0;
	dotpool_up_success(up);
	return up;
}

/** Past the soft deadline with nothing heard since the attempt was sent:
 * suspect (not usable, published, probed at once and until it answers);
 * only an answer trusts it again (a hard failure, or time, do not);
 * without probes a suspicion lapses after attempt-timeout; an attempt not
 * yet written says nothing. */
static void
test_suspect(void)
{
	struct fake_ctx f;
	struct dotpool_upstream* up;
	struct dotpool_stats st;
	uint64_t sent;
	up = answered_up(&f, 20);
	dotpool_up_rtt(up, 40000);
	dotpool_up_rtt(up, 40000);
	f.now += 1000;
	sent = f.now;
	f.now += 60000;
	UNIT_CHECK(!dotpool_up_overdue(up, 0) && dotpool_upstream_usable(up),
		"upstream: an attempt not yet written makes nothing suspect");
	UNIT_REQUIRE(dotpool_up_overdue(up, sent), "upstream: overdue and "
		"silent since: suspect");
	dotpool_upstream_stats_read(up, &st);
	UNIT_CHECK(!dotpool_upstream_usable(up) && st.suspect == 1 &&
		st.suspects == 1 && st.health == DOTPOOL_UP,
		"upstream: suspect is not usable, published, health still UP");
	UNIT_CHECK(probe_sends == 1 && probe_sent == &up->probe,
		"upstream: a suspect upstream is probed at once");
	UNIT_CHECK(dotpool_up_overdue(up, sent) && st.suspects == 1,
		"upstream: a second overdue attempt changes nothing");
	probe_sent->done(probe_sent, DOTPOOL_ETIMEOUT, NULL, 0);
	UNIT_CHECK(up->probe_armed, "upstream: a probe without an answer is "
		"repeated while suspect");
	run_probe_timer(&f);
	UNIT_CHECK(probe_sends == 2, "upstream: and the timer sends it");
	/* the late answer that ends the suspicion: the pool folds its round
	 * trip in first, then reports the success */
	dotpool_up_rtt(up, 340000);
	UNIT_CHECK(dotpool_upstream_srtt(up) == 340000,
		"upstream: the answer that ends a suspicion starts the estimate "
		"afresh (40 ms before)");
	dotpool_up_success(up);
	dotpool_upstream_stats_read(up, &st);
	UNIT_CHECK(dotpool_upstream_usable(up) && st.suspect == 0 &&
		!up->probe_armed, "upstream: an answer trusts it again and "
		"ends the probing");
	probe_sent->done(probe_sent, 0, NULL, 0);
	/* probes decide: a hard failure does not end the suspicion, nor
	 * does time */
	probe_sent->done(probe_sent, 0, NULL, 0);
	sent = f.now + 1;
	f.now += 60000;
	UNIT_REQUIRE(dotpool_up_overdue(up, sent), "upstream: suspect again");
	dotpool_up_failure(up, "query timed out");
	f.now = up->backoff_until + 3600000000u;
	UNIT_CHECK(up->suspect && !dotpool_upstream_usable(up) &&
		dotpool_upstream_health(up) == DOTPOOL_BACKOFF,
		"upstream: with probes, neither a hard failure nor an hour "
		"ends the suspicion; the backoff runs beside it");
	dotpool_up_success(up);
	UNIT_CHECK(dotpool_upstream_usable(up), "upstream: an answer does");
	fake_free(&f, up);

	/* without probes a suspicion lapses after attempt-timeout */
	up = answered_up(&f, 0);
	sent = f.now + 1;
	f.now += 60000;
	UNIT_REQUIRE(dotpool_up_overdue(up, sent), "upstream: suspect");
	f.now += 699000;
	UNIT_CHECK(!dotpool_upstream_usable(up), "upstream: suspect until "
		"attempt-timeout has passed");
	f.now += 1000;
	UNIT_CHECK(dotpool_upstream_usable(up) && !up->suspect,
		"upstream: then, without probes, the suspicion lapses");
	dotpool_upstream_stats_read(up, &st);
	UNIT_CHECK(st.suspect == 0 && st.suspects == 1,
		"upstream: the lapse is published");
	fake_free(&f, up);
}

/** Slow but healthy: each attempt takes longer than the soft deadline,
 * but the upstream answers queries sent after it meanwhile (pipelined
 * traffic): never suspect. */
static void
test_suspect_slow_healthy(void)
{
	struct fake_ctx f;
	struct dotpool_upstream* up;
	int i;
	up = answered_up(&f, 20);
	/* 100 queries a second, each answered 340 ms after it was sent:
	 * at a query's soft deadline (50 ms: the estimate is still the
	 * first, fast one) answers to earlier queries have come since */
	dotpool_up_rtt(up, 40000);
	for(i = 0; i < 300; i++) {
		uint64_t sent = f.now;
		f.now += 10000;
		if(i >= 34)
			dotpool_up_success(up);
		if(i >= 40) {
			UNIT_CHECK(!dotpool_up_overdue(up, sent - 40000),
				"upstream: answering others: not suspect");
			if(up->suspect)
				break;
		}
	}
	UNIT_CHECK(probe_sends == 0 && dotpool_upstream_usable(up),
		"upstream: a slow one that keeps answering is not probed");
	fake_free(&f, up);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "new", test_new },
		{ "backoff_jitter", test_backoff_jitter },
		{ "down_cap_success", test_down_cap_success },
		{ "rtt", test_rtt },
		{ "soft_deadline", test_soft_deadline },
		{ "bimodal", test_bimodal },
		{ "suspect", test_suspect },
		{ "suspect_slow_healthy", test_suspect_slow_healthy },
		{ "idle_learning", test_idle_learning },
		{ "rewarm", test_rewarm },
		{ "probe", test_probe },
		{ "verify_probe", test_verify_probe },
		{ NULL, NULL }
	};
	return unit_run("upstream", tests);
}
