/**
 * \file
 * A stand-in for the module's metrics: simulates two worker threads using
 * three upstreams and serves (or prints) what the renderer makes of them,
 * so the exposition can be checked by promtool and the dashboard's metric
 * names against a real render before Unbound is involved.
 *
 * Usage:
 *   metrics_demo --render     print one render on stdout and exit
 *   metrics_demo IP@port      serve /metrics; prints "port N" once
 *                             listening; stops on SIGTERM or SIGINT
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <pthread.h>
#include "dotpool/metrics.h"
#include "dotpool/pool.h"

/** Simulated worker threads. */
#define WORKERS 2
/** Simulated upstreams. */
#define UPSTREAMS 3

/** An upstream of the simulation. */
struct demo_up {
	/** label */
	const char* name;
	/** zone label */
	const char* zone;
	/** typical latency in µs */
	uint64_t base_us;
};

/** The simulated upstreams; the label values are documentation addresses. */
static const struct demo_up demo_ups[UPSTREAMS] = {
	{ "192.0.2.53@853#dns.example", "example.com.", 8000 },
	{ "2001:db8::53@853#dns.example", "example.com.", 15000 },
	{ "198.51.100.7@853#resolver.example", ".", 40000 }
};

/** The simulation: per worker, per upstream counters. */
struct demo {
	/** counters */
	struct dotpool_stats st[WORKERS][UPSTREAMS];
	/** generator state */
	uint64_t rng;
	/** scrapes so far */
	unsigned rounds;
};

/** A deterministic pseudo-random number (xorshift64). */
static uint64_t
demo_rand(struct demo* d)
{
	d->rng ^= d->rng << 13;
	d->rng ^= d->rng >> 7;
	d->rng ^= d->rng << 17;
	return d->rng;
}

/** Run some queries through every worker's view of every upstream. */
static void
demo_step(struct demo* d)
{
	int w, u, q;
	d->rounds++;
	for(w = 0; w < WORKERS; w++) {
		for(u = 0; u < UPSTREAMS; u++) {
			struct dotpool_stats* s = &d->st[w][u];
			if(s->conns_opened == 0) {
				s->conns_opened = 2;
				s->hs_full = 1;
				s->hs_resumed = 1;
			}
			for(q = 0; q < 50; q++) {
				uint64_t r = demo_rand(d) % 1000;
				s->queries++;
				if(r < 5) {
					s->timeouts++;
					s->failovers++;
					continue;
				}
				s->rcode[r < 900 ? 0 : r < 980 ? 3 : 2]++;
				dotpool_stats_latency(s, demo_ups[u].base_us /
					2 + demo_rand(d) % (demo_ups[u].base_us *
					(r < 950 ? 1 : 20)));
			}
			if(demo_rand(d) % 4 == 0)
				s->err_closed++;
			if(demo_rand(d) % 8 == 0) {
				s->idle_closed_by_peer++;
				s->conns_opened++;
				s->hs_resumed++;
			}
			s->inflight = (int64_t)(demo_rand(d) % 5);
			s->conns_open = 2;
			s->conns_idle = s->inflight ? 1 : 2;
			s->queued = 0;
			/* the third upstream flaps on one worker */
			s->health = (u == 2 && w == 1 && d->rounds % 3 == 0) ?
				DOTPOOL_BACKOFF : DOTPOOL_UP;
		}
	}
}

/** Collect: one step of the simulation, each worker added separately. */
static int
demo_collect(struct dotpool_metrics_snapshot* snap, void* arg)
{
	struct demo* d = arg;
	int w, u, rc;
	demo_step(d);
	for(w = 0; w < WORKERS; w++) {
		for(u = 0; u < UPSTREAMS; u++) {
			rc = dotpool_metrics_snapshot_add(snap, demo_ups[u].name,
				demo_ups[u].zone, &d->st[w][u]);
			if(rc < 0)
				return rc;
		}
	}
	dotpool_metrics_snapshot_module(snap, "0.1.0-demo", "1.17.1",
		(uint64_t)sizeof(*d) + 65536);
	return 0;
}

int
main(int argc, char** argv)
{
	static struct demo d;
	struct dotpool_metrics* m;
	char err[256];
	sigset_t set;
	int sig;

	memset(&d, 0, sizeof(d));
	d.rng = 0x2545f4914f6cdd1dULL;
	if(argc != 2) {
		fprintf(stderr, "usage: %s --render | IP@port\n", argv[0]);
		return 2;
	}
	if(strcmp(argv[1], "--render") == 0) {
		struct dotpool_metrics_snapshot* snap =
			dotpool_metrics_snapshot_new();
		struct dotpool_metrics_buf out = { NULL, 0, 0 };
		int rc = 1;
		if(snap && demo_collect(snap, &d) == 0 &&
			dotpool_metrics_render(snap, &out) == 0) {
			fputs(out.data, stdout);
			rc = 0;
		}
		dotpool_metrics_buf_free(&out);
		dotpool_metrics_snapshot_free(snap);
		return rc;
	}
	/* block the stop signals before the server thread inherits a mask */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	m = dotpool_metrics_start(argv[1], demo_collect, &d, err,
		sizeof(err));
	if(!m) {
		fprintf(stderr, "metrics_demo: %s\n", err);
		return 1;
	}
	printf("port %d\n", dotpool_metrics_port(m));
	fflush(stdout);
	sigwait(&set, &sig);
	dotpool_metrics_stop(m);
	return 0;
}
