/**
 * \file
 * Upstream counters: the latency histogram and summing workers.
 */
#include <math.h>
#include <stddef.h>
#include "dotpool/stats.h"

/* publish/read treat the struct as an array of 64-bit fields */
_Static_assert(sizeof(struct dotpool_stats) % sizeof(uint64_t) == 0 &&
	offsetof(struct dotpool_stats, health) + sizeof(int64_t) ==
	sizeof(struct dotpool_stats),
	"struct dotpool_stats: every field must be a 64-bit integer");

/** Number of 64-bit fields in struct dotpool_stats. */
#define STATS_NFIELDS (sizeof(struct dotpool_stats) / sizeof(uint64_t))

/* Roughly 1-2-5 steps: DoT latencies span sub-millisecond (same host) to
 * seconds (a struggling upstream), and the metrics endpoint exports these
 * as Prometheus `le` bounds, so they must never change between versions
 * without a reason. */
const double dotpool_lat_bounds_ms[DOTPOOL_LAT_BUCKETS] = {
	1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, INFINITY
};

void
dotpool_stats_latency(struct dotpool_stats* s, uint64_t us)
{
	int i;

	/* Buckets count samples <= bound (Prometheus `le`); the exporter
	 * makes them cumulative. Compare in µs to stay in integers. */
	for(i = 0; i < DOTPOOL_LAT_BUCKETS - 1; i++) {
		if(us <= (uint64_t)(dotpool_lat_bounds_ms[i] * 1000.0))
			break;
	}
	s->lat_bucket[i]++;
	s->lat_sum_us += us;
	s->lat_count++;
}

void
dotpool_stats_add(struct dotpool_stats* dst, const struct dotpool_stats* src)
{
	int i;

	dst->queries += src->queries;
	for(i = 0; i < 16; i++)
		dst->rcode[i] += src->rcode[i];
	dst->timeouts += src->timeouts;
	dst->err_connect += src->err_connect;
	dst->err_tls += src->err_tls;
	dst->err_verify += src->err_verify;
	dst->err_proto += src->err_proto;
	dst->err_closed += src->err_closed;
	dst->dropped += src->dropped;
	dst->resends += src->resends;
	dst->failovers += src->failovers;
	dst->hedges += src->hedges;
	dst->hedges_soft += src->hedges_soft;
	dst->hedges_refused += src->hedges_refused;
	dst->suspects += src->suspects;
	dst->conns_opened += src->conns_opened;
	dst->hs_full += src->hs_full;
	dst->hs_resumed += src->hs_resumed;
	dst->idle_closed_by_peer += src->idle_closed_by_peer;
	for(i = 0; i < DOTPOOL_LAT_BUCKETS; i++)
		dst->lat_bucket[i] += src->lat_bucket[i];
	dst->lat_sum_us += src->lat_sum_us;
	dst->lat_count += src->lat_count;
	dst->inflight += src->inflight;
	dst->conns_open += src->conns_open;
	dst->conns_idle += src->conns_idle;
	dst->queued += src->queued;
	dst->unverified += src->unverified;
	dst->srtt_us += src->srtt_us;
	dst->rttvar_us += src->rttvar_us;
	dst->soft_us += src->soft_us;
	dst->suspect += src->suspect;
	/* Health is a state, not a quantity, but the contract is "every
	 * field": a caller that wants the worst state over workers (the
	 * metrics endpoint) takes it before adding. */
	dst->health += src->health;
}

void
dotpool_stats_publish(struct dotpool_stats* pub,
	const struct dotpool_stats* src)
{
	uint64_t* d = (uint64_t*)pub;
	const uint64_t* s = (const uint64_t*)src;
	size_t i;
	for(i = 0; i < STATS_NFIELDS; i++)
		__atomic_store_n(&d[i], s[i], __ATOMIC_RELAXED);
}

void
dotpool_stats_read(struct dotpool_stats* dst, const struct dotpool_stats* pub)
{
	uint64_t* d = (uint64_t*)dst;
	const uint64_t* s = (const uint64_t*)pub;
	size_t i;
	for(i = 0; i < STATS_NFIELDS; i++)
		d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}
