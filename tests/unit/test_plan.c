/**
 * \file
 * Zone plans (module/plan.c): a plan is found by zone name (without case)
 * and class, replaced when its zone's forward-addrs change while queries
 * that hold the old one keep it, recognises its forward-addrs exactly, and
 * picks as upstream selection does over the same candidates, with the
 * round-robin rotation going on across a rebuild.
 */
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include "unit.h"
#include "unit_pool.h"
#include "dotpool/plan.h"
#include "dotpool/select.h"
#include "module/ctx.h"
#include "module/upstream.h"

/** A pool to own real upstreams, and the table under test. */
struct world {
	/** the pool (no connection is ever opened) */
	struct unit_pool u;
	/** the table under test */
	struct dotpool_plans* plans;
};

static const uint8_t zone_lc[] = "\007example\003com";
static const uint8_t zone_uc[] = "\007EXAMPLE\003Com";
static const uint8_t zone_other[] = "\007example\003net";

static void
world_init(struct world* w)
{
	memset(w, 0, sizeof(*w));
	unit_pool_init(&w->u);
	w->plans = dotpool_plans_create();
	UNIT_REQUIRE(w->plans != NULL, "plan: table created");
}

static void
world_free(struct world* w)
{
	dotpool_plans_free(w->plans);
	unit_pool_free(&w->u);
}

/** 127.0.0.1 at a port. */
static struct sockaddr_in
addr_at(int port)
{
	struct sockaddr_in sin;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	return sin;
}

/**
 * A plan of zone_lc with n upstreams at ports base_port, base_port+1, ...
 * and weights from the upstream: sections in ucfg (may be NULL).
 */
static struct dotpool_plan*
make_plan(struct world* w, int n, int base_port,
	const struct dotpool_upstream_cfg* ucfg)
{
	struct dotpool_plan* p = dotpool_plan_new(zone_lc, sizeof(zone_lc),
		1, n);
	int i;
	UNIT_REQUIRE(p != NULL, "plan: created");
	for(i = 0; i < n; i++) {
		struct sockaddr_in sin = addr_at(base_port + i);
		struct dotpool_upstream* up = dotpool_pool_upstream(w->u.pool,
			(struct sockaddr*)&sin, sizeof(sin), "dns.example",
			ucfg ? &ucfg[i] : NULL, DOTPOOL_PROFILE_OPPORTUNISTIC);
		UNIT_REQUIRE(up != NULL, "plan: upstream created");
		UNIT_REQUIRE(dotpool_plan_set_entry(p, i,
			(struct sockaddr*)&sin, sizeof(sin), "dns.example", up,
			ucfg ? &ucfg[i] : NULL) == 0, "plan: entry set");
	}
	return p;
}

static void
test_find(void)
{
	struct world w;
	struct dotpool_plan* p;
	size_t mem0;
	world_init(&w);
	mem0 = dotpool_plans_mem(w.plans);
	UNIT_CHECK(dotpool_plans_find(w.plans, zone_lc, sizeof(zone_lc), 1)
		== NULL, "plan: none before the first build");
	p = make_plan(&w, 2, 853, NULL);
	dotpool_plans_install(w.plans, p);
	UNIT_CHECK(dotpool_plans_builds(w.plans) == 1,
		"plan: one build counted");
	UNIT_CHECK(dotpool_plans_find(w.plans, zone_lc, sizeof(zone_lc), 1)
		== p, "plan: found by its zone");
	UNIT_CHECK(dotpool_plans_find(w.plans, zone_uc, sizeof(zone_uc), 1)
		== p, "plan: zone names compare without case");
	UNIT_CHECK(dotpool_plans_find(w.plans, zone_lc, sizeof(zone_lc), 3)
		== NULL, "plan: another class is another zone");
	UNIT_CHECK(dotpool_plans_find(w.plans, zone_other,
		sizeof(zone_other), 1) == NULL,
		"plan: another name is another zone");
	UNIT_CHECK(dotpool_plans_mem(w.plans) > mem0,
		"plan: its memory is accounted");
	UNIT_CHECK(p->e[0].weight == 1 && p->e[1].weight == 1,
		"plan: weight 1 without an upstream: section");
	world_free(&w);
}

static void
test_entry_is(void)
{
	struct world w;
	struct dotpool_plan* p;
	struct sockaddr_in same = addr_at(853), other = addr_at(854);
	world_init(&w);
	p = make_plan(&w, 1, 853, NULL);
	UNIT_CHECK(dotpool_plan_entry_is(&p->e[0], (struct sockaddr*)&same,
		sizeof(same), "dns.example"),
		"plan: the same forward-addr is recognised");
	UNIT_CHECK(!dotpool_plan_entry_is(&p->e[0], (struct sockaddr*)&other,
		sizeof(other), "dns.example"), "plan: another port is a change");
	UNIT_CHECK(!dotpool_plan_entry_is(&p->e[0], (struct sockaddr*)&same,
		sizeof(same), "dns2.example"),
		"plan: another authentication name is a change");
	UNIT_CHECK(!dotpool_plan_entry_is(&p->e[0], (struct sockaddr*)&same,
		sizeof(same), NULL), "plan: a dropped #name is a change");
	p->e[0].up = NULL;
	UNIT_CHECK(!dotpool_plan_entry_is(&p->e[0], (struct sockaddr*)&same,
		sizeof(same), "dns.example"),
		"plan: an entry without its upstream is stale (built again)");
	dotpool_plan_discard(p);
	world_free(&w);
}

static void
test_rebuild(void)
{
	struct world w;
	struct dotpool_plan* a, *b;
	size_t mem_b;
	int pick;
	world_init(&w);
	a = make_plan(&w, 3, 853, NULL);
	a->policy = DOTPOOL_POLICY_ROUND_ROBIN;
	dotpool_plans_install(w.plans, a);
	/* a query holds a while the forwarders change */
	dotpool_plan_ref(a);
	UNIT_CHECK(dotpool_plan_pick(a, 0, 0) == 0 &&
		dotpool_plan_pick(a, 0, 0) == 1,
		"plan: round robin rotates");
	b = make_plan(&w, 3, 953, NULL);
	b->policy = DOTPOOL_POLICY_ROUND_ROBIN;
	dotpool_plans_install(w.plans, b);
	UNIT_CHECK(dotpool_plans_builds(w.plans) == 2,
		"plan: a change is one more build");
	UNIT_CHECK(dotpool_plans_find(w.plans, zone_lc, sizeof(zone_lc), 1)
		== b, "plan: the new plan replaces the old one");
	UNIT_CHECK(b->rr == 2, "plan: the rotation goes on in the new plan");
	/* the old plan is intact for the query holding it */
	UNIT_CHECK(a->n == 3 && a->e[2].up != NULL &&
		(pick = dotpool_plan_pick(a, 0, 0)) == 2,
		"plan: a replaced plan stays usable while a query holds it");
	mem_b = dotpool_plans_mem(w.plans);
	dotpool_plan_unref(w.plans, a);
	UNIT_CHECK(dotpool_plans_mem(w.plans) < mem_b,
		"plan: the replaced plan is freed with its last query");
	/* the current plan stays while queries come and go */
	dotpool_plan_ref(b);
	dotpool_plan_unref(w.plans, b);
	UNIT_CHECK(dotpool_plans_find(w.plans, zone_lc, sizeof(zone_lc), 1)
		== b, "plan: the current plan outlives its queries");
	world_free(&w);
}

/** Candidates as selection sees plan p's entries. */
static void
candidates(const struct dotpool_plan* p, uint64_t tried,
	struct dotpool_candidate* c)
{
	int i;
	for(i = 0; i < p->n; i++) {
		c[i].tried = (tried >> i) & 1;
		c[i].usable = dotpool_upstream_usable(p->e[i].up);
		c[i].srtt_us = dotpool_upstream_srtt(p->e[i].up);
		c[i].weight = p->e[i].weight;
	}
}

static void
test_pick_as_select(void)
{
	struct world w;
	struct dotpool_upstream_cfg ucfg[4];
	struct dotpool_plan* p;
	enum dotpool_policy pol;
	int i;
	world_init(&w);
	memset(ucfg, 0, sizeof(ucfg));
	for(i = 0; i < 4; i++) {
		ucfg[i].weight = (unsigned)(1 + 3 * i);
		ucfg[i].profile = -1;
	}
	p = make_plan(&w, 4, 1853, ucfg);
	UNIT_CHECK(p->e[3].weight == 10,
		"plan: an entry takes its upstream: section's weight");
	dotpool_plans_install(w.plans, p);
	for(pol = DOTPOOL_POLICY_ORDERED; pol <= DOTPOOL_POLICY_FASTEST;
		pol++) {
		uint32_t rnd = 12345;
		unsigned rr = p->rr;
		p->policy = pol;
		for(i = 0; i < 200; i++) {
			struct dotpool_candidate c[4];
			uint64_t tried = (uint64_t)(i % 16);
			int want, got;
			rnd = rnd * 1103515245u + 12345u;
			candidates(p, tried, c);
			want = dotpool_select(pol, c, 4, &rr, rnd);
			got = dotpool_plan_pick(p, tried, rnd);
			UNIT_CHECKF(got == want && p->rr == rr,
				"plan: policy %s, round %d: the plan picks %d "
				"as selection does (%d)", dotpool_policy_str(pol),
				i, got, want);
		}
	}
	/* an entry without an upstream is never picked */
	p->policy = DOTPOOL_POLICY_ORDERED;
	p->e[0].up = NULL;
	UNIT_CHECK(dotpool_plan_pick(p, 0, 0) == 1,
		"plan: an entry without an upstream is skipped");
	UNIT_CHECK(dotpool_plan_pick(p, 0xe, 0) == -1,
		"plan: -1 when the rest was tried");
	world_free(&w);
}

/** The ordered policy passes over an upstream far slower than the next
 * (the RTT band); one passed over whose estimate is old is probed, so
 * that its recovery is seen without sending it client queries. */
static void
test_band_probe(void)
{
	struct world w;
	struct dotpool_plan* p;
	struct dotpool_upstream* slow;
	world_init(&w);
	p = make_plan(&w, 2, 2853, NULL);
	dotpool_plans_install(w.plans, p);
	p->policy = DOTPOOL_POLICY_ORDERED;
	slow = p->e[0].up;
	dotpool_up_rtt(slow, 340000);
	dotpool_up_rtt(p->e[1].up, 40000);
	UNIT_CHECK(dotpool_plan_pick(p, 0, 0) == 1 &&
		slow->probe.state == DOTPOOL_REQ_IDLE, "plan: a primary 300 ms "
		"slower is passed over; its fresh estimate needs no probe");
	slow->last_sample_us = dotpool_now_us() -
		(uint64_t)DOTPOOL_RTT_IDLE_MS * 1000 - 1;
	UNIT_CHECK(dotpool_plan_pick(p, 0, 0) == 1 &&
		slow->probe.state != DOTPOOL_REQ_IDLE, "plan: once its "
		"estimate is old, the passed-over primary is probed");
	UNIT_CHECK(dotpool_plan_pick(p, 0, 0) == 1, "plan: one probe at a "
		"time");
	world_free(&w);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "found by zone and class", test_find },
		{ "recognises its forward-addrs", test_entry_is },
		{ "rebuilt on change, old one held", test_rebuild },
		{ "picks as selection does", test_pick_as_select },
		{ "the RTT band, and probes of who it passes over",
			test_band_probe },
		{ NULL, NULL }
	};
	return unit_run("plan", tests);
}
