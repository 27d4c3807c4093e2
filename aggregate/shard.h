/* A shard's open hours: one hour table per open (effective) hour, so closing
 * an hour is taking its table out, O(1), and the shard goes on with the
 * other tables untouched (no stall at close). Updates carry the effective
 * hour the window rules gave them.
 *
 * Ownership: the shard owns its tables until mtr_agg_shard_take hands one
 * out. Threads: one thread (the shard's). */
#ifndef MTR_AGG_SHARD_H
#define MTR_AGG_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "aggregate/table.h"

typedef struct mtr_agg_shard mtr_agg_shard_t;

/* expected_keys sizes the first hour tables (0: a small default); once an
 * hour has been taken, new tables are sized for as many keys as it had. */
mtr_agg_shard_t *mtr_agg_shard_new(int id, size_t expected_keys);
void mtr_agg_shard_free(mtr_agg_shard_t *shard);
int mtr_agg_shard_id(const mtr_agg_shard_t *shard);

/* The table of hour_ms, created on first use. */
mtr_agg_table_t *mtr_agg_shard_table(mtr_agg_shard_t *shard, int64_t hour_ms);
/* Applies updates[i] to the table of hours[i]; runs of one hour go to the
 * table's batch path. */
void mtr_agg_shard_update_batch(mtr_agg_shard_t *shard, const int64_t *hours,
                                const mtr_agg_update_t *updates, size_t n);
/* events.dedupe: checks an event-id hash against the ids hour_ms has seen
 * (aggregate/dedupe.h), creating the hour's table on first use. */
mtr_agg_seen_t mtr_agg_shard_check_id(mtr_agg_shard_t *shard, int64_t hour_ms, uint64_t hash,
                                      size_t budget);
/* Removes and returns the table of hour_ms (NULL if the hour has no table);
 * the caller owns it. */
mtr_agg_table_t *mtr_agg_shard_take(mtr_agg_shard_t *shard, int64_t hour_ms);
/* Open hours, ascending; returns how many there are (writes at most max). */
size_t mtr_agg_shard_hours(const mtr_agg_shard_t *shard, int64_t *out, size_t max);

#endif
