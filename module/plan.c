/**
 * \file
 * A worker's plans of its forward zones: a small hash table by zone name
 * and class, reference counts so a replaced plan outlives the queries that
 * still use it, and selection over a plan's entries.
 */
#include <stdlib.h>
#include <string.h>
#include "dotpool/plan.h"
#include "dotpool/pool.h"
#include "dotpool/select.h"
#include "dotpool/error.h"

/** Hash chains of the table; worker zones are few. */
#define PLAN_SLOTS 64

/** The table. */
struct dotpool_plans {
	/** chains by hash */
	struct dotpool_plan* slot[PLAN_SLOTS];
	/** bytes held: written by the owner, read by any thread */
	size_t mem;
	/** plans installed so far */
	uint64_t builds;
};

/** ASCII lower case; a wire name's length bytes (< 64) pass unchanged. */
static uint8_t
lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

/** Hash of a zone: its name without case, and its class. */
static uint32_t
zone_hash(const uint8_t* name, size_t len, uint16_t qclass)
{
	uint32_t h = 5381;
	size_t i;
	for(i = 0; i < len; i++)
		h = h * 33 + lower(name[i]);
	return h ^ qclass;
}

/** Whether two wire names are equal without case. */
static int
name_eq(const uint8_t* a, size_t alen, const uint8_t* b, size_t blen)
{
	size_t i;
	if(alen != blen)
		return 0;
	for(i = 0; i < alen; i++)
		if(lower(a[i]) != lower(b[i]))
			return 0;
	return 1;
}

/** Bytes a plan holds. */
static size_t
plan_mem(const struct dotpool_plan* p)
{
	size_t sz = sizeof(*p) + (size_t)p->n * sizeof(p->e[0]) + p->namelen;
	int i;
	for(i = 0; i < p->n; i++)
		if(p->e[i].auth_name)
			sz += strlen(p->e[i].auth_name) + 1;
	return sz;
}

/** Publish a change of the table's memory. */
static void
mem_add(struct dotpool_plans* ps, size_t add, size_t sub)
{
	__atomic_store_n(&ps->mem, ps->mem + add - sub, __ATOMIC_RELAXED);
}

struct dotpool_plans*
dotpool_plans_create(void)
{
	struct dotpool_plans* ps = calloc(1, sizeof(*ps));
	if(ps)
		ps->mem = sizeof(*ps);
	return ps;
}

void
dotpool_plan_discard(struct dotpool_plan* p)
{
	int i;
	if(!p)
		return;
	for(i = 0; i < p->n; i++)
		free(p->e[i].auth_name);
	free(p->name);
	free(p);
}

void
dotpool_plans_free(struct dotpool_plans* ps)
{
	int i;
	if(!ps)
		return;
	for(i = 0; i < PLAN_SLOTS; i++) {
		struct dotpool_plan* p = ps->slot[i], *next;
		for(; p; p = next) {
			next = p->next;
			dotpool_plan_discard(p);
		}
	}
	free(ps);
}

size_t
dotpool_plans_mem(const struct dotpool_plans* ps)
{
	return ps ? __atomic_load_n(&ps->mem, __ATOMIC_RELAXED) : 0;
}

uint64_t
dotpool_plans_builds(const struct dotpool_plans* ps)
{
	return ps->builds;
}

struct dotpool_plan*
dotpool_plans_find(struct dotpool_plans* ps, const uint8_t* name,
	size_t namelen, uint16_t qclass)
{
	uint32_t h = zone_hash(name, namelen, qclass);
	struct dotpool_plan* p;
	for(p = ps->slot[h % PLAN_SLOTS]; p; p = p->next)
		if(p->hash == h && p->qclass == qclass &&
			name_eq(p->name, p->namelen, name, namelen))
			return p;
	return NULL;
}

struct dotpool_plan*
dotpool_plan_new(const uint8_t* name, size_t namelen, uint16_t qclass,
	int n)
{
	struct dotpool_plan* p;
	if(n < 0 || n > DOTPOOL_PLAN_MAX || !name || namelen == 0)
		return NULL;
	p = calloc(1, sizeof(*p) + (size_t)n * sizeof(p->e[0]));
	if(!p)
		return NULL;
	if(!(p->name = malloc(namelen))) {
		free(p);
		return NULL;
	}
	memcpy(p->name, name, namelen);
	p->namelen = namelen;
	p->qclass = qclass;
	p->hash = zone_hash(name, namelen, qclass);
	p->n = n;
	return p;
}

int
dotpool_plan_set_entry(struct dotpool_plan* p, int i,
	const struct sockaddr* sa, socklen_t salen, const char* auth_name,
	struct dotpool_upstream* up, const struct dotpool_upstream_cfg* ucfg)
{
	struct dotpool_plan_entry* e;
	if(i < 0 || i >= p->n || salen > (socklen_t)sizeof(e->addr))
		return DOTPOOL_EINVAL;
	e = &p->e[i];
	free(e->auth_name);
	e->auth_name = NULL;
	if(auth_name && !(e->auth_name = strdup(auth_name)))
		return DOTPOOL_ENOMEM;
	memset(&e->addr, 0, sizeof(e->addr));
	memcpy(&e->addr, sa, salen);
	e->addrlen = salen;
	e->up = up;
	e->ucfg = ucfg;
	e->weight = ucfg && ucfg->weight ? ucfg->weight : 1;
	return 0;
}

/** Take a plan out of its chain. */
static void
unlink_plan(struct dotpool_plans* ps, struct dotpool_plan* p)
{
	struct dotpool_plan** pp;
	for(pp = &ps->slot[p->hash % PLAN_SLOTS]; *pp; pp = &(*pp)->next)
		if(*pp == p) {
			*pp = p->next;
			p->next = NULL;
			return;
		}
}

void
dotpool_plans_install(struct dotpool_plans* ps, struct dotpool_plan* p)
{
	struct dotpool_plan* old = dotpool_plans_find(ps, p->name,
		p->namelen, p->qclass);
	p->refs++;
	p->next = ps->slot[p->hash % PLAN_SLOTS];
	ps->slot[p->hash % PLAN_SLOTS] = p;
	ps->builds++;
	mem_add(ps, plan_mem(p), 0);
	if(old) {
		p->rr = old->rr;
		unlink_plan(ps, old);
		dotpool_plan_unref(ps, old);
	}
}

void
dotpool_plan_ref(struct dotpool_plan* p)
{
	p->refs++;
}

void
dotpool_plan_unref(struct dotpool_plans* ps, struct dotpool_plan* p)
{
	if(!p || --p->refs > 0)
		return;
	mem_add(ps, 0, plan_mem(p));
	dotpool_plan_discard(p);
}

int
dotpool_plan_entry_is(const struct dotpool_plan_entry* e,
	const struct sockaddr* sa, socklen_t salen, const char* auth_name)
{
	if(!e->up || e->addrlen != salen || memcmp(&e->addr, sa, salen) != 0)
		return 0;
	if(!e->auth_name || !auth_name)
		return e->auth_name == auth_name;
	return strcmp(e->auth_name, auth_name) == 0;
}

int
dotpool_plan_pick(struct dotpool_plan* p, uint64_t tried, uint32_t rnd)
{
	struct dotpool_candidate c[DOTPOOL_PLAN_MAX];
	int i, pick;
	for(i = 0; i < p->n; i++) {
		struct dotpool_upstream* up = p->e[i].up;
		c[i].tried = (tried & ((uint64_t)1 << i)) || !up;
		c[i].usable = up && dotpool_upstream_usable(up);
		c[i].srtt_us = up ? dotpool_upstream_srtt(up) : 0;
		c[i].weight = p->e[i].weight;
	}
	pick = dotpool_select(p->policy, c, p->n, &p->rr, rnd);
	if(p->policy == DOTPOOL_POLICY_ORDERED) {
		/* the usable ones in front of the pick were passed over for
		 * their round trip: they get no queries to measure it, so one
		 * that has not been measured for a while is probed, and comes
		 * back into the band once it answers as fast as the others */
		for(i = 0; i < pick; i++)
			if(!c[i].tried && c[i].usable &&
				dotpool_upstream_rtt_stale(p->e[i].up))
				dotpool_upstream_probe(p->e[i].up);
	}
	return pick;
}
