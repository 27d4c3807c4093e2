/* The string arena's layout, shared inside aggregate/ so the hour table can
 * compare a key's customer bytes without a function call. A string id is
 * (chunk << 16) | offset; the record there is a 2-byte little-endian length
 * followed by the bytes. */
#ifndef MTR_AGG_STRINGS_INT_H
#define MTR_AGG_STRINGS_INT_H

#include "aggregate/index.h"
#include "aggregate/strings.h"

#define MTR_AGG_STRINGS_CHUNK 65536u

struct mtr_agg_strings {
    char **chunks;
    size_t n_chunks;
    size_t cap_chunks;
    size_t used; /* bytes used in the last chunk */
    size_t count;
    mtr_agg_ix_t ix; /* the set; its items are string ids */
};

static inline const unsigned char *mtr_agg_strings_record(const mtr_agg_strings_t *s, uint32_t id)
{
    return (const unsigned char *)s->chunks[id >> 16] + (id & 0xffffu);
}

static inline bool mtr_agg_strings_equal(const mtr_agg_strings_t *s, uint32_t id, const void *bytes,
                                         size_t len)
{
    const unsigned char *r = mtr_agg_strings_record(s, id);
    return ((size_t)r[0] | ((size_t)r[1] << 8)) == len && memcmp(r + 2, bytes, len) == 0;
}

/* Prefetch hints for interning a string of this hash soon: the set slot,
 * then (once that slot is likely in cache) the record of its first
 * fingerprint match, which intern compares. Hints only: nothing changes. */
static inline void mtr_agg_strings_prefetch_slot(const mtr_agg_strings_t *s, uint64_t hash)
{
    mtr_agg_ix_prefetch(&s->ix, (uint32_t)hash);
}

static inline void mtr_agg_strings_prefetch_record(const mtr_agg_strings_t *s, uint64_t hash)
{
    uint32_t id = mtr_agg_ix_first_candidate(&s->ix, (uint32_t)hash);
    if (id != UINT32_MAX)
        __builtin_prefetch(mtr_agg_strings_record(s, id), 0, 3);
}

#endif
