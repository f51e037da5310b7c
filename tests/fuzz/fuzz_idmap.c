/**
 * \file
 * Fuzz target: the per-connection ID table (module/idmap.c) that answer
 * matching relies on, under a fuzzer-chosen sequence of alloc, lookup,
 * release, cancel and drain, against a flat 65536-entry model. Alloc must
 * return the first unreserved ID at or after its start (so it is as random
 * as the start), respect the capacity, and never hand out a reserved ID;
 * lookups must give the model's state and owner (a cancelled ID has none);
 * release/cancel must fail exactly when the model says; drain must report
 * each live owner once. The backward-shift delete is what this exercises
 * most: an ID lost or duplicated by it shows up as a wrong lookup.
 *
 * The model is reset per run through the list of IDs the run touched, not
 * by clearing 64K entries, so that short runs stay fast.
 *
 * Input: the capacity (1 byte: 1..255 as a connection's max-inflight would
 * be; 0xff: 2 more bytes, up to 65535), then 3-byte operations: op, ID (op bit 7:
 * the ID is the last one allocated, low bits of the ID byte flipped, so
 * operations hit reserved IDs).
 */
#include "dotpool/error.h"
#include "dotpool/idmap.h"
#include "fuzz.h"

/** Most IDs whose model entry is cross-checked at the end. */
#define TOUCH_MAX 4096

/** The model. */
static uint8_t st[65536];
/** Owners of live IDs in the model. */
static uintptr_t own[65536];
/** the check each cancelled ID was given (a function of the ID and the
 * input, so a slot that moves must carry it along) */
static uint32_t chk[65536];

/** drain's bookkeeping. */
struct drained {
	/** live owners reported */
	unsigned n;
	/** set when an owner did not match the model */
	int bad;
};

/** drain callback: each call must be a live ID of the model. */
static void
drain_cb(void* owner, uint16_t id, void* arg)
{
	struct drained* d = arg;

	if(st[id] != DOTPOOL_ID_LIVE || own[id] != (uintptr_t)owner)
		d->bad = 1;
	st[id] = DOTPOOL_ID_FREE;
	own[id] = 0;
	d->n++;
}

/** IDs the run touched (every reserved ID is among them). */
static uint16_t touched[TOUCH_MAX];
/** How many. */
static unsigned ntouch;
/** Set when more were touched than the list holds. */
static int overflow;

/** Note an ID the model may hold. */
static void
touch(uint16_t id)
{
	if(ntouch < TOUCH_MAX)
		touched[ntouch++] = id;
	else
		overflow = 1;
}

/** Empty the model; cheap when the run touched few IDs. */
static void
model_reset(void)
{
	unsigned i;

	if(overflow) {
		memset(st, 0, sizeof(st));
		memset(own, 0, sizeof(own));
	} else {
		for(i = 0; i < ntouch; i++) {
			st[touched[i]] = 0;
			own[touched[i]] = 0;
		}
	}
}

/** Check one ID against the model. */
static void
check_id(const struct dotpool_idmap* m, uint16_t id)
{
	void* owner = (void*)1;
	enum dotpool_id_state s = dotpool_idmap_get(m, id, &owner);

	FUZZ_CHECK(s == (enum dotpool_id_state)st[id], "idmap: state");
	FUZZ_CHECK((uintptr_t)owner == (s == DOTPOOL_ID_LIVE ? own[id] : 0),
		"idmap: owner of a live ID, NULL otherwise");
	if(s == DOTPOOL_ID_CANCELLED) {
		uint32_t c = 0;
		FUZZ_CHECK(dotpool_idmap_check(m, id, &c) == 0 && c == chk[id],
			"idmap: a cancelled ID keeps its check");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
	struct fuzz_in in = { data, size };
	struct dotpool_idmap* m;
	unsigned cap, used = 0, live = 0, i;
	uint16_t last = 0;
	uintptr_t next_owner = 1;
	unsigned drains = 0;

	cap = fuzz_u8(&in);
	if(cap == 0xff)
		cap = 1 + fuzz_u16(&in) % 65535;
	else
		cap += 1;
	m = dotpool_idmap_create(cap);
	FUZZ_CHECK(m != NULL, "idmap: create");
	FUZZ_CHECK(dotpool_idmap_capacity(m) == cap, "idmap: capacity");
	/* the model is empty: the previous run reset it */
	ntouch = 0;
	overflow = 0;
	while(in.left > 0) {
		uint8_t op = fuzz_u8(&in);
		uint16_t id = fuzz_u16(&in);
		int ret;

		if(op & 0x80)
			id = (uint16_t)(last ^ (id & 0x0f));
		touch(id);
		switch(op % 5) {
		case 0: {
			uint16_t got = 0, want = id;
			ret = dotpool_idmap_alloc(m, (void*)next_owner, id,
				&got);
			if(used >= cap) {
				FUZZ_CHECK(ret == DOTPOOL_EFULL,
					"idmap: alloc refused when full");
				break;
			}
			FUZZ_CHECK(ret == 0, "idmap: alloc below capacity");
			while(st[want] != DOTPOOL_ID_FREE)
				want++;
			FUZZ_CHECK(got == want,
				"idmap: first free ID from the start");
			st[got] = DOTPOOL_ID_LIVE;
			own[got] = next_owner++;
			used++;
			live++;
			last = got;
			touch(got);
			break;
		}
		case 1:
			check_id(m, id);
			break;
		case 2:
			ret = dotpool_idmap_release(m, id);
			if(st[id] == DOTPOOL_ID_FREE) {
				FUZZ_CHECK(ret == DOTPOOL_ENOTFOUND,
					"idmap: release of a free ID fails");
				break;
			}
			FUZZ_CHECK(ret == 0, "idmap: release");
			if(st[id] == DOTPOOL_ID_LIVE)
				live--;
			used--;
			st[id] = DOTPOOL_ID_FREE;
			own[id] = 0;
			break;
		case 3:
			ret = dotpool_idmap_cancel(m, id,
				(uint32_t)id * 2654435761u ^ (uint32_t)op);
			if(st[id] != DOTPOOL_ID_LIVE) {
				FUZZ_CHECK(ret == DOTPOOL_ENOTFOUND,
					"idmap: cancel of a non-live ID fails");
				break;
			}
			FUZZ_CHECK(ret == 0, "idmap: cancel");
			chk[id] = (uint32_t)id * 2654435761u ^ (uint32_t)op;
			st[id] = DOTPOOL_ID_CANCELLED;
			own[id] = 0;
			live--;
			break;
		case 4:
			/* rare, and once per run (as when a connection
			 * closes): a drain walks every slot, which would
			 * dominate the run time if the fuzzer repeated it */
			if((id & 0xff) != 0 || drains++ > 0) {
				check_id(m, id);
				break;
			} else {
				struct drained d = { 0, 0 };
				dotpool_idmap_drain(m, drain_cb, &d);
				FUZZ_CHECK(!d.bad, "idmap: drain reports live "
					"owners");
				FUZZ_CHECK(d.n == live,
					"idmap: drain reports each live ID");
				/* cancelled IDs went too */
				model_reset();
				used = live = 0;
			}
			break;
		}
		FUZZ_CHECK(dotpool_idmap_used(m) == used, "idmap: used count");
		FUZZ_CHECK(dotpool_idmap_live(m) == live, "idmap: live count");
	}
	for(i = 0; i < ntouch; i++)
		check_id(m, touched[i]);
	dotpool_idmap_free(m);
	model_reset();
	return 0;
}
