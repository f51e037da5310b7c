/**
 * \file
 * Unit tests of module/stats.c: histogram bounds, which bucket a latency
 * lands in, that summing workers adds every field, and that publishing
 * for other threads copies every field.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "dotpool/stats.h"
#include "unit.h"

static void
test_bounds(void)
{
	int i, increasing = 1;

	UNIT_CHECK(dotpool_lat_bounds_ms[0] == 1.0,
		"stats: first latency bound is 1 ms");
	UNIT_CHECK(isinf(dotpool_lat_bounds_ms[DOTPOOL_LAT_BUCKETS - 1]) &&
		dotpool_lat_bounds_ms[DOTPOOL_LAT_BUCKETS - 1] > 0,
		"stats: last latency bound is +Inf");
	for(i = 1; i < DOTPOOL_LAT_BUCKETS; i++)
		if(!(dotpool_lat_bounds_ms[i] > dotpool_lat_bounds_ms[i - 1]))
			increasing = 0;
	UNIT_CHECK(increasing, "stats: latency bounds strictly increase");
	UNIT_CHECK(dotpool_lat_bounds_ms[DOTPOOL_LAT_BUCKETS - 2] == 2000.0,
		"stats: last finite bound is 2 s");
}

/** Bucket a single sample falls in, from a fresh struct. */
static int
bucket_of(uint64_t us)
{
	struct dotpool_stats s;
	int i, found = -1, n = 0;

	memset(&s, 0, sizeof(s));
	dotpool_stats_latency(&s, us);
	for(i = 0; i < DOTPOOL_LAT_BUCKETS; i++) {
		if(s.lat_bucket[i]) {
			found = i;
			n++;
		}
	}
	if(n != 1 || s.lat_count != 1 || s.lat_sum_us != us)
		return -1;
	return found;
}

static void
test_latency(void)
{
	struct dotpool_stats s;
	int i;

	UNIT_CHECK(bucket_of(0) == 0, "stats: 0 us in the 1 ms bucket");
	UNIT_CHECK(bucket_of(1000) == 0,
		"stats: exactly 1 ms in the 1 ms bucket (le)");
	UNIT_CHECK(bucket_of(1001) == 1, "stats: 1.001 ms in the 2 ms bucket");
	UNIT_CHECK(bucket_of(45000) == 5, "stats: 45 ms in the 50 ms bucket");
	UNIT_CHECK(bucket_of(2000000) == 10, "stats: 2 s in the 2 s bucket");
	UNIT_CHECK(bucket_of(2000001) == 11,
		"stats: just over 2 s in the +Inf bucket");
	UNIT_CHECK(bucket_of(UINT64_MAX / 2) == 11,
		"stats: a huge latency in the +Inf bucket");
	/* Every finite bound lands in its own bucket. */
	for(i = 0; i < DOTPOOL_LAT_BUCKETS - 1; i++) {
		uint64_t us = (uint64_t)(dotpool_lat_bounds_ms[i] * 1000.0);
		UNIT_CHECKF(bucket_of(us) == i && bucket_of(us + 1) == i + 1,
			"stats: bound %g ms is inclusive",
			dotpool_lat_bounds_ms[i]);
	}
	memset(&s, 0, sizeof(s));
	dotpool_stats_latency(&s, 500);
	dotpool_stats_latency(&s, 1500);
	dotpool_stats_latency(&s, 700);
	UNIT_CHECK(s.lat_count == 3 && s.lat_sum_us == 2700 &&
		s.lat_bucket[0] == 2 && s.lat_bucket[1] == 1,
		"stats: samples accumulate count, sum and buckets");
}

static void
test_add(void)
{
	/* The struct is all 64-bit fields: treat it as an array so that a
	 * field added later but forgotten in dotpool_stats_add fails here. */
	enum { N = sizeof(struct dotpool_stats) / sizeof(uint64_t) };
	struct dotpool_stats a, b;
	uint64_t va[N], vb[N];
	size_t i;
	int all = 1;

	UNIT_REQUIRE(sizeof(struct dotpool_stats) % sizeof(uint64_t) == 0,
		"stats test: the struct holds only 64-bit fields");
	for(i = 0; i < N; i++) {
		va[i] = 1000 * (uint64_t)i;
		vb[i] = (uint64_t)i + 1;
	}
	memcpy(&a, va, sizeof(a));
	memcpy(&b, vb, sizeof(b));
	dotpool_stats_add(&a, &b);
	memcpy(va, &a, sizeof(a));
	for(i = 0; i < N; i++) {
		if(va[i] != 1000 * (uint64_t)i + (uint64_t)i + 1) {
			all = 0;
			UNIT_CHECKF(0, "stats: field %zu of %d is summed", i,
				(int)N);
		}
	}
	UNIT_CHECK(all, "stats: add sums every counter and gauge");
	memcpy(vb, &b, sizeof(b));
	for(i = 0; i < N; i++)
		if(vb[i] != (uint64_t)i + 1)
			all = 0;
	UNIT_CHECK(all, "stats: add leaves the source alone");

	/* Gauges may be negative deltas on a worker. */
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.inflight = 5;
	b.inflight = -2;
	dotpool_stats_add(&a, &b);
	UNIT_CHECK(a.inflight == 3, "stats: signed gauges add as signed");
}

static void
test_publish(void)
{
	enum { N = sizeof(struct dotpool_stats) / sizeof(uint64_t) };
	struct dotpool_stats src, pub, out;
	uint64_t v[N];
	size_t i;

	/* values with both 32-bit halves set, so that a torn copy shows */
	for(i = 0; i < N; i++)
		v[i] = ((uint64_t)(i + 1) << 32) | (0x80000000u + i);
	memcpy(&src, v, sizeof(src));
	memset(&pub, 0, sizeof(pub));
	memset(&out, 0xff, sizeof(out));
	dotpool_stats_publish(&pub, &src);
	dotpool_stats_read(&out, &pub);
	UNIT_CHECK(memcmp(&out, &src, sizeof(src)) == 0,
		"stats: publish then read copies every field whole");
	src.inflight = -7;
	src.rcode[15] = UINT64_MAX;
	dotpool_stats_publish(&pub, &src);
	dotpool_stats_read(&out, &pub);
	UNIT_CHECK(out.inflight == -7 && out.rcode[15] == UINT64_MAX,
		"stats: a republished gauge and counter read back");
	UNIT_CHECK(_Alignof(struct dotpool_stats) >= 8,
		"stats: the struct is 8-aligned, each field atomic as a whole");
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "bounds", test_bounds },
		{ "latency buckets", test_latency },
		{ "add", test_add },
		{ "publish", test_publish },
		{ NULL, NULL }
	};
	return unit_run("stats", tests);
}
