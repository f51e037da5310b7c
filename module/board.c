/**
 * \file
 * The health board shared by the worker threads (see dotpool/board.h).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "dotpool/board.h"

struct dotpool_board_slot {
	/** the upstream's label, its whole identity (owned; set once under
	 * the board's lock before n counts the slot, never changed) */
	char* label;
	/** monotonic µs until which to avoid the upstream, 0 none; atomic */
	uint64_t avoid_until;
	/** zone for the metrics label (owned), NULL until set; atomic */
	char* zone;
};

struct dotpool_board {
	/** guards adding a slot (n is also read by the metrics thread) */
	pthread_mutex_t lock;
	/** slots in use */
	unsigned n;
	/** the slots */
	struct dotpool_board_slot slots[DOTPOOL_BOARD_SLOTS];
};

struct dotpool_board*
dotpool_board_create(void)
{
	struct dotpool_board* b = calloc(1, sizeof(*b));
	if(!b)
		return NULL;
	if(pthread_mutex_init(&b->lock, NULL) != 0) {
		free(b);
		return NULL;
	}
	return b;
}

size_t
dotpool_board_mem(const struct dotpool_board* b)
{
	size_t m = 0;
	unsigned i, n;
	if(!b)
		return 0;
	n = __atomic_load_n(&b->n, __ATOMIC_ACQUIRE);
	for(i = 0; i < n; i++) {
		const char* z = __atomic_load_n(&b->slots[i].zone,
			__ATOMIC_ACQUIRE);
		if(z)
			m += strlen(z) + 1;
		m += strlen(b->slots[i].label) + 1;
	}
	return sizeof(*b) + m;
}

void
dotpool_board_free(struct dotpool_board* b)
{
	unsigned i;
	if(!b)
		return;
	for(i = 0; i < b->n; i++) {
		free(b->slots[i].zone);
		free(b->slots[i].label);
	}
	pthread_mutex_destroy(&b->lock);
	free(b);
}

struct dotpool_board_slot*
dotpool_board_slot(struct dotpool_board* b, const char* label)
{
	struct dotpool_board_slot* s = NULL;
	unsigned i;
	if(!b || !label)
		return NULL;
	pthread_mutex_lock(&b->lock);
	for(i = 0; i < b->n; i++) {
		/* the whole label: a prefix is another upstream */
		if(strcmp(b->slots[i].label, label) == 0) {
			s = &b->slots[i];
			break;
		}
	}
	if(!s && b->n < DOTPOOL_BOARD_SLOTS &&
		(b->slots[b->n].label = strdup(label)) != NULL) {
		s = &b->slots[b->n];
		__atomic_store_n(&s->avoid_until, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&s->zone, NULL, __ATOMIC_RELAXED);
		/* published with release: the metrics thread counts slots */
		__atomic_store_n(&b->n, b->n + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&b->lock);
	return s;
}

void
dotpool_board_avoid(struct dotpool_board_slot* s, uint64_t until_us)
{
	uint64_t cur;
	if(!s)
		return;
	cur = __atomic_load_n(&s->avoid_until, __ATOMIC_RELAXED);
	while(cur < until_us && !__atomic_compare_exchange_n(&s->avoid_until,
		&cur, until_us, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void
dotpool_board_clear(struct dotpool_board_slot* s)
{
	/* read first: answers are the hot path, and a store to a line the
	 * other workers read would bounce it between cores on every one */
	if(s && __atomic_load_n(&s->avoid_until, __ATOMIC_RELAXED) != 0)
		__atomic_store_n(&s->avoid_until, 0, __ATOMIC_RELAXED);
}

const char*
dotpool_board_zone(struct dotpool_board_slot* s, const char* zone)
{
	char* cur, *mine;
	if(!s)
		return zone;
	if((cur = __atomic_load_n(&s->zone, __ATOMIC_ACQUIRE)) != NULL)
		return cur;
	if(!(mine = strdup(zone)))
		return zone;
	cur = NULL;
	if(__atomic_compare_exchange_n(&s->zone, &cur, mine, 0,
		__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return mine;
	/* another worker was first */
	free(mine);
	return cur;
}

uint64_t
dotpool_board_avoid_until(const struct dotpool_board_slot* s)
{
	return s ? __atomic_load_n(&s->avoid_until, __ATOMIC_RELAXED) : 0;
}
