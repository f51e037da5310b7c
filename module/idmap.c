/**
 * \file
 * Table of message IDs in flight on one connection.
 *
 * Open addressing with linear probing, keyed by ID, sized to the next power
 * of two at least twice the capacity so probe runs stay short. Removal
 * shifts the following entries back instead of leaving tombstones, so a
 * long-lived connection that cycles through many IDs does not slowly fill
 * the table with dead slots. For capacities above 32768 the table has all
 * 65536 slots and the hash is a bijection: every ID has its own slot.
 */
#include <stdlib.h>
#include "dotpool/error.h"
#include "dotpool/idmap.h"

/** One slot of the table. */
struct idmap_slot {
	/** the owner of a live ID, NULL otherwise */
	void* owner;
	/** what the late answer of a cancelled ID must show; fits in the
	 * padding, so the table does not grow */
	uint32_t check;
	/** the ID held, if state is not FREE */
	uint16_t id;
	/** enum dotpool_id_state */
	uint8_t state;
};

/** The ID table. */
struct dotpool_idmap {
	/** slots, 1 << bits of them */
	struct idmap_slot* slots;
	/** log2 of the number of slots */
	unsigned bits;
	/** most IDs reserved at once */
	unsigned capacity;
	/** IDs reserved (live + cancelled) */
	unsigned used;
	/** IDs live */
	unsigned live;
};

const char*
dotpool_id_state_str(enum dotpool_id_state s)
{
	switch(s) {
	case DOTPOOL_ID_FREE: return "free";
	case DOTPOOL_ID_LIVE: return "live";
	case DOTPOOL_ID_CANCELLED: return "cancelled";
	}
	return "unknown";
}

/** Home slot of an ID. Multiplying by an odd constant mod 2^16 is a
 * bijection; taking the top bits spreads IDs that the alloc probing made
 * consecutive over the whole table. */
static size_t
idmap_home(const struct dotpool_idmap* m, uint16_t id)
{
	uint16_t h = (uint16_t)((unsigned)id * 40503u);
	return (size_t)(h >> (16 - m->bits));
}

/** Slot mask. */
static size_t
idmap_mask(const struct dotpool_idmap* m)
{
	return ((size_t)1 << m->bits) - 1;
}

/** Slot holding id, or NULL. */
static struct idmap_slot*
idmap_find(const struct dotpool_idmap* m, uint16_t id)
{
	size_t mask = idmap_mask(m);
	size_t i = idmap_home(m, id);

	/* The table is never full (at least half free, or one slot per ID),
	 * so the run ends at a free slot. */
	for(;;) {
		struct idmap_slot* s = &m->slots[i];
		if(s->state == DOTPOOL_ID_FREE)
			return NULL;
		if(s->id == id)
			return s;
		i = (i + 1) & mask;
	}
}

struct dotpool_idmap*
dotpool_idmap_create(unsigned capacity)
{
	struct dotpool_idmap* m;
	unsigned bits = 4;

	if(capacity < 1 || capacity > 65535)
		return NULL;
	while(bits < 16 && ((size_t)1 << bits) < (size_t)capacity * 2)
		bits++;
	m = calloc(1, sizeof(*m));
	if(!m)
		goto fail;
	m->slots = calloc((size_t)1 << bits, sizeof(*m->slots));
	if(!m->slots)
		goto fail;
	m->bits = bits;
	m->capacity = capacity;
	return m;
fail:
	dotpool_idmap_free(m);
	return NULL;
}

void
dotpool_idmap_free(struct dotpool_idmap* m)
{
	if(!m)
		return;
	free(m->slots);
	free(m);
}

int
dotpool_idmap_alloc(struct dotpool_idmap* m, void* owner, uint16_t start,
	uint16_t* id)
{
	size_t mask = idmap_mask(m);
	uint16_t cand = start;
	size_t i;

	if(m->used >= m->capacity)
		return DOTPOOL_EFULL;
	/* At most capacity (< 65536) IDs are taken, so a free one exists;
	 * with a random start and a sparse table the first try usually wins. */
	while(idmap_find(m, cand))
		cand++;
	i = idmap_home(m, cand);
	while(m->slots[i].state != DOTPOOL_ID_FREE)
		i = (i + 1) & mask;
	m->slots[i].id = cand;
	m->slots[i].owner = owner;
	m->slots[i].state = DOTPOOL_ID_LIVE;
	m->used++;
	m->live++;
	*id = cand;
	return 0;
}

enum dotpool_id_state
dotpool_idmap_get(const struct dotpool_idmap* m, uint16_t id, void** owner)
{
	struct idmap_slot* s = idmap_find(m, id);

	if(owner)
		*owner = (s && s->state == DOTPOOL_ID_LIVE) ? s->owner : NULL;
	return s ? (enum dotpool_id_state)s->state : DOTPOOL_ID_FREE;
}

/** Empty slot i and pull back later entries of its run whose home is not
 * between the hole and themselves, so lookups never stop early. */
static void
idmap_remove_slot(struct dotpool_idmap* m, size_t i)
{
	size_t mask = idmap_mask(m);
	size_t hole = i;
	size_t j = i;

	for(;;) {
		size_t home;
		j = (j + 1) & mask;
		if(m->slots[j].state == DOTPOOL_ID_FREE)
			break;
		home = idmap_home(m, m->slots[j].id);
		/* The entry at j may move to the hole only if its home is
		 * not in (hole, j], cyclically. */
		if(((j - home) & mask) >= ((j - hole) & mask)) {
			m->slots[hole] = m->slots[j];
			hole = j;
		}
	}
	m->slots[hole].state = DOTPOOL_ID_FREE;
	m->slots[hole].owner = NULL;
	m->slots[hole].check = 0;
	m->slots[hole].id = 0;
}

int
dotpool_idmap_release(struct dotpool_idmap* m, uint16_t id)
{
	struct idmap_slot* s = idmap_find(m, id);

	if(!s)
		return DOTPOOL_ENOTFOUND;
	if(s->state == DOTPOOL_ID_LIVE)
		m->live--;
	m->used--;
	idmap_remove_slot(m, (size_t)(s - m->slots));
	return 0;
}

int
dotpool_idmap_cancel(struct dotpool_idmap* m, uint16_t id, uint32_t check)
{
	struct idmap_slot* s = idmap_find(m, id);

	if(!s || s->state != DOTPOOL_ID_LIVE)
		return DOTPOOL_ENOTFOUND;
	s->state = DOTPOOL_ID_CANCELLED;
	s->owner = NULL;
	s->check = check;
	m->live--;
	return 0;
}

int
dotpool_idmap_check(const struct dotpool_idmap* m, uint16_t id,
	uint32_t* check)
{
	struct idmap_slot* s = idmap_find(m, id);

	if(!s || s->state != DOTPOOL_ID_CANCELLED)
		return DOTPOOL_ENOTFOUND;
	*check = s->check;
	return 0;
}

int
dotpool_idmap_release_late(struct dotpool_idmap* m, uint16_t id,
	uint32_t check)
{
	struct idmap_slot* s = idmap_find(m, id);

	if(!s || s->state != DOTPOOL_ID_CANCELLED)
		return DOTPOOL_ENOTFOUND;
	if(s->check != check)
		return DOTPOOL_EINVAL;
	m->used--;
	idmap_remove_slot(m, (size_t)(s - m->slots));
	return 0;
}

unsigned
dotpool_idmap_live(const struct dotpool_idmap* m)
{
	return m->live;
}

unsigned
dotpool_idmap_used(const struct dotpool_idmap* m)
{
	return m->used;
}

unsigned
dotpool_idmap_capacity(const struct dotpool_idmap* m)
{
	return m->capacity;
}

size_t
dotpool_idmap_mem(const struct dotpool_idmap* m)
{
	if(!m)
		return 0;
	return sizeof(*m) + ((size_t)1 << m->bits) * sizeof(*m->slots);
}

void
dotpool_idmap_drain(struct dotpool_idmap* m,
	void (*fn)(void* owner, uint16_t id, void* arg), void* arg)
{
	size_t n = (size_t)1 << m->bits;
	size_t i;

	for(i = 0; i < n; i++) {
		struct idmap_slot s = m->slots[i];
		if(s.state == DOTPOOL_ID_FREE)
			continue;
		/* Clear first: fn may free or re-queue the owner, and the
		 * table has to end empty whatever fn does. */
		m->slots[i].state = DOTPOOL_ID_FREE;
		m->slots[i].owner = NULL;
		m->slots[i].check = 0;
		m->slots[i].id = 0;
		if(s.state == DOTPOOL_ID_LIVE)
			m->live--;
		m->used--;
		if(s.state == DOTPOOL_ID_LIVE && fn)
			fn(s.owner, s.id, arg);
	}
}
