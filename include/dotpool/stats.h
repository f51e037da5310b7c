/**
 * \file
 * Counters of one upstream on one worker.
 *
 * Threading: the owning worker keeps its counters in a struct only it
 * touches (plain increments, no atomics on the hot path) and publishes a
 * copy with dotpool_stats_publish() after each change; any other thread
 * (the metrics endpoint) reads only that copy, with dotpool_stats_read().
 * Every field is accessed with relaxed atomics there, so a reader never
 * sees a torn 64-bit value (also on 32-bit targets) and a data race is
 * impossible; a scrape may see values a moment old, and fields of one
 * copy are not read at one instant (an answer may be counted before its
 * query), but each counter on its own never goes back.
 *
 * Every field is a 64-bit integer: publish and read copy the struct as an
 * array of them, and the struct is 8-aligned so that each one is
 * naturally aligned (atomic without a lock on i386 and armhf too).
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
	/** of those, the ones sent at the soft deadline (hedge-delay: auto)
	 * rather than after a fixed hedge-delay */
	uint64_t hedges_soft;
	/** hedges this upstream's slow attempts called for that the
	 * worker's hedge budget (hedge-max-percent, hedge-burst) refused */
	uint64_t hedges_refused;
	/** times the upstream became suspect (an attempt past its soft
	 * deadline, no answer since it was sent) */
	uint64_t suspects;
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
	/** gauge: 1 while the upstream has not answered a DNS query since it
	 * was created (a probe or a client's), 0 after: a new upstream is
	 * tried by selection, but nobody has seen it work yet */
	int64_t unverified;
	/** gauge: smoothed round trip in µs, 0 before the first sample */
	int64_t srtt_us;
	/** gauge: its variation (RTTVAR) in µs */
	int64_t rttvar_us;
	/** gauge: the soft deadline an attempt sent now gets, in µs */
	int64_t soft_us;
	/** gauge: 1 while the upstream is suspect (skipped by new queries,
	 * probed until it answers) */
	int64_t suspect;
	/** gauge: health state (enum dotpool_health) */
	int64_t health;
} __attribute__((aligned(8)));

/**
 * Account one latency sample.
 * @param s: counters.
 * @param us: latency in microseconds.
 */
void dotpool_stats_latency(struct dotpool_stats* s, uint64_t us);

/** Add every counter and gauge of src to dst. */
void dotpool_stats_add(struct dotpool_stats* dst,
	const struct dotpool_stats* src);

/**
 * Publish counters for other threads (the owner only): every field of src
 * is stored into pub with a relaxed atomic store.
 * @param pub: the published copy, read by others with dotpool_stats_read.
 * @param src: the owner's counters.
 */
void dotpool_stats_publish(struct dotpool_stats* pub,
	const struct dotpool_stats* src);

/**
 * Read a published copy (any thread): every field with a relaxed atomic
 * load.
 * @param dst: plain copy, the caller's.
 * @param pub: the copy the owner publishes.
 */
void dotpool_stats_read(struct dotpool_stats* dst,
	const struct dotpool_stats* pub);

#endif /* DOTPOOL_STATS_H */
