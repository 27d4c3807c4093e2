/* The event ids seen in one (partition, hour), for events.dedupe: a set of
 * 64-bit hashes of (product, customer, dimension, id[, CloudEvents source])
 * in open addressing, kept with the hour's table and freed with it at the
 * close. Once it holds `budget` ids, the next new id drops the set and the
 * rest of the hour is not checked: decided by the count of ids, so a replay of the same events
 * decides the same.
 *
 * Two different ids collide with probability 2^-64 per pair, so an hour
 * holding n ids drops a distinct event with probability about n^2 / 2^65
 * (README, Duplicate events). Memory: 8 bytes per slot at a load of 3/8 to
 * 3/4, so 10.7 to 21.3 bytes per id.
 *
 * Threads: one (the shard's). */
#ifndef MTR_AGG_DEDUPE_H
#define MTR_AGG_DEDUPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mtr_agg_dedupe {
    uint64_t *slots; /* 0: empty */
    size_t cap;      /* power of two, or 0 before the first id */
    size_t n;        /* ids held */
    bool over;       /* the budget was reached: nothing is checked any more */
} mtr_agg_dedupe_t;

typedef enum mtr_agg_seen {
    MTR_AGG_FIRST,     /* a new id: count the event */
    MTR_AGG_REPEAT,    /* seen before in this (partition, hour): drop it */
    MTR_AGG_UNCHECKED, /* the budget was reached earlier: count it unchecked */
    MTR_AGG_BUDGET,    /* a new id past the budget: counted, nothing checked from now */
} mtr_agg_seen_t;

/* The hash of an event's identity within its (partition, hour). */
uint64_t mtr_agg_dedupe_hash(uint32_t product, uint32_t dimension, const char *customer,
                             size_t customer_len, const char *id, size_t id_len, const char *source,
                             size_t source_len);

/* Looks hash up and adds it when new. budget >= 1. */
mtr_agg_seen_t mtr_agg_dedupe_check(mtr_agg_dedupe_t *d, uint64_t hash, size_t budget);

/* Bytes the set holds now. */
size_t mtr_agg_dedupe_bytes(const mtr_agg_dedupe_t *d);
void mtr_agg_dedupe_free(mtr_agg_dedupe_t *d);

#endif
