/* The open-addressing index shared by the hour table, its tag side table and
 * the string set: 8-byte slots (32-bit hash fingerprint, 1-based item
 * number; 0 = empty, so a fresh calloc'd array needs no initialising pass),
 * linear probing from fingerprint & mask.
 *
 * Growth is incremental. Past 3/4 load a twice-as-large array is allocated
 * and the old one becomes read-only; every later insert or update calls
 * mtr_agg_ix_migrate with a small budget that copies old slots in order.
 * Lookups probe the new array, then the old one: a key found in the old
 * array at a slot not yet copied is simply not in the new one yet, and one
 * at a copied slot is found in the new one, so each key is seen once.
 * Migration finishes well before the new array fills (4 slots per update
 * against 0.75 x old-size inserts of headroom), so no call ever rehashes the
 * whole table.
 *
 * The project's one hash index: the ledger indexes the rows of a close
 * with it too (ledger/ledger_map.c). Items are the caller's (an index into
 * its own array); the index holds no keys, so EQ compares the caller's
 * items. Single-threaded. */
#ifndef MTR_AGG_INDEX_H
#define MTR_AGG_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/mem.h"

typedef struct mtr_agg_slot {
    uint32_t fp;   /* low 32 bits of the key's hash */
    uint32_t item; /* item number + 1; 0 = empty */
} mtr_agg_slot_t;

typedef struct mtr_agg_ix {
    mtr_agg_slot_t *slots; /* current array (inserts go here) */
    size_t mask;
    mtr_agg_slot_t *old; /* array being migrated from, or NULL */
    size_t old_mask;
    size_t migrate_pos; /* old slots below this are copied */
    size_t used;        /* items in the index */
} mtr_agg_ix_t;

#define MTR_AGG_IX_MIGRATE_PER_OP 4

static inline void mtr_agg_ix_init(mtr_agg_ix_t *ix, size_t expected)
{
    size_t cap = 16;
    while (cap * 3 < expected * 4 + 4)
        cap <<= 1;
    memset(ix, 0, sizeof *ix);
    ix->slots = (mtr_agg_slot_t *)mtr_calloc(cap, sizeof(mtr_agg_slot_t));
    ix->mask = cap - 1;
}

static inline void mtr_agg_ix_free(mtr_agg_ix_t *ix)
{
    mtr_free(ix->slots);
    mtr_free(ix->old);
    memset(ix, 0, sizeof *ix);
}

static inline size_t mtr_agg_ix_bytes(const mtr_agg_ix_t *ix)
{
    size_t b = (ix->mask + 1) * sizeof(mtr_agg_slot_t);
    if (ix->old)
        b += (ix->old_mask + 1) * sizeof(mtr_agg_slot_t);
    return b;
}

static inline void mtr_agg_ix_place(mtr_agg_slot_t *slots, size_t mask, uint32_t fp, uint32_t item1)
{
    size_t pos = fp & mask;
    while (slots[pos].item != 0)
        pos = (pos + 1) & mask;
    slots[pos].fp = fp;
    slots[pos].item = item1;
}

/* Copies up to budget old slots into the new array. */
static inline void mtr_agg_ix_migrate(mtr_agg_ix_t *ix, size_t budget)
{
    if (!ix->old)
        return;
    size_t end = ix->migrate_pos + budget;
    if (end > ix->old_mask + 1)
        end = ix->old_mask + 1;
    for (size_t i = ix->migrate_pos; i < end; i++) {
        mtr_agg_slot_t s = ix->old[i];
        if (s.item != 0)
            mtr_agg_ix_place(ix->slots, ix->mask, s.fp, s.item);
    }
    ix->migrate_pos = end;
    if (end == ix->old_mask + 1) {
        mtr_free(ix->old);
        ix->old = NULL;
        ix->old_mask = 0;
        ix->migrate_pos = 0;
    }
}

/* Inserts an item known to be absent, starting a migration when the load
 * passes 3/4. */
static inline void mtr_agg_ix_insert(mtr_agg_ix_t *ix, uint32_t fp, uint32_t item)
{
    mtr_agg_ix_place(ix->slots, ix->mask, fp, item + 1);
    ix->used++;
    if (ix->used * 4 > (ix->mask + 1) * 3) {
        /* Cannot happen with the per-op budget; finishing keeps it correct
         * if a caller ever skips migrating. */
        if (ix->old)
            mtr_agg_ix_migrate(ix, ix->old_mask + 1);
        ix->old = ix->slots;
        ix->old_mask = ix->mask;
        ix->migrate_pos = 0;
        ix->mask = ix->mask * 2 + 1;
        ix->slots = (mtr_agg_slot_t *)mtr_calloc(ix->mask + 1, sizeof(mtr_agg_slot_t));
    }
}

static inline void mtr_agg_ix_prefetch(const mtr_agg_ix_t *ix, uint32_t fp)
{
    __builtin_prefetch(&ix->slots[fp & ix->mask], 0, 3);
}

/* One probe run over slots/mask from FP's home slot: sets RESULT to the
 * first item whose fingerprint is FP and that EQ(CTX, item) accepts, and
 * leaves RESULT alone when an empty slot comes first. */
#define MTR_AGG_IX_PROBE_(SLOTS, MASK, FP, EQ, CTX, RESULT)                                        \
    do {                                                                                           \
        size_t pos_ = (FP) & (MASK);                                                               \
        for (;;) {                                                                                 \
            mtr_agg_slot_t s_ = (SLOTS)[pos_];                                                     \
            if (s_.item == 0)                                                                      \
                break;                                                                             \
            if (s_.fp == (FP) && EQ((CTX), s_.item - 1)) {                                         \
                (RESULT) = s_.item - 1;                                                            \
                break;                                                                             \
            }                                                                                      \
            pos_ = (pos_ + 1) & (MASK);                                                            \
        }                                                                                          \
    } while (0)

#define MTR_AGG_IX_ANY_(CTX, ITEM) 1

/* The first item in the current array whose fingerprint matches (a
 * prefetch hint only: it may be another key), or UINT32_MAX. */
static inline uint32_t mtr_agg_ix_first_candidate(const mtr_agg_ix_t *ix, uint32_t fp)
{
    uint32_t item = UINT32_MAX;
    MTR_AGG_IX_PROBE_(ix->slots, ix->mask, fp, MTR_AGG_IX_ANY_, NULL, item);
    return item;
}

/* Finds the item whose key EQ(ctx, item) accepts, or UINT32_MAX: in the
 * current array, then in the one being migrated from. EQ is a macro-like
 * inline predicate so each user gets a specialised probe loop. */
#define MTR_AGG_IX_FIND(IX, FP, EQ, CTX, RESULT)                                                   \
    do {                                                                                           \
        const mtr_agg_ix_t *ix_ = (IX);                                                            \
        uint32_t fp_ = (FP);                                                                       \
        (RESULT) = UINT32_MAX;                                                                     \
        MTR_AGG_IX_PROBE_(ix_->slots, ix_->mask, fp_, EQ, CTX, RESULT);                            \
        if ((RESULT) == UINT32_MAX && ix_->old)                                                    \
            MTR_AGG_IX_PROBE_(ix_->old, ix_->old_mask, fp_, EQ, CTX, RESULT);                      \
    } while (0)

#endif
