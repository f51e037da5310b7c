/**
 * \file
 * Unit tests of module/board.c, the health board the worker threads
 * share: slots by whole label, posts that keep the later time, clearing,
 * the first zone winning, the size limit, memory accounting, and slots
 * found by several threads at once.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "dotpool/board.h"
#include "unit.h"

/** One label is one slot; a prefix or an extension is another upstream. */
static void
test_slots(void)
{
	struct dotpool_board* b = dotpool_board_create();
	struct dotpool_board_slot* a, *a2, *p, *o;

	UNIT_REQUIRE(b != NULL, "board: create allocates");
	a = dotpool_board_slot(b, "192.0.2.1@853#dns.example");
	a2 = dotpool_board_slot(b, "192.0.2.1@853#dns.example");
	p = dotpool_board_slot(b, "192.0.2.1@853#dns.exampl");
	o = dotpool_board_slot(b, "192.0.2.1@853#dns.example opportunistic");
	UNIT_CHECK(a != NULL && a == a2, "board: the same label finds the "
		"same slot");
	UNIT_CHECK(p != NULL && p != a, "board: a prefix is another slot");
	UNIT_CHECK(o != NULL && o != a && o != p, "board: a longer label is "
		"another slot");
	UNIT_CHECK(dotpool_board_slot(b, NULL) == NULL,
		"board: no label, no slot");
	UNIT_CHECK(dotpool_board_slot(NULL, "x") == NULL,
		"board: no board, no slot");
	dotpool_board_free(b);
	dotpool_board_free(NULL);
}

/** A post keeps the later time; an answer clears it; NULL is a no-op. */
static void
test_avoid(void)
{
	struct dotpool_board* b = dotpool_board_create();
	struct dotpool_board_slot* s, *t;

	UNIT_REQUIRE(b != NULL, "board: create allocates");
	s = dotpool_board_slot(b, "192.0.2.1@853");
	t = dotpool_board_slot(b, "192.0.2.2@853");
	UNIT_REQUIRE(s && t, "board: slots made");
	UNIT_CHECK(dotpool_board_avoid_until(s) == 0,
		"board: a new slot has no post");
	dotpool_board_avoid(s, 5000);
	UNIT_CHECK(dotpool_board_avoid_until(s) == 5000,
		"board: a post is read back");
	dotpool_board_avoid(s, 3000);
	UNIT_CHECK(dotpool_board_avoid_until(s) == 5000,
		"board: an earlier post does not shorten a later one");
	dotpool_board_avoid(s, 9000);
	UNIT_CHECK(dotpool_board_avoid_until(s) == 9000,
		"board: a later post extends it");
	UNIT_CHECK(dotpool_board_avoid_until(t) == 0,
		"board: a post is the one upstream's only");
	dotpool_board_clear(s);
	UNIT_CHECK(dotpool_board_avoid_until(s) == 0,
		"board: an answer clears the post");
	dotpool_board_clear(s);
	UNIT_CHECK(dotpool_board_avoid_until(s) == 0,
		"board: clearing a clear slot keeps it clear");
	dotpool_board_avoid(NULL, 1);
	dotpool_board_clear(NULL);
	UNIT_CHECK(dotpool_board_avoid_until(NULL) == 0,
		"board: a NULL slot reads as no post");
	dotpool_board_free(b);
}

/** The first zone reported for an upstream labels it on every worker. */
static void
test_zone(void)
{
	struct dotpool_board* b = dotpool_board_create();
	struct dotpool_board_slot* s;
	const char* z1, *z2;
	size_t m0, m1;

	UNIT_REQUIRE(b != NULL, "board: create allocates");
	s = dotpool_board_slot(b, "192.0.2.1@853");
	UNIT_REQUIRE(s != NULL, "board: slot made");
	m0 = dotpool_board_mem(b);
	z1 = dotpool_board_zone(s, "example.com.");
	z2 = dotpool_board_zone(s, "example.org.");
	UNIT_CHECK(z1 && strcmp(z1, "example.com.") == 0,
		"board: the first zone is kept");
	UNIT_CHECK(z2 == z1, "board: a later zone gets the first one");
	m1 = dotpool_board_mem(b);
	UNIT_CHECKF(m1 == m0 + strlen("example.com.") + 1, "board: the zone "
		"is counted in the memory (%zu then %zu)", m0, m1);
	UNIT_CHECK(strcmp(dotpool_board_zone(NULL, "a."), "a.") == 0,
		"board: without a slot the zone given is returned");
	UNIT_CHECK(dotpool_board_mem(NULL) == 0, "board: no board, no memory");
	dotpool_board_free(b);
}

/** DOTPOOL_BOARD_SLOTS upstreams fit; the next is not shared. */
static void
test_full(void)
{
	struct dotpool_board* b = dotpool_board_create();
	char label[32];
	size_t m0;
	int i, made = 0;

	UNIT_REQUIRE(b != NULL, "board: create allocates");
	m0 = dotpool_board_mem(b);
	for(i = 0; i < DOTPOOL_BOARD_SLOTS; i++) {
		snprintf(label, sizeof(label), "192.0.2.%d@853", i);
		made += dotpool_board_slot(b, label) != NULL;
	}
	UNIT_CHECKF(made == DOTPOOL_BOARD_SLOTS, "board: %d slots fit, got "
		"%d", DOTPOOL_BOARD_SLOTS, made);
	UNIT_CHECK(dotpool_board_mem(b) > m0, "board: labels are counted in "
		"the memory");
	UNIT_CHECK(dotpool_board_slot(b, "198.51.100.1@853") == NULL,
		"board: a full board gives no slot to a new upstream");
	UNIT_CHECK(dotpool_board_slot(b, "192.0.2.7@853") != NULL,
		"board: a full board still finds a known upstream");
	dotpool_board_free(b);
}

/** Threads running through the same labels at once. */
struct race {
	/** the board */
	struct dotpool_board* b;
	/** the slots this thread found, by label */
	struct dotpool_board_slot* found[32];
};

/** Find the slots of 32 labels. */
static void*
race_run(void* arg)
{
	struct race* r = arg;
	char label[32];
	int i;
	for(i = 0; i < 32; i++) {
		snprintf(label, sizeof(label), "203.0.113.%d@853", i);
		r->found[i] = dotpool_board_slot(r->b, label);
		dotpool_board_avoid(r->found[i], (uint64_t)i + 1);
	}
	return NULL;
}

/** Four threads meeting the same upstreams get one slot per upstream. */
static void
test_threads(void)
{
	struct dotpool_board* b = dotpool_board_create();
	struct race r[4];
	pthread_t th[4];
	int i, k, same = 1;

	UNIT_REQUIRE(b != NULL, "board: create allocates");
	for(k = 0; k < 4; k++) {
		memset(&r[k], 0, sizeof(r[k]));
		r[k].b = b;
		UNIT_REQUIRE(pthread_create(&th[k], NULL, race_run, &r[k]) == 0,
			"board test: pthread_create");
	}
	for(k = 0; k < 4; k++)
		pthread_join(th[k], NULL);
	for(i = 0; i < 32; i++)
		for(k = 1; k < 4; k++)
			if(!r[0].found[i] || r[k].found[i] != r[0].found[i])
				same = 0;
	UNIT_CHECK(same, "board: every thread found the same slot per label");
	for(i = 0; i < 32; i++)
		UNIT_CHECKF(dotpool_board_avoid_until(r[0].found[i]) ==
			(uint64_t)i + 1, "board: slot %d carries its post", i);
	dotpool_board_free(b);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "slots by whole label", test_slots },
		{ "posts and clearing", test_avoid },
		{ "first zone wins", test_zone },
		{ "full board", test_full },
		{ "threads share slots", test_threads },
		{ NULL, NULL }
	};
	return unit_run("board", tests);
}
