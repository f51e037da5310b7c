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

/**
 * The ordered policy's RTT band: an upstream whose smoothed round trip is
 * more than twice the best eligible one's plus this (µs) is passed over
 * for the next one in order. Order expresses a preference among servers
 * that answer comparably; one that has become several round trips slower
 * than another (overloaded, rerouted) would otherwise make every query
 * slow, and hedging, capped to a few percent of queries, cannot carry the
 * rest. The margin keeps a far primary preferred over a near secondary
 * (Unbound's own server selection treats servers within 400 ms of the
 * fastest as equal; this band is narrower because dotpool hedges on top).
 */
#define DOTPOOL_RTT_BAND_US 200000

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
 * The ordered policy takes the first eligible candidate in order that is
 * within DOTPOOL_RTT_BAND_US of the best known round trip (an unknown one
 * counts as within).
 * @return index of the pick, or -1 when every candidate was tried. When no
 *	untried candidate is usable, the first untried one in order is picked
 *	(trying a backing-off upstream beats failing the query outright).
 */
int dotpool_select(enum dotpool_policy policy,
	const struct dotpool_candidate* c, int n, unsigned* rr, uint32_t rnd);

#endif /* DOTPOOL_SELECT_H */
