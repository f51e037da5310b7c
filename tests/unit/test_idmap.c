/**
 * \file
 * Unit tests of module/idmap.c: allocation up to capacity, the states an ID
 * goes through, cancelled IDs staying reserved, drain, removal keeping the
 * table searchable, and IDs that follow the caller's random start.
 */
#include <stdint.h>
#include <string.h>
#include "dotpool/error.h"
#include "dotpool/idmap.h"
#include "unit.h"

/** Small deterministic generator so failures reproduce (xorshift32). */
static uint32_t
rnd(uint32_t* s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

static void
test_create_bounds(void)
{
	struct dotpool_idmap* m;

	UNIT_CHECK(dotpool_idmap_create(0) == NULL,
		"idmap: capacity 0 is refused");
	UNIT_CHECK(dotpool_idmap_create(65536) == NULL,
		"idmap: capacity over 65535 is refused");
	m = dotpool_idmap_create(128);
	UNIT_REQUIRE(m != NULL, "idmap: capacity 128 is created");
	UNIT_CHECK(dotpool_idmap_capacity(m) == 128 &&
		dotpool_idmap_used(m) == 0 && dotpool_idmap_live(m) == 0,
		"idmap: a new table is empty with its capacity");
	UNIT_CHECK(dotpool_idmap_mem(m) > 0 && dotpool_idmap_mem(m) <= 8192,
		"idmap: a table for 128 IDs stays within 8 KiB");
	UNIT_CHECK(dotpool_idmap_mem(NULL) == 0,
		"idmap: mem of no table is 0");
	dotpool_idmap_free(m);
	dotpool_idmap_free(NULL);
	UNIT_CHECK(strcmp(dotpool_id_state_str(DOTPOOL_ID_LIVE), "live") == 0 &&
		strcmp(dotpool_id_state_str(DOTPOOL_ID_CANCELLED),
		"cancelled") == 0 &&
		strcmp(dotpool_id_state_str(DOTPOOL_ID_FREE), "free") == 0,
		"idmap: state names for logs");
}

static void
test_lifecycle(void)
{
	struct dotpool_idmap* m = dotpool_idmap_create(4);
	int owner1, owner2;
	void* o;
	uint16_t id1, id2;

	UNIT_REQUIRE(m != NULL, "idmap: created");
	UNIT_REQUIRE(dotpool_idmap_alloc(m, &owner1, 1000, &id1) == 0,
		"idmap: first alloc succeeds");
	UNIT_CHECK(id1 == 1000, "idmap: a free start value is used as is");
	UNIT_REQUIRE(dotpool_idmap_alloc(m, &owner2, 1000, &id2) == 0,
		"idmap: second alloc from the same start succeeds");
	UNIT_CHECK(id2 != id1, "idmap: a taken ID is never handed out twice");
	UNIT_CHECK(dotpool_idmap_get(m, id1, &o) == DOTPOOL_ID_LIVE &&
		o == &owner1, "idmap: live ID returns its owner");
	UNIT_CHECK(dotpool_idmap_get(m, 7, &o) == DOTPOOL_ID_FREE && o == NULL,
		"idmap: unknown ID is free with no owner");
	UNIT_CHECK(dotpool_idmap_live(m) == 2 && dotpool_idmap_used(m) == 2,
		"idmap: two live, two used");

	UNIT_CHECK(dotpool_idmap_cancel(m, id1, 0x1234) == 0,
		"idmap: a live ID can be cancelled");
	UNIT_CHECK(dotpool_idmap_get(m, id1, &o) == DOTPOOL_ID_CANCELLED &&
		o == NULL, "idmap: cancelled ID has no owner");
	UNIT_CHECK(dotpool_idmap_get(m, id1, NULL) == DOTPOOL_ID_CANCELLED,
		"idmap: get accepts a NULL owner pointer");
	UNIT_CHECK(dotpool_idmap_live(m) == 1 && dotpool_idmap_used(m) == 2,
		"idmap: cancelled ID stays reserved");
	UNIT_CHECK(dotpool_idmap_cancel(m, id1, 0x1234) == DOTPOOL_ENOTFOUND,
		"idmap: cancelling twice is ENOTFOUND");
	UNIT_CHECK(dotpool_idmap_cancel(m, 7, 0) == DOTPOOL_ENOTFOUND,
		"idmap: cancelling a free ID is ENOTFOUND");

	/* A late answer for the cancelled ID releases it. */
	UNIT_CHECK(dotpool_idmap_release(m, id1) == 0,
		"idmap: a cancelled ID can be released");
	UNIT_CHECK(dotpool_idmap_get(m, id1, NULL) == DOTPOOL_ID_FREE,
		"idmap: released ID is free");
	UNIT_CHECK(dotpool_idmap_release(m, id1) == DOTPOOL_ENOTFOUND,
		"idmap: releasing a free ID is ENOTFOUND");
	UNIT_CHECK(dotpool_idmap_release(m, id2) == 0 &&
		dotpool_idmap_live(m) == 0 && dotpool_idmap_used(m) == 0,
		"idmap: releasing the live ID empties the table");
	dotpool_idmap_free(m);
}

/** Only the late answer for the question asked releases a cancelled ID:
 * a forged one with the right ID leaves it reserved. */
static void
test_late_answer_check(void)
{
	struct dotpool_idmap* m = dotpool_idmap_create(4);
	int owner;
	uint32_t check = 0;
	uint16_t id;

	UNIT_REQUIRE(m != NULL, "idmap: created");
	UNIT_REQUIRE(dotpool_idmap_alloc(m, &owner, 500, &id) == 0,
		"idmap: alloc");
	UNIT_CHECK(dotpool_idmap_check(m, id, &check) == DOTPOOL_ENOTFOUND,
		"idmap: a live ID has no late-answer check");
	UNIT_CHECK(dotpool_idmap_release_late(m, id, 0) == DOTPOOL_ENOTFOUND &&
		dotpool_idmap_get(m, id, NULL) == DOTPOOL_ID_LIVE,
		"idmap: release_late leaves a live ID alone");
	UNIT_REQUIRE(dotpool_idmap_cancel(m, id, 0xdeadbeef) == 0,
		"idmap: cancel with a check");
	UNIT_CHECK(dotpool_idmap_check(m, id, &check) == 0 &&
		check == 0xdeadbeef, "idmap: the cancelled ID keeps its check");
	UNIT_CHECK(dotpool_idmap_release_late(m, id, 0xdeadbeee) ==
		DOTPOOL_EINVAL, "idmap: a late answer with another check is "
		"refused");
	UNIT_CHECK(dotpool_idmap_get(m, id, NULL) == DOTPOOL_ID_CANCELLED &&
		dotpool_idmap_used(m) == 1 && dotpool_idmap_live(m) == 0,
		"idmap: after a forged late answer the ID stays reserved");
	UNIT_CHECK(dotpool_idmap_release_late(m, id, 0xdeadbeef) == 0 &&
		dotpool_idmap_get(m, id, NULL) == DOTPOOL_ID_FREE &&
		dotpool_idmap_used(m) == 0,
		"idmap: the late answer with the check frees the ID");
	UNIT_CHECK(dotpool_idmap_release_late(m, id, 0xdeadbeef) ==
		DOTPOOL_ENOTFOUND, "idmap: a second late answer finds nothing");
	UNIT_CHECK(dotpool_idmap_check(m, 9, &check) == DOTPOOL_ENOTFOUND,
		"idmap: a free ID has no check");
	/* a re-allocated ID starts without the old check */
	UNIT_REQUIRE(dotpool_idmap_alloc(m, &owner, id, &id) == 0 &&
		dotpool_idmap_cancel(m, id, 7) == 0 &&
		dotpool_idmap_check(m, id, &check) == 0 && check == 7,
		"idmap: a new cancel stores the new check");
	dotpool_idmap_free(m);
}

static void
test_full_with_cancelled(void)
{
	struct dotpool_idmap* m = dotpool_idmap_create(3);
	int owner;
	uint16_t ids[3], extra;
	int i;

	UNIT_REQUIRE(m != NULL, "idmap: created");
	for(i = 0; i < 3; i++)
		UNIT_REQUIRE(dotpool_idmap_alloc(m, &owner, 0xfffe, &ids[i]) ==
			0, "idmap: alloc within capacity");
	UNIT_CHECK(ids[0] == 0xfffe && ids[1] == 0xffff && ids[2] == 0,
		"idmap: probing from a taken start moves on, wrapping at "
		"65535");
	UNIT_CHECK(dotpool_idmap_alloc(m, &owner, 5, &extra) == DOTPOOL_EFULL,
		"idmap: alloc beyond capacity is EFULL");
	UNIT_CHECK(dotpool_idmap_cancel(m, ids[1], 1) == 0,
		"idmap: cancel one");
	UNIT_CHECK(dotpool_idmap_alloc(m, &owner, 5, &extra) == DOTPOOL_EFULL,
		"idmap: a cancelled ID still counts against capacity");
	UNIT_CHECK(dotpool_idmap_release(m, ids[1]) == 0,
		"idmap: release the cancelled ID");
	UNIT_CHECK(dotpool_idmap_alloc(m, &owner, 0xffff, &extra) == 0 &&
		extra == 0xffff, "idmap: its slot and ID are usable again");
	dotpool_idmap_free(m);
}

/** Records what drain passed. */
struct drain_log {
	/** owners seen */
	int seen[64];
	/** how many */
	int n;
	/** IDs matched their owners */
	int ids_ok;
};

/** Owners in the drain test are ints holding their ID. */
static void
drain_cb(void* owner, uint16_t id, void* arg)
{
	struct drain_log* log = arg;
	int* o = owner;

	if(*o != (int)id)
		log->ids_ok = 0;
	if(log->n < 64)
		log->seen[log->n] = *o;
	log->n++;
}

static void
test_drain(void)
{
	struct dotpool_idmap* m = dotpool_idmap_create(64);
	struct drain_log log;
	int owners[40];
	uint32_t seed = 12345;
	uint16_t id;
	int i, cancelled = 0;

	UNIT_REQUIRE(m != NULL, "idmap: created");
	memset(&log, 0, sizeof(log));
	log.ids_ok = 1;
	for(i = 0; i < 40; i++) {
		UNIT_REQUIRE(dotpool_idmap_alloc(m, &owners[i],
			(uint16_t)rnd(&seed), &id) == 0, "idmap: alloc");
		owners[i] = id;
	}
	for(i = 0; i < 40; i += 4) {
		UNIT_REQUIRE(dotpool_idmap_cancel(m, (uint16_t)owners[i], 0) == 0,
			"idmap: cancel");
		cancelled++;
	}
	dotpool_idmap_drain(m, drain_cb, &log);
	UNIT_CHECK(log.n == 40 - cancelled,
		"idmap: drain calls back once per live ID, not for cancelled");
	UNIT_CHECK(log.ids_ok, "idmap: drain passes each owner with its ID");
	UNIT_CHECK(dotpool_idmap_used(m) == 0 && dotpool_idmap_live(m) == 0,
		"idmap: drain empties the table");
	for(i = 0; i < 40; i++)
		UNIT_CHECK(dotpool_idmap_get(m, (uint16_t)owners[i], NULL) ==
			DOTPOOL_ID_FREE, "idmap: every ID free after drain");
	/* The table stays usable; drain without a callback is allowed. */
	UNIT_CHECK(dotpool_idmap_alloc(m, &owners[0], 1, &id) == 0,
		"idmap: alloc after drain");
	dotpool_idmap_drain(m, NULL, NULL);
	UNIT_CHECK(dotpool_idmap_used(m) == 0,
		"idmap: drain with no callback empties the table");
	dotpool_idmap_free(m);
}

/** The check the churn gives each cancelled ID. */
#define CHURN_CHECK(id) ((uint32_t)(id) * 2654435761u)

/**
 * Random alloc/cancel/release churn checked against a plain array model,
 * which exercises removal from the middle of probe runs.
 */
static void
churn(unsigned capacity, int rounds, uint32_t seed)
{
	struct dotpool_idmap* m = dotpool_idmap_create(capacity);
	static uint8_t model[65536];
	static uint16_t held[65535];
	unsigned nheld = 0, live = 0, k;
	int r, bad = 0;
	int owner;

	UNIT_REQUIRE(m != NULL, "idmap: created for churn");
	memset(model, 0, sizeof(model));
	for(r = 0; r < rounds && !bad; r++) {
		uint32_t op = rnd(&seed) % 10;
		if(op < 5 && nheld < capacity) {
			uint16_t id;
			if(dotpool_idmap_alloc(m, &owner, (uint16_t)rnd(&seed),
				&id) != 0 || model[id] != DOTPOOL_ID_FREE) {
				bad = 1;
				break;
			}
			model[id] = DOTPOOL_ID_LIVE;
			held[nheld++] = id;
			live++;
		} else if(op < 7 && nheld > 0) {
			uint16_t id = held[rnd(&seed) % nheld];
			int want = model[id] == DOTPOOL_ID_LIVE ? 0 :
				DOTPOOL_ENOTFOUND;
			if(dotpool_idmap_cancel(m, id, CHURN_CHECK(id)) != want)
				bad = 2;
			if(want == 0) {
				model[id] = DOTPOOL_ID_CANCELLED;
				live--;
			}
		} else if(nheld > 0) {
			unsigned i = rnd(&seed) % nheld;
			uint16_t id = held[i];
			if(dotpool_idmap_release(m, id) != 0)
				bad = 3;
			if(model[id] == DOTPOOL_ID_LIVE)
				live--;
			model[id] = DOTPOOL_ID_FREE;
			held[i] = held[--nheld];
		}
		if(dotpool_idmap_used(m) != nheld ||
			dotpool_idmap_live(m) != live)
			bad = 4;
	}
	UNIT_CHECKF(!bad, "idmap: churn at capacity %u agrees with the model "
		"(failure kind %d at round %d)", capacity, bad, r);
	/* Every held ID must still be found in its recorded state, and a
	 * cancelled one with its check (slots move on removal). */
	for(k = 0; k < nheld && !bad; k++) {
		uint32_t check = 0;
		if(dotpool_idmap_get(m, held[k], NULL) !=
			(enum dotpool_id_state)model[held[k]])
			bad = 5;
		if(model[held[k]] == DOTPOOL_ID_CANCELLED &&
			(dotpool_idmap_check(m, held[k], &check) != 0 ||
			check != CHURN_CHECK(held[k])))
			bad = 6;
	}
	UNIT_CHECKF(!bad, "idmap: after churn at capacity %u every held ID "
		"is found in its state", capacity);
	dotpool_idmap_free(m);
}

static void
test_churn(void)
{
	churn(1, 2000, 1);
	churn(16, 20000, 2);
	churn(128, 50000, 3);
	churn(1000, 50000, 4);
}

static void
test_capacity_max(void)
{
	struct dotpool_idmap* m = dotpool_idmap_create(65535);
	uint32_t seed = 99;
	unsigned i;
	int owner, fail = 0;
	uint16_t id;

	UNIT_REQUIRE(m != NULL, "idmap: capacity 65535 is created");
	for(i = 0; i < 65535; i++) {
		if(dotpool_idmap_alloc(m, &owner, (uint16_t)rnd(&seed), &id)) {
			fail = 1;
			break;
		}
	}
	UNIT_CHECK(!fail, "idmap: 65535 IDs can be reserved at once");
	UNIT_CHECK(dotpool_idmap_alloc(m, &owner, 3, &id) == DOTPOOL_EFULL,
		"idmap: the 65536th is EFULL");
	dotpool_idmap_free(m);
}

static void
test_unpredictable(void)
{
	struct dotpool_idmap* m = dotpool_idmap_create(128);
	uint16_t ids[128];
	uint32_t seed = 4242;
	int i, sequential = 0, owner, distinct = 1, j;

	UNIT_REQUIRE(m != NULL, "idmap: created");
	for(i = 0; i < 128; i++)
		UNIT_REQUIRE(dotpool_idmap_alloc(m, &owner,
			(uint16_t)rnd(&seed), &ids[i]) == 0, "idmap: alloc");
	for(i = 1; i < 128; i++) {
		if(ids[i] == (uint16_t)(ids[i - 1] + 1))
			sequential++;
		for(j = 0; j < i; j++)
			if(ids[j] == ids[i])
				distinct = 0;
	}
	UNIT_CHECK(distinct, "idmap: IDs in flight are distinct");
	/* With random starts, consecutive allocations landing on
	 * consecutive IDs is rare; a counter-based allocator would hit it
	 * every time. */
	UNIT_CHECKF(sequential < 4, "idmap: IDs are not sequential (%d of "
		"127 consecutive)", sequential);
	/* The ID follows the caller's start: a free start is used as is. */
	for(i = 0; i < 128; i++)
		dotpool_idmap_release(m, ids[i]);
	seed = 4242;
	for(i = 0; i < 16; i++) {
		uint16_t want = (uint16_t)rnd(&seed), got;
		UNIT_CHECK(dotpool_idmap_alloc(m, &owner, want, &got) == 0 &&
			got == want, "idmap: the ID is the random start when "
			"free");
	}
	dotpool_idmap_free(m);
}

int
main(void)
{
	static const struct unit_test tests[] = {
		{ "create bounds", test_create_bounds },
		{ "lifecycle", test_lifecycle },
		{ "full with cancelled", test_full_with_cancelled },
		{ "late answer check", test_late_answer_check },
		{ "drain", test_drain },
		{ "churn against a model", test_churn },
		{ "capacity 65535", test_capacity_max },
		{ "unpredictable IDs", test_unpredictable },
		{ NULL, NULL }
	};
	return unit_run("idmap", tests);
}
