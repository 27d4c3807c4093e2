/* Hand-off of closed hours from a shard thread to the consumer that writes
 * them to the ledger: a bounded FIFO (mutex + condition variables). Only
 * window closes go through it, never single events, so the lock is taken a
 * few times per hour. A full queue makes push wait at most timeout_ms and
 * report MTR_ERR_TIMEOUT, so a shard never blocks longer than it chose.
 *
 * Ownership: push transfers the item's table to the queue; pop transfers it
 * to the caller, who frees it with mtr_agg_table_free. mtr_agg_handoff_free
 * frees tables still queued. Threads: any number of pushers and poppers. */
#ifndef MTR_AGG_HANDOFF_H
#define MTR_AGG_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#include "aggregate/table.h"
#include "core/err.h"

typedef struct mtr_agg_closed {
    mtr_agg_table_t *table; /* the closed hour's keys (owned by the holder) */
    int64_t hour_ms;
    int shard;
    void *user; /* caller's context (e.g. checkpoint to write) */
} mtr_agg_closed_t;

typedef struct mtr_agg_handoff mtr_agg_handoff_t;

mtr_agg_handoff_t *mtr_agg_handoff_new(size_t capacity);
void mtr_agg_handoff_free(mtr_agg_handoff_t *q);

/* Waits up to timeout_ms (0: not at all, <0: forever) for room.
 * MTR_ERR_TIMEOUT: still full, the item stays with the caller.
 * MTR_ERR_STATE: the queue is shut down. */
mtr_err_t mtr_agg_handoff_push(mtr_agg_handoff_t *q, const mtr_agg_closed_t *item,
                               int64_t timeout_ms);
/* Waits up to timeout_ms for an item. MTR_ERR_TIMEOUT: none came;
 * MTR_ERR_STATE: shut down and drained. */
mtr_err_t mtr_agg_handoff_pop(mtr_agg_handoff_t *q, mtr_agg_closed_t *out, int64_t timeout_ms);
/* Wakes every waiter; later pushes fail, pops drain what is left. */
void mtr_agg_handoff_shutdown(mtr_agg_handoff_t *q);
size_t mtr_agg_handoff_length(mtr_agg_handoff_t *q);

#endif
