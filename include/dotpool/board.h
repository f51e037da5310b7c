/**
 * \file
 * The health board: what one worker thread learned about an upstream's
 * health, visible to the others. Each worker keeps its own connections and
 * health state (lock-free); when one of them finds an upstream failing, it
 * posts "avoid until T" here, so the other workers skip that upstream too
 * instead of each paying for the same outage with timed-out queries. Any
 * answer from the upstream, on any worker, clears the post.
 *
 * Slots are found by the upstream's whole label (addr@port#name, and the
 * profile when opportunistic: its identity, never cut short) under a mutex
 * when a worker first meets the upstream; after that they are read and
 * written with atomics only. Slots are never freed while the board lives.
 */
#ifndef DOTPOOL_BOARD_H
#define DOTPOOL_BOARD_H
#include <stddef.h>
#include <stdint.h>

/** The board; one per loaded module. */
struct dotpool_board;
/** One upstream's post. */
struct dotpool_board_slot;

/** Upstreams the board can hold; later ones are simply not shared. */
#define DOTPOOL_BOARD_SLOTS 256

/** @return a new, empty board, or NULL when out of memory. */
struct dotpool_board* dotpool_board_create(void);

/** @return bytes the board takes (0 for NULL). */
size_t dotpool_board_mem(const struct dotpool_board* b);

/** Free the board (no worker may use its slots any more). NULL is ok. */
void dotpool_board_free(struct dotpool_board* b);

/**
 * The slot of an upstream, created on first use.
 * @param b: the board, or NULL.
 * @param label: the upstream's label (copied), compared in full.
 * @return the slot, or NULL (no board, board full, out of memory).
 */
struct dotpool_board_slot* dotpool_board_slot(struct dotpool_board* b,
	const char* label);

/** Post: avoid the upstream until this monotonic µs (keeps the later of
 * this and an earlier post). NULL slot is a no-op. */
void dotpool_board_avoid(struct dotpool_board_slot* s, uint64_t until_us);

/** The upstream answered: clear the post. NULL slot is a no-op. */
void dotpool_board_clear(struct dotpool_board_slot* s);

/**
 * The zone an upstream is labelled with in metrics, the same on every
 * worker: the first zone any worker reported for it.
 * @param s: the slot, or NULL (then zone itself is returned).
 * @param zone: the zone this worker uses the upstream for.
 * @return the label's zone (owned by the board, lives as long as it), or
 *	zone when there is no slot or no memory.
 */
const char* dotpool_board_zone(struct dotpool_board_slot* s,
	const char* zone);

/** @return monotonic µs until which the upstream is to be avoided, 0 when
 * nothing is posted. NULL slot gives 0. */
uint64_t dotpool_board_avoid_until(const struct dotpool_board_slot* s);

#endif /* DOTPOOL_BOARD_H */
