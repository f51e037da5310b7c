/**
 * \file
 * A worker's plan of a forward zone: the zone's upstreams resolved once
 * (the worker's upstream objects, their upstream: sections and weights,
 * the zone's policy, profile and hedge delay), kept per worker and zone
 * name, and rebuilt only when the zone's forward-addrs change. Selecting
 * the upstream of an attempt is then a walk over a few entries, instead of
 * formatting addresses and scanning the settings and the pool per
 * candidate.
 *
 * Unbound's forwarders change at run time (`unbound-control forward_add`,
 * fast_reload) and their delegation points are freed and reallocated, so
 * a plan is never recognised by a pointer: the glue compares the zone's
 * current forward-addrs with the plan's entries (dotpool_plan_entry_is)
 * and installs a new plan when they differ. A query holds a reference to
 * the plan it uses; a replaced plan lives until its last query lets go.
 *
 * Pure: no Unbound types; the glue builds plans from Unbound's delegation
 * points (module/glue/zoneplan.c). Threading: the plans of a worker belong to
 * that worker's thread; dotpool_plans_mem() may be read by any thread.
 */
#ifndef DOTPOOL_PLAN_H
#define DOTPOOL_PLAN_H
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "dotpool/config.h"

struct dotpool_upstream;

/** Most forward-addrs of a zone a plan holds (a query's tried set is a
 * 64-bit mask). */
#define DOTPOOL_PLAN_MAX 64

/** One upstream of a zone, in forward-addr order. */
struct dotpool_plan_entry {
	/** the worker's upstream (owned by the pool); NULL when it could not
	 * be created (out of memory): never picked, and the plan is stale */
	struct dotpool_upstream* up;
	/** its upstream: section or NULL (borrowed from the settings) */
	const struct dotpool_upstream_cfg* ucfg;
	/** weight for the weighted policy (>= 1) */
	unsigned weight;
	/** the forward-addr's address and port */
	struct sockaddr_storage addr;
	/** its length */
	socklen_t addrlen;
	/** its TLS authentication name (owned) or NULL */
	char* auth_name;
};

/** The plan of one zone in one worker. */
struct dotpool_plan {
	/** next in its hash chain of the worker's table */
	struct dotpool_plan* next;
	/** queries holding it, plus one while it is in the table */
	unsigned refs;
	/** zone name, wire format (owned) */
	uint8_t* name;
	/** its length */
	size_t namelen;
	/** DNS class of the forward zone */
	uint16_t qclass;
	/** hash of name and class */
	uint32_t hash;
	/** the zone's policy */
	enum dotpool_policy policy;
	/** the zone's authentication profile */
	enum dotpool_profile profile;
	/** the zone's hedge delay in ms, 0 = off */
	unsigned hedge_delay;
	/** round-robin cursor of the zone in this worker */
	unsigned rr;
	/** entries */
	int n;
	/** the entries, n of them */
	struct dotpool_plan_entry e[];
};

/** A worker's plans, by zone. */
struct dotpool_plans;

/** Create an empty table; NULL when out of memory. */
struct dotpool_plans* dotpool_plans_create(void);

/** Free a table and its plans, referenced or not (the worker goes, and
 * with it every query). @param ps: may be NULL. */
void dotpool_plans_free(struct dotpool_plans* ps);

/** Bytes the table and its plans hold; any thread (published by the
 * owner after every change). */
size_t dotpool_plans_mem(const struct dotpool_plans* ps);

/** Plans built so far (for tests: a plan is built once per change). */
uint64_t dotpool_plans_builds(const struct dotpool_plans* ps);

/**
 * The current plan of a zone, or NULL when there is none yet.
 * @param ps: the table.
 * @param name: zone name, wire format, compared without case.
 * @param namelen: its length.
 * @param qclass: the zone's class.
 */
struct dotpool_plan* dotpool_plans_find(struct dotpool_plans* ps,
	const uint8_t* name, size_t namelen, uint16_t qclass);

/**
 * Allocate a plan with n blank entries; the builder fills in the
 * settings and, for each entry, dotpool_plan_set_entry().
 * @return the plan (not in any table, no references) or NULL.
 */
struct dotpool_plan* dotpool_plan_new(const uint8_t* name, size_t namelen,
	uint16_t qclass, int n);

/**
 * Fill entry i of a new plan.
 * @param p: the plan.
 * @param i: index.
 * @param sa: the forward-addr (copied).
 * @param salen: its length.
 * @param auth_name: TLS authentication name (copied) or NULL.
 * @param up: the upstream or NULL.
 * @param ucfg: its upstream: section or NULL.
 * @return 0 or DOTPOOL_ENOMEM / DOTPOOL_EINVAL.
 */
int dotpool_plan_set_entry(struct dotpool_plan* p, int i,
	const struct sockaddr* sa, socklen_t salen, const char* auth_name,
	struct dotpool_upstream* up, const struct dotpool_upstream_cfg* ucfg);

/** Free a plan that never went into a table. @param p: may be NULL. */
void dotpool_plan_discard(struct dotpool_plan* p);

/**
 * Make p the zone's current plan; a plan it replaces leaves the table
 * and is freed once no query holds it. The round-robin cursor carries
 * over, so a change of the forwarders does not restart the rotation.
 * @param ps: the table.
 * @param p: a new plan (the table takes it over).
 */
void dotpool_plans_install(struct dotpool_plans* ps, struct dotpool_plan* p);

/** A query starts using a plan. */
void dotpool_plan_ref(struct dotpool_plan* p);

/**
 * A query stops using a plan; a replaced plan is freed with its last user.
 * @param ps: the table p was installed in.
 * @param p: the plan, may be NULL.
 */
void dotpool_plan_unref(struct dotpool_plans* ps, struct dotpool_plan* p);

/**
 * Whether entry e still describes this forward-addr (address, port and
 * authentication name), and its upstream exists.
 */
int dotpool_plan_entry_is(const struct dotpool_plan_entry* e,
	const struct sockaddr* sa, socklen_t salen, const char* auth_name);

/**
 * Pick the entry for the next attempt by the zone's policy, never one in
 * tried (nor one without an upstream).
 * @param p: the plan (its round-robin cursor advances).
 * @param tried: bit i set: entry i was tried for this name.
 * @param rnd: 32 random bits.
 * @return the index, or -1 when every entry was tried.
 */
int dotpool_plan_pick(struct dotpool_plan* p, uint64_t tried, uint32_t rnd);

#endif /* DOTPOOL_PLAN_H */
