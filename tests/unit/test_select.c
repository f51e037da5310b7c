/**
 * \file
 * Upstream selection: each policy picks what it promises, never a tried
 * upstream, prefers healthy ones, and falls back to an unhealthy untried
 * one rather than failing.
 */
#include <string.h>
#include "unit.h"
#include "dotpool/select.h"

/** Small deterministic generator for the tests. */
static uint32_t
next_rand(uint32_t* s)
{
	*s = *s * 1103515245u + 12345u;
	return *s >> 1;
}

static void
test_ordered(void)
{
	struct dotpool_candidate c[3];
	unsigned rr = 0;
	memset(c, 0, sizeof(c));
	c[0].usable = c[1].usable = c[2].usable = 1;
	UNIT_CHECK(dotpool_select(DOTPOOL_POLICY_ORDERED, c, 3, &rr, 7) == 0,
		"select: ordered picks the primary");
	c[0].usable = 0;
	UNIT_CHECK(dotpool_select(DOTPOOL_POLICY_ORDERED, c, 3, &rr, 7) == 1,
		"select: ordered skips a down primary");
	c[0].usable = 1;
	c[0].tried = 1;
	UNIT_CHECK(dotpool_select(DOTPOOL_POLICY_ORDERED, c, 3, &rr, 7) == 1,
		"select: ordered never repeats a tried upstream");
}

/** The ordered policy's RTT band: order holds among upstreams that answer
 * comparably (or are not measured yet); one far slower than the best
 * eligible one is passed over for the next in order. */
static void
test_ordered_band(void)
{
	static const struct {
		uint64_t srtt0, srtt1;
		int usable1, want;
		const char* what;
	} cases[] = {
		{ 30000, 20000, 1, 0, "a primary comparable to the best "
			"stays" },
		{ 150000, 10000, 1, 0, "a far primary (150 ms vs 10 ms) "
			"stays" },
		{ 340000, 40000, 1, 1, "a primary 300 ms slower than the "
			"secondary is passed over" },
		{ 340000, 0, 1, 0, "the others unmeasured: order" },
		{ 340000, 40000, 0, 0, "only eligible upstreams set the band" },
		{ 80000 + DOTPOOL_RTT_BAND_US, 40000, 1, 0, "at the band's edge "
			"the primary stays" },
		{ 80001 + DOTPOOL_RTT_BAND_US, 40000, 1, 1, "past it, the next "
			"in order" },
	};
	struct dotpool_candidate c[3];
	unsigned rr = 0;
	size_t i;
	for(i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(c, 0, sizeof(c));
		c[0].usable = c[2].usable = 1;
		c[0].srtt_us = cases[i].srtt0;
		c[1].srtt_us = cases[i].srtt1;
		c[1].usable = cases[i].usable1;
		UNIT_CHECKF(dotpool_select(DOTPOOL_POLICY_ORDERED, c, 3, &rr,
			7) == cases[i].want, "select: ordered: %s",
			cases[i].what);
	}
}

static void
test_fallback_and_exhaustion(void)
{
	struct dotpool_candidate c[2];
	unsigned rr = 0;
	enum dotpool_policy p;
	memset(c, 0, sizeof(c));
	for(p = DOTPOOL_POLICY_ORDERED; p <= DOTPOOL_POLICY_FASTEST; p++) {
		c[0].tried = 0;
		c[0].usable = 0;
		c[1].usable = 0;
		UNIT_CHECKF(dotpool_select(p, c, 2, &rr, 3) == 0,
			"select: policy %s falls back to the first untried "
			"upstream when none is healthy", dotpool_policy_str(p));
		c[0].tried = 1;
		c[1].tried = 1;
		UNIT_CHECKF(dotpool_select(p, c, 2, &rr, 3) == -1,
			"select: policy %s returns -1 when all were tried",
			dotpool_policy_str(p));
		c[1].tried = 0;
	}
}

static void
test_round_robin(void)
{
	struct dotpool_candidate c[3];
	unsigned rr = 0;
	int seen[3] = {0, 0, 0}, i;
	memset(c, 0, sizeof(c));
	c[0].usable = c[1].usable = c[2].usable = 1;
	for(i = 0; i < 30; i++)
		seen[dotpool_select(DOTPOOL_POLICY_ROUND_ROBIN, c, 3, &rr, 0)]++;
	UNIT_CHECK(seen[0] == 10 && seen[1] == 10 && seen[2] == 10,
		"select: round robin spreads evenly");
	c[1].usable = 0;
	memset(seen, 0, sizeof(seen));
	for(i = 0; i < 20; i++)
		seen[dotpool_select(DOTPOOL_POLICY_ROUND_ROBIN, c, 3, &rr, 0)]++;
	UNIT_CHECK(seen[1] == 0 && seen[0] == 10 && seen[2] == 10,
		"select: round robin skips an unhealthy upstream");
}

static void
test_random_and_weighted(void)
{
	struct dotpool_candidate c[2];
	unsigned rr = 0;
	uint32_t s = 42;
	int seen[2] = {0, 0}, i;
	memset(c, 0, sizeof(c));
	c[0].usable = c[1].usable = 1;
	for(i = 0; i < 4000; i++)
		seen[dotpool_select(DOTPOOL_POLICY_RANDOM, c, 2, &rr,
			next_rand(&s))]++;
	UNIT_CHECKF(seen[0] > 1700 && seen[1] > 1700,
		"select: random uses both upstreams (%d/%d)", seen[0], seen[1]);
	c[0].weight = 3;
	c[1].weight = 1;
	seen[0] = seen[1] = 0;
	for(i = 0; i < 4000; i++)
		seen[dotpool_select(DOTPOOL_POLICY_WEIGHTED, c, 2, &rr,
			next_rand(&s))]++;
	UNIT_CHECKF(seen[0] > 2700 && seen[0] < 3300,
		"select: weight 3:1 gives about 75%% to the first (%d of 4000)",
		seen[0]);
}

static void
test_fastest(void)
{
	struct dotpool_candidate c[3];
	unsigned rr = 0;
	uint32_t s = 9;
	int seen[3] = {0, 0, 0}, i;
	memset(c, 0, sizeof(c));
	c[0].usable = c[1].usable = c[2].usable = 1;
	c[0].srtt_us = 9000;
	c[1].srtt_us = 1000;
	c[2].srtt_us = 0; /* never measured: tried first */
	UNIT_CHECK(dotpool_select(DOTPOOL_POLICY_FASTEST, c, 3, &rr, 50) == 2,
		"select: fastest measures an unmeasured upstream first");
	c[2].srtt_us = 5000;
	for(i = 0; i < 10000; i++)
		seen[dotpool_select(DOTPOOL_POLICY_FASTEST, c, 3, &rr,
			next_rand(&s))]++;
	UNIT_CHECKF(seen[1] > 9300, "select: fastest mostly picks the "
		"fastest (%d of 10000)", seen[1]);
	UNIT_CHECKF(seen[0] > 100 && seen[2] > 100, "select: fastest still "
		"explores the others (%d, %d)", seen[0], seen[2]);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "ordered", test_ordered },
		{ "ordered within the RTT band", test_ordered_band },
		{ "fallback and exhaustion", test_fallback_and_exhaustion },
		{ "round robin", test_round_robin },
		{ "random and weighted", test_random_and_weighted },
		{ "fastest", test_fastest },
		{ NULL, NULL }
	};
	return unit_run("select", tests);
}
