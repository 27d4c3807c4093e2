/* Internals of closing hours, shared by close.c (taking due hours out of
 * the parked workers, writing and committing them) and contributions.c
 * (turning the taken hour tables into ledger contributions). One thread:
 * the ingest coordinator. */
#ifndef MTR_INGEST_CLOSE_INT_H
#define MTR_INGEST_CLOSE_INT_H

#include <stdint.h>

#include "core/strpool.h"
#include "ledger/ledger.h"
#include "ingest/ingest_int.h"

#define COMMIT_META_BYTES 1024

typedef struct part_close {
    mtr_ingest_slot_t *slot;
    mtr_ingest_worker_t *worker;
    mtr_agg_table_t **tables; /* closed hours of this partition (may be NULL) */
    size_t n_tables;
    int64_t commit_offset;
    char meta[COMMIT_META_BYTES];
} part_close_t;

typedef struct close_batch {
    part_close_t *parts;
    size_t n_parts;
    mtr_ledger_close_entry_t *entries;
    size_t n_entries, cap_entries;
    mtr_ledger_contribution_t *contribs;
    size_t n_contribs, cap_contribs;
    size_t *tag_start; /* per contribution: first tag in tags[], or SIZE_MAX */
    size_t cap_tag_start;
    mtr_record_tag_t *tags; /* may move while growing: linked up by link_tags */
    size_t n_tags, cap_tags;
    mtr_strpool_t pool;          /* NUL-terminated copies for the ledger call */
    mtr_ingest_scope_t **scopes; /* per worker: snapshot of its scope table */
    size_t *n_scopes;
    int64_t first_hour, last_hour;
} close_batch_t;

#define GROW(arr, n, cap)                                                                          \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? (cap)*2 : 64;                                                          \
            (arr) = mtr_realloc((arr), (cap) * sizeof *(arr));                                     \
        }                                                                                          \
    } while (0)

/* Builds b->contribs from every part's closed tables (b->scopes must be
 * the snapshot taken while the workers were parked). */
void mtr_ingest_close_contributions(mtr_ingest_t *ing, close_batch_t *b);
/* Counts (and warns about) each (customer, hour) of b seen in more than one
 * partition. */
uint64_t mtr_ingest_close_split_customers(const close_batch_t *b);
/* Frees the closed tables and everything b holds. */
void mtr_ingest_close_batch_free(mtr_ingest_t *ing, close_batch_t *b);

#endif
