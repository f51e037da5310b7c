/**
 * \file
 * Upstream selection: which of a zone's upstreams gets the next attempt.
 * Pure: the caller describes each candidate (healthy or not, latency,
 * weight, already tried) and supplies randomness; no I/O, no Unbound.
 */
#ifndef DOTPOOL_SELECT_H
#define DOTPOOL_SELECT_H
#include <stdint.h>
#include "dotpool/config.h"

/** What selection knows of one upstream. */
struct dotpool_candidate {
	/** a request sent now would be tried (up, or backoff expired) */
	int usable;
	/** already tried for this query: never picked again */
	int tried;
	/** smoothed latency in µs, 0 when unknown */
	uint64_t srtt_us;
	/** weight for the weighted policy (>= 1) */
	unsigned weight;
};

/** Percent of queries the fastest policy sends to a random other upstream,
 * so that a recovered or faster upstream gets noticed. */
#define DOTPOOL_EXPLORE_PERCENT 5

/**
 * Pick an upstream.
 * @param policy: the zone's policy.
 * @param c: the candidates, in forward-addr order.
 * @param n: how many.
 * @param rr: round-robin cursor of the zone (read and advanced).
 * @param rnd: 32 random bits.
 * @return index of the pick, or -1 when every candidate was tried. When no
 *	untried candidate is usable, the first untried one in order is picked
 *	(trying a backing-off upstream beats failing the query outright).
 */
int dotpool_select(enum dotpool_policy policy,
	const struct dotpool_candidate* c, int n, unsigned* rr, uint32_t rnd);

#endif /* DOTPOOL_SELECT_H */
