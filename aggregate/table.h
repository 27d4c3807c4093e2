/* The hour table: one per (shard, open hour). It sums pre-decoded usage per
 * key (partition, scope, customer, dimension); the hour is the table's own,
 * so closing an hour hands the whole table over in O(1) (see shard.h).
 *
 * Layout (why it is fast and small):
 *   - keys live in a dense array of 40-byte entries, allocated in fixed
 *     chunks (never moved or copied as the table grows), so iteration at
 *     close is a linear walk and an entry's index is a stable key id;
 *   - an open-addressing index (linear probing) of 8-byte slots holds a
 *     32-bit XXH3 fingerprint plus the entry index, so a probe that meets a
 *     different key almost never touches the entry;
 *   - the index grows incrementally: past 3/4 load a twice-as-large index is
 *     allocated and each update migrates a few old slots (Redis dictRehash
 *     style); lookups consult both until the migration is done, so no single
 *     update pays for the whole rehash;
 *   - customer identifiers and tag sets are interned once per table
 *     (strings.h); an entry stores a 32-bit string id;
 *   - tagged events also feed a side table keyed by (entry, tag set) that
 *     keeps the per-tag-set subtotals AWS reports as UsageAllocations.
 *     Untagged keys pay nothing for it.
 * Per-partition state (smallest offset in the window, for the commit offset)
 * is kept per (partition, hour) by the window rules, not per key.
 *
 * Batch updates hash a block of updates, prefetch their index slots, then
 * their entries, and only then apply them: a key that
 * is not in cache costs one DRAM miss, and the block overlaps those misses.
 *
 * Ownership: the creator frees with mtr_agg_table_free (a closed hour's
 * table is freed by the close once its contributions are in the ledger).
 * Threads: one thread updates a table (its shard); a close takes it while
 * that thread is parked and only then reads it. No locks inside. */
#ifndef MTR_AGG_TABLE_H
#define MTR_AGG_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregate/dedupe.h"
#include "core/config.h"

#define MTR_AGG_CUSTOMER_MAX 255u      /* longest customer identifier, bytes */
#define MTR_AGG_TAGSET_MAX   4096u     /* longest canonical tag set, bytes */
#define MTR_AGG_UNITS        1000000LL /* micro-units per unit of quantity */

/* One pre-decoded event. Pointers are borrowed for the call only: the table
 * copies what it keeps. */
typedef struct mtr_agg_update {
    const char *customer; /* not NUL-terminated; customer_len <= 255 */
    const char *tagset;   /* canonical tag set (same set -> same bytes,
                             e.g. keys sorted), or NULL: untagged */
    int64_t quantity;     /* micro-units (1 unit = 1,000,000) */
    int64_t time_ms;      /* event time, Unix ms (used by `latest`) */
    uint32_t scope;       /* product / license id interned by the caller */
    int32_t partition;
    uint16_t dimension; /* dimension index within the scope */
    uint16_t customer_len;
    uint16_t tagset_len;         /* <= MTR_AGG_TAGSET_MAX */
    uint8_t aggregation;         /* mtr_aggregation_t of the dimension */
    uint8_t customer_is_account; /* 1: CustomerAWSAccountId, 0: CustomerIdentifier */
} mtr_agg_update_t;

/* A key with its aggregate, as seen by readers (close, tests). */
typedef struct mtr_agg_key {
    const char *customer; /* valid while the table lives */
    size_t customer_len;
    bool customer_is_account;
    int32_t partition;
    uint32_t scope;
    uint16_t dimension;
    mtr_aggregation_t aggregation;
    int64_t value;   /* micro-units: sum, count x 1e6, max or latest */
    int64_t time_ms; /* latest: time of the value; others: newest event */
    uint64_t count;  /* events folded in */
    bool overflowed; /* the sum saturated: report, never bill blindly */
    bool tagged;     /* some events had tags: see allocations */
} mtr_agg_key_t;

/* A per-tag-set subtotal of one key (same aggregation as its key). */
typedef struct mtr_agg_allocation {
    uint32_t key_index; /* index of the key (mtr_agg_table_key) */
    const char *tagset;
    size_t tagset_len;
    int64_t value;
    int64_t time_ms;
    uint64_t count;
    bool overflowed;
} mtr_agg_allocation_t;

typedef struct mtr_agg_table mtr_agg_table_t;

/* expected_keys sizes the first index (0: a small default). */
mtr_agg_table_t *mtr_agg_table_new(int64_t hour_ms, size_t expected_keys);
void mtr_agg_table_free(mtr_agg_table_t *table);
int64_t mtr_agg_table_hour(const mtr_agg_table_t *table);
/* The event ids this (partition, hour) has seen (aggregate/dedupe.h); lives
 * and dies with the table. */
mtr_agg_dedupe_t *mtr_agg_table_seen(mtr_agg_table_t *table);

/* Folds one event into its key, creating it on first sight. Callers have
 * validated the event (quantity >= 0, lengths within bounds). */
void mtr_agg_table_update(mtr_agg_table_t *table, const mtr_agg_update_t *update);
/* The same for n events, with prefetching; the hot path. */
void mtr_agg_table_update_batch(mtr_agg_table_t *table, const mtr_agg_update_t *updates, size_t n);

/* Keys are numbered 0..count-1 in order of first sight; the index is stable
 * for the life of the table (iteration at close walks it). */
size_t mtr_agg_table_count(const mtr_agg_table_t *table);
void mtr_agg_table_key(const mtr_agg_table_t *table, size_t index, mtr_agg_key_t *out);
size_t mtr_agg_table_allocation_count(const mtr_agg_table_t *table);
void mtr_agg_table_allocation(const mtr_agg_table_t *table, size_t index,
                              mtr_agg_allocation_t *out);

/* Finds the key of an update (its tagset and quantity are ignored); returns
 * false when absent. */
bool mtr_agg_table_find(const mtr_agg_table_t *table, const mtr_agg_update_t *key,
                        mtr_agg_key_t *out);

/* Memory: table_bytes = entries + index (old and new while growing) + side
 * table; string_bytes = interned customers and tag sets with their set. */
void mtr_agg_table_memory(const mtr_agg_table_t *table, size_t *table_bytes, size_t *string_bytes);
/* True while an index migration is in progress (tests, metrics). */
bool mtr_agg_table_growing(const mtr_agg_table_t *table);

/* Test hook: replace the key hash (e.g. to force collisions). Set before the
 * first update. NULL restores XXH3. */
typedef uint64_t (*mtr_agg_hash_fn)(const mtr_agg_update_t *key, void *arg);
void mtr_agg_table_set_hash(mtr_agg_table_t *table, mtr_agg_hash_fn fn, void *arg);

#endif
