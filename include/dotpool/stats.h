/**
 * \file
 * Counters of one upstream on one worker. Written only by that worker;
 * read (possibly concurrently, values may be slightly stale) by the metrics
 * endpoint, which sums workers. Plain integers: no atomics on the hot path.
 */
#ifndef DOTPOOL_STATS_H
#define DOTPOOL_STATS_H
#include <stdint.h>

/** Latency histogram bucket upper bounds, in ms (last is +Inf). */
#define DOTPOOL_LAT_BUCKETS 12
/** Upper bounds of the latency buckets in ms. */
extern const double dotpool_lat_bounds_ms[DOTPOOL_LAT_BUCKETS];

/** Counters of one upstream. */
struct dotpool_stats {
	/** queries written to the upstream (including re-sends) */
	uint64_t queries;
	/** answers by rcode (0..15) */
	uint64_t rcode[16];
	/** attempts that timed out */
	uint64_t timeouts;
	/** TCP connect failures */
	uint64_t err_connect;
	/** TLS handshake failures (not verification) */
	uint64_t err_tls;
	/** certificate or pin verification failures */
	uint64_t err_verify;
	/** protocol violations by the server (bad frames, bad answers) */
	uint64_t err_proto;
	/** connections closed by the peer with queries in flight */
	uint64_t err_closed;
	/** answers dropped: unknown ID, wrong question, duplicate */
	uint64_t dropped;
	/** queries re-sent after a lost connection */
	uint64_t resends;
	/** attempts moved to another upstream */
	uint64_t failovers;
	/** hedged second attempts */
	uint64_t hedges;
	/** connections opened (TCP) */
	uint64_t conns_opened;
	/** full TLS handshakes */
	uint64_t hs_full;
	/** resumed TLS handshakes */
	uint64_t hs_resumed;
	/** idle connections closed by the server (not a failure) */
	uint64_t idle_closed_by_peer;
	/** latency histogram counts, per dotpool_lat_bounds_ms */
	uint64_t lat_bucket[DOTPOOL_LAT_BUCKETS];
	/** sum of latencies in µs */
	uint64_t lat_sum_us;
	/** number of latency samples */
	uint64_t lat_count;
	/** gauge: queries in flight now */
	int64_t inflight;
	/** gauge: connections open now */
	int64_t conns_open;
	/** gauge: connections open and idle now */
	int64_t conns_idle;
	/** gauge: requests waiting for a connection */
	int64_t queued;
	/** gauge: health state (enum dotpool_health) */
	int64_t health;
};

/**
 * Account one latency sample.
 * @param s: counters.
 * @param us: latency in microseconds.
 */
void dotpool_stats_latency(struct dotpool_stats* s, uint64_t us);

/** Add every counter and gauge of src to dst. */
void dotpool_stats_add(struct dotpool_stats* dst,
	const struct dotpool_stats* src);

#endif /* DOTPOOL_STATS_H */
