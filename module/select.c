/**
 * \file
 * Upstream selection policies.
 */
#include "dotpool/select.h"

/** Whether candidate i may be picked in the first round (usable, fresh). */
static int
eligible(const struct dotpool_candidate* c, int i)
{
	return !c[i].tried && c[i].usable;
}

/** The first untried candidate in order, usable or not; -1 if none. */
static int
first_untried(const struct dotpool_candidate* c, int n)
{
	int i;
	for(i = 0; i < n; i++)
		if(!c[i].tried)
			return i;
	return -1;
}

/** The k-th (0-based) eligible candidate. */
static int
nth_eligible(const struct dotpool_candidate* c, int n, int k)
{
	int i;
	for(i = 0; i < n; i++)
		if(eligible(c, i) && k-- == 0)
			return i;
	return -1;
}

/** Weighted random pick among eligible candidates. */
static int
pick_weighted(const struct dotpool_candidate* c, int n, uint32_t rnd)
{
	uint64_t total = 0, x;
	int i;
	for(i = 0; i < n; i++)
		if(eligible(c, i))
			total += c[i].weight ? c[i].weight : 1;
	if(total == 0)
		return -1;
	x = rnd % total;
	for(i = 0; i < n; i++) {
		unsigned w;
		if(!eligible(c, i))
			continue;
		w = c[i].weight ? c[i].weight : 1;
		if(x < w)
			return i;
		x -= w;
	}
	return -1;
}

/**
 * Lowest latency among eligible candidates; an unknown latency counts as
 * the best, so that every upstream gets measured once.
 */
static int
pick_fastest(const struct dotpool_candidate* c, int n)
{
	int i, best = -1;
	for(i = 0; i < n; i++) {
		if(!eligible(c, i))
			continue;
		if(best < 0 || c[i].srtt_us < c[best].srtt_us)
			best = i;
	}
	return best;
}

/**
 * Ordered within the RTT band: the first eligible candidate in order whose
 * latency is unknown or not far worse than the best known one's (see
 * DOTPOOL_RTT_BAND_US).
 */
static int
pick_ordered(const struct dotpool_candidate* c, int n)
{
	uint64_t best = 0, limit;
	int i;
	for(i = 0; i < n; i++)
		if(eligible(c, i) && c[i].srtt_us &&
			(best == 0 || c[i].srtt_us < best))
			best = c[i].srtt_us;
	limit = best * 2 + DOTPOOL_RTT_BAND_US;
	for(i = 0; i < n; i++)
		if(eligible(c, i) && (best == 0 || c[i].srtt_us <= limit))
			return i;
	return -1;
}

int
dotpool_select(enum dotpool_policy policy,
	const struct dotpool_candidate* c, int n, unsigned* rr, uint32_t rnd)
{
	int i, count = 0, pick = -1;
	for(i = 0; i < n; i++)
		if(eligible(c, i))
			count++;
	if(count == 0)
		return first_untried(c, n);
	switch(policy) {
	case DOTPOOL_POLICY_ORDERED:
		pick = pick_ordered(c, n);
		break;
	case DOTPOOL_POLICY_ROUND_ROBIN:
		/* the cursor walks all upstreams so that each gets its turn
		 * even while others come and go */
		for(i = 0; i < n && pick < 0; i++) {
			int k = (int)((*rr + (unsigned)i) % (unsigned)n);
			if(eligible(c, k))
				pick = k;
		}
		*rr = (unsigned)(pick + 1) % (unsigned)n;
		break;
	case DOTPOOL_POLICY_RANDOM:
		pick = nth_eligible(c, n, (int)(rnd % (uint32_t)count));
		break;
	case DOTPOOL_POLICY_WEIGHTED:
		pick = pick_weighted(c, n, rnd);
		break;
	case DOTPOOL_POLICY_FASTEST:
		if(count > 1 && (rnd % 100) < DOTPOOL_EXPLORE_PERCENT) {
			/* explore: any eligible one but the fastest */
			int fast = pick_fastest(c, n);
			int k = (int)((rnd / 100) % (uint32_t)(count - 1));
			for(i = 0; i < n; i++) {
				if(!eligible(c, i) || i == fast)
					continue;
				if(k-- == 0) {
					pick = i;
					break;
				}
			}
		} else
			pick = pick_fastest(c, n);
		break;
	}
	return pick >= 0 ? pick : first_untried(c, n);
}
