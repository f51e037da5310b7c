/**
 * \file
 * Per-connection table of DNS message IDs in flight. An ID is "live" while
 * its query waits for the answer, and "cancelled" after the query went away
 * (timeout, client gone): a cancelled ID stays reserved until its late answer
 * arrives or the connection closes, so that a stale answer can never match a
 * new query.
 */
#ifndef DOTPOOL_IDMAP_H
#define DOTPOOL_IDMAP_H
#include <stddef.h>
#include <stdint.h>

/** State of an ID in the table. */
enum dotpool_id_state {
	/** not in use */
	DOTPOOL_ID_FREE = 0,
	/** a query waits for this answer */
	DOTPOOL_ID_LIVE,
	/** the query went away; the ID is reserved until the answer comes */
	DOTPOOL_ID_CANCELLED
};

/** Name of an ID state for logs. */
const char* dotpool_id_state_str(enum dotpool_id_state s);

struct dotpool_idmap;

/**
 * Create a table.
 * @param capacity: most IDs reserved at once (live + cancelled), 1..65535.
 * @return the table or NULL.
 */
struct dotpool_idmap* dotpool_idmap_create(unsigned capacity);

/** Free a table; m may be NULL. Owners are not touched. */
void dotpool_idmap_free(struct dotpool_idmap* m);

/**
 * Reserve an unused ID for owner. The search starts at `start` (give a
 * random value) and probes onward, so the result is as unpredictable as
 * `start`.
 * @param m: the table.
 * @param owner: non-NULL pointer returned by lookups (borrowed).
 * @param start: where to start looking.
 * @param id: returns the ID.
 * @return 0 or DOTPOOL_EFULL when capacity IDs are reserved.
 */
int dotpool_idmap_alloc(struct dotpool_idmap* m, void* owner, uint16_t start,
	uint16_t* id);

/**
 * State of an ID.
 * @param m: the table.
 * @param id: the ID.
 * @param owner: if not NULL, returns the owner of a live ID (else NULL).
 * @return its state.
 */
enum dotpool_id_state dotpool_idmap_get(const struct dotpool_idmap* m,
	uint16_t id, void** owner);

/**
 * Release an ID (answer arrived, connection reset). A late answer for a
 * cancelled ID releases it with dotpool_idmap_release_late instead.
 * @return 0 or DOTPOOL_ENOTFOUND if the ID was free.
 */
int dotpool_idmap_release(struct dotpool_idmap* m, uint16_t id);

/**
 * Cancel a live ID: its owner is forgotten, the ID stays reserved, and
 * the table keeps `check` (a hash of the query's question) so that only
 * the late answer to that question releases it.
 * @param m: the table.
 * @param id: the ID.
 * @param check: what a late answer must show (dotpool_wire_question_hash).
 * @return 0 or DOTPOOL_ENOTFOUND if it was not live.
 */
int dotpool_idmap_cancel(struct dotpool_idmap* m, uint16_t id,
	uint32_t check);

/**
 * The check a cancelled ID keeps.
 * @param m: the table.
 * @param id: the ID.
 * @param check: returns it.
 * @return 0 or DOTPOOL_ENOTFOUND if the ID is not cancelled.
 */
int dotpool_idmap_check(const struct dotpool_idmap* m, uint16_t id,
	uint32_t* check);

/**
 * A late answer came for a cancelled ID: release it, but only when the
 * answer shows the check given at cancel. A forged answer with the right
 * ID must not free an ID the real late answer may still come for (it
 * could then match a new query that got the ID).
 * @param m: the table.
 * @param id: the ID.
 * @param check: the answer's (dotpool_wire_question_hash of the answer).
 * @return 0, DOTPOOL_ENOTFOUND if the ID is not cancelled, or
 *	DOTPOOL_EINVAL if the check differs (the ID stays reserved).
 */
int dotpool_idmap_release_late(struct dotpool_idmap* m, uint16_t id,
	uint32_t check);

/** IDs live. */
unsigned dotpool_idmap_live(const struct dotpool_idmap* m);

/** IDs reserved (live + cancelled). */
unsigned dotpool_idmap_used(const struct dotpool_idmap* m);

/** Capacity given at create. */
unsigned dotpool_idmap_capacity(const struct dotpool_idmap* m);

/** Bytes the table uses (for get_mem); m may be NULL (0). */
size_t dotpool_idmap_mem(const struct dotpool_idmap* m);

/**
 * Remove every ID, calling fn for each live one (the owner may be freed or
 * re-queued by fn; fn must not touch the table).
 * @param m: the table.
 * @param fn: called with (owner, id, arg); may be NULL.
 * @param arg: passed to fn.
 */
void dotpool_idmap_drain(struct dotpool_idmap* m,
	void (*fn)(void* owner, uint16_t id, void* arg), void* arg);

#endif /* DOTPOOL_IDMAP_H */
