/**
 * \file
 * A query under a TLS forward zone, as the module's entry points see it
 * (glue: Unbound's types). The state lives in qstate->minfo[id].
 */
#ifndef DOTPOOL_QUERY_H
#define DOTPOOL_QUERY_H
#include "module/glue/glue.h"

struct dotpool_q;

/**
 * Decide whether dotpool serves this query and set it up.
 * @param w: the worker of this thread.
 * @param qstate: the query.
 * @param id: our module id.
 * @return the new per-query state, or NULL to pass the query on.
 */
struct dotpool_q* dotpool_query_claim(struct dotpool_worker* w,
	struct module_qstate* qstate, int id);

/** Run a claimed query after a new/pass event. */
void dotpool_query_start(struct dotpool_q* dq);

/** Whether an attempt of the query is on the wire (its answer, not the
 * event at hand, wakes the query). */
int dotpool_query_waiting(const struct dotpool_q* dq);

/** Handle the result of an attempt (reply/noreply event). */
void dotpool_query_result(struct dotpool_q* dq);

/** Forget a query: cancel what is in flight. */
void dotpool_query_clear(struct dotpool_q* dq);

#endif /* DOTPOOL_QUERY_H */
