/**
 * \file
 * The plan of a forward zone (dotpool/plan.h) from Unbound's delegation
 * point: glue, because it reads Unbound's struct delegpt.
 */
#ifndef DOTPOOL_ZONEPLAN_H
#define DOTPOOL_ZONEPLAN_H
#include "module/glue/glue.h"

struct delegpt;
struct dotpool_plan;

/**
 * The worker's current plan of a TLS forward zone: the one it has when
 * the zone's forward-addrs (address, port, authentication name, in order)
 * are still those it was built from, else a new one, built and installed.
 * Building it creates the zone's upstreams in the worker's pool (no
 * connection is opened), so a caller can also use it to set them up ahead
 * of the first query. Call on the worker's thread, with the forwarders
 * read-locked (dp is Unbound's, borrowed for the call).
 * @param w: the worker.
 * @param dp: the zone's delegation point (forward-addrs in target_list).
 * @param qclass: the zone's class.
 * @return the plan (the worker's; take a reference to keep it past the
 *	call), or NULL out of memory.
 */
struct dotpool_plan* dotpool_zone_plan(struct dotpool_worker* w,
	struct delegpt* dp, uint16_t qclass);

/**
 * Build the worker's plan of every TLS forward zone of the configuration
 * now, creating their upstreams, and probe each upstream once, so that
 * their health is known (and, with prewarm, their connections open) before
 * the first client query. The
 * worker's own thread only, once, when its state is made; takes the
 * forwarders' read lock itself.
 * @param w: the worker.
 * @return the number of plan entries made and probed (a probe already
 *	in flight or due counts).
 */
int dotpool_zone_plans_prepare(struct dotpool_worker* w);

#endif /* DOTPOOL_ZONEPLAN_H */
