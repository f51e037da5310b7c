/**
 * \file
 * Shared by the two halves of the connection only: its lifecycle
 * (module/conn.c) and its stream (module/conn_stream.c). Everyone else uses
 * module/conn.h.
 */
#ifndef DOTPOOL_MODULE_CONN_INT_H
#define DOTPOOL_MODULE_CONN_INT_H
#include <stdint.h>
#include "conn.h"

/** The only writer of a connection's state (conn.c); 0 or DOTPOOL_EINVAL
 * for a step backwards. */
int dotpool_conn_set_state(struct dotpool_conn* c, enum dotpool_conn_state n);

/** Whether the connection carries queries (READY or DRAINING: answers may
 * arrive). */
int conn_open_for_io(const struct dotpool_conn* c);

/** Arm the write event exactly while something waits for a writable
 * socket (conn.c). */
void conn_interest(struct dotpool_conn* c);

/** Close, and tell the owner how it ended (struct dotpool_conn_end). */
void conn_end(struct dotpool_conn* c, int err, int failure,
	uint64_t peer_idle_ms, unsigned kept_idle_ms);

/** Write as much of the queue as the socket takes (conn_stream.c). */
void conn_flush(struct dotpool_conn* c);

/** Read and deliver answers until the socket has nothing more or the
 * read budget is spent (conn_stream.c). */
void conn_read(struct dotpool_conn* c);

#endif /* DOTPOOL_MODULE_CONN_INT_H */
