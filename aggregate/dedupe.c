/* The per-(partition, hour) set of event-id hashes (aggregate/dedupe.h). */
#include "aggregate/dedupe.h"

#include <string.h>
#include <xxhash.h>

#include "core/mem.h"

#define FIRST_CAP 1024

uint64_t mtr_agg_dedupe_hash(uint32_t product, uint32_t dimension, const char *customer,
                             size_t customer_len, const char *id, size_t id_len, const char *source,
                             size_t source_len)
{
    /* The lengths go in first so that ("ab", "c") and ("a", "bc") differ.
     * One pass over a copy is cheaper than chaining a call per part. */
    uint64_t head[] = {product, dimension, customer_len, id_len, source_len};
    unsigned char buf[1024];
    uint64_t h;
    if (sizeof head + customer_len + id_len + source_len <= sizeof buf) {
        size_t n = sizeof head;
        memcpy(buf, head, n);
        memcpy(buf + n, customer, customer_len);
        n += customer_len;
        memcpy(buf + n, id, id_len);
        n += id_len;
        if (source_len)
            memcpy(buf + n, source, source_len);
        h = XXH3_64bits(buf, n + source_len);
    } else {
        h = XXH3_64bits(head, sizeof head);
        h = XXH3_64bits_withSeed(customer, customer_len, h);
        h = XXH3_64bits_withSeed(id, id_len, h);
        h = XXH3_64bits_withSeed(source, source_len, h);
    }
    return h ? h : 1; /* 0 marks an empty slot */
}

static void insert(uint64_t *slots, size_t cap, uint64_t hash)
{
    size_t mask = cap - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask)
        if (!slots[i]) {
            slots[i] = hash;
            return;
        }
}

static void grow(mtr_agg_dedupe_t *d)
{
    size_t cap = d->cap ? d->cap * 2 : FIRST_CAP;
    uint64_t *slots = mtr_calloc(cap, sizeof *slots);
    for (size_t i = 0; i < d->cap; i++)
        if (d->slots[i])
            insert(slots, cap, d->slots[i]);
    mtr_free(d->slots);
    d->slots = slots;
    d->cap = cap;
}

mtr_agg_seen_t mtr_agg_dedupe_check(mtr_agg_dedupe_t *d, uint64_t hash, size_t budget)
{
    if (d->over)
        return MTR_AGG_UNCHECKED;
    if (d->cap) {
        size_t mask = d->cap - 1;
        for (size_t i = hash & mask; d->slots[i]; i = (i + 1) & mask)
            if (d->slots[i] == hash)
                return MTR_AGG_REPEAT;
    }
    if (d->n >= budget) {
        /* One id more than the budget: counted like any new one, and from
         * the next event on the hour is not checked; the memory goes back
         * now. */
        mtr_agg_dedupe_free(d);
        d->over = true;
        return MTR_AGG_BUDGET;
    }
    if ((d->n + 1) * 4 > d->cap * 3)
        grow(d);
    insert(d->slots, d->cap, hash);
    d->n++;
    return MTR_AGG_FIRST;
}

size_t mtr_agg_dedupe_bytes(const mtr_agg_dedupe_t *d)
{
    return d->cap * sizeof *d->slots;
}

void mtr_agg_dedupe_free(mtr_agg_dedupe_t *d)
{
    mtr_free(d->slots);
    d->slots = NULL;
    d->cap = 0;
    d->n = 0;
}
