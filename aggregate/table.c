/* The hour table: dense chunked entries + incremental fingerprint index,
 * per-table string interning, and a side table of per-tag-set subtotals.
 * See table.h for the layout and why. */
#include "aggregate/table.h"

#include <assert.h>
#include <xxhash.h>

#include "aggregate/index.h"
#include "aggregate/strings_int.h"

#define CHUNK_SHIFT 12
#define CHUNK_ITEMS (1u << CHUNK_SHIFT)
#define CHUNK_MASK  (CHUNK_ITEMS - 1)
#define BLOCK       16 /* updates hashed and prefetched together */

enum {
    F_ACCOUNT = 1,  /* customer is a CustomerAWSAccountId */
    F_OVERFLOW = 2, /* the value saturated */
    F_TAGGED = 4    /* the key has allocation subtotals */
};

/* 40 bytes: the whole per-key cost besides its index slot. */
typedef struct entry {
    uint32_t customer; /* string id */
    uint32_t scope;
    int32_t partition;
    uint16_t dimension;
    uint8_t aggregation;
    uint8_t flags;
    int64_t value;
    int64_t time_ms;
    uint64_t count;
} entry_t;

/* A subtotal of one key for one tag set. */
typedef struct alloc {
    uint32_t key;    /* entry index */
    uint32_t tagset; /* string id */
    int64_t value;
    int64_t time_ms;
    uint64_t count;
    uint8_t flags;
} alloc_t;

_Static_assert(sizeof(entry_t) == 40, "entry layout");

/* A growable array in fixed chunks: items never move. */
typedef struct chunked {
    void **chunks;
    size_t n_chunks;
    size_t cap_chunks;
    size_t count;
} chunked_t;

struct mtr_agg_table {
    int64_t hour_ms;
    chunked_t entries;
    mtr_agg_ix_t ix;
    mtr_agg_strings_t *strings;
    chunked_t allocs;
    mtr_agg_ix_t alloc_ix;
    mtr_agg_hash_fn hash_fn;
    void *hash_arg;
    mtr_agg_dedupe_t seen; /* event ids, with events.dedupe */
};

static inline void *chunked_at(const chunked_t *c, size_t i, size_t size)
{
    return (char *)c->chunks[i >> CHUNK_SHIFT] + (i & CHUNK_MASK) * size;
}

static void *chunked_push(chunked_t *c, size_t size)
{
    if ((c->count & CHUNK_MASK) == 0 && (c->count >> CHUNK_SHIFT) == c->n_chunks) {
        if (c->n_chunks == c->cap_chunks) {
            c->cap_chunks = c->cap_chunks ? c->cap_chunks * 2 : 8;
            c->chunks = mtr_realloc(c->chunks, c->cap_chunks * sizeof *c->chunks);
        }
        c->chunks[c->n_chunks++] = mtr_malloc(CHUNK_ITEMS * size);
    }
    return chunked_at(c, c->count++, size);
}

static void chunked_free(chunked_t *c)
{
    for (size_t i = 0; i < c->n_chunks; i++)
        mtr_free(c->chunks[i]);
    mtr_free(c->chunks);
}

static size_t chunked_bytes(const chunked_t *c, size_t size)
{
    return c->n_chunks * CHUNK_ITEMS * size + c->cap_chunks * sizeof(void *);
}

static inline entry_t *entry_at(const mtr_agg_table_t *t, uint32_t i)
{
    return (entry_t *)chunked_at(&t->entries, i, sizeof(entry_t));
}

static inline alloc_t *alloc_at(const mtr_agg_table_t *t, uint32_t i)
{
    return (alloc_t *)chunked_at(&t->allocs, i, sizeof(alloc_t));
}

mtr_agg_table_t *mtr_agg_table_new(int64_t hour_ms, size_t expected_keys)
{
    mtr_agg_table_t *t = mtr_calloc(1, sizeof *t);
    t->hour_ms = hour_ms;
    mtr_agg_ix_init(&t->ix, expected_keys);
    mtr_agg_ix_init(&t->alloc_ix, 0);
    t->strings = mtr_agg_strings_new();
    return t;
}

void mtr_agg_table_free(mtr_agg_table_t *t)
{
    if (!t)
        return;
    chunked_free(&t->entries);
    chunked_free(&t->allocs);
    mtr_agg_ix_free(&t->ix);
    mtr_agg_ix_free(&t->alloc_ix);
    mtr_agg_strings_free(t->strings);
    mtr_agg_dedupe_free(&t->seen);
    mtr_free(t);
}

mtr_agg_dedupe_t *mtr_agg_table_seen(mtr_agg_table_t *t)
{
    return &t->seen;
}

int64_t mtr_agg_table_hour(const mtr_agg_table_t *t)
{
    return t->hour_ms;
}

void mtr_agg_table_set_hash(mtr_agg_table_t *t, mtr_agg_hash_fn fn, void *arg)
{
    t->hash_fn = fn;
    t->hash_arg = arg;
}

static inline uint64_t key_hash(const mtr_agg_table_t *t, const mtr_agg_update_t *u)
{
    if (__builtin_expect(t->hash_fn != NULL, 0))
        return t->hash_fn(u, t->hash_arg);
    /* The numeric key fields become the seed, so one short XXH3 call over
     * the customer bytes hashes the whole key. */
    uint64_t seed = ((uint64_t)u->scope << 32 | (uint32_t)u->partition) ^
                    ((uint64_t)u->dimension << 1 | u->customer_is_account) * 0x9E3779B97F4A7C15ull;
    return XXH3_64bits_withSeed(u->customer, u->customer_len, seed);
}

struct key_ctx {
    const mtr_agg_table_t *t;
    const mtr_agg_update_t *u;
};

static inline bool key_eq(const struct key_ctx *c, uint32_t item)
{
    const entry_t *e = entry_at(c->t, item);
    const mtr_agg_update_t *u = c->u;
    return e->scope == u->scope && e->partition == u->partition && e->dimension == u->dimension &&
           ((e->flags & F_ACCOUNT) != 0) == (u->customer_is_account != 0) &&
           mtr_agg_strings_equal(c->t->strings, e->customer, u->customer, u->customer_len);
}

/* Folds quantity q at time tm into an aggregate. Sums saturate and flag the
 * key rather than wrap: a wrapped sum would bill a wrong amount silently. */
static inline void fold(uint8_t agg, int64_t *value, int64_t *time_ms, uint64_t *count,
                        uint8_t *flags, int64_t q, int64_t tm)
{
    switch (agg) {
    case MTR_AGG_COUNT:
        q = MTR_AGG_UNITS;
        /* fall through */
    case MTR_AGG_SUM:
    default:
        if (__builtin_expect(__builtin_add_overflow(*value, q, value), 0)) {
            *value = q > 0 ? INT64_MAX : INT64_MIN;
            *flags |= F_OVERFLOW;
        }
        if (tm > *time_ms)
            *time_ms = tm;
        break;
    case MTR_AGG_MAX:
        if (*count == 0 || q > *value)
            *value = q;
        if (tm > *time_ms)
            *time_ms = tm;
        break;
    case MTR_AGG_LATEST:
        /* At equal event times the larger value wins: the rule the ledger
         * applies across partitions, so arrival order never decides. */
        if (*count == 0 || tm > *time_ms || (tm == *time_ms && q > *value)) {
            *value = q;
            *time_ms = tm;
        }
        break;
    }
    (*count)++;
}

/* customer_hash: mtr_agg_strings_hash of the customer bytes. */
static uint32_t entry_insert(mtr_agg_table_t *t, const mtr_agg_update_t *u, uint64_t h,
                             uint64_t customer_hash)
{
    assert(t->entries.count < UINT32_MAX - 1);
    uint32_t idx = (uint32_t)t->entries.count;
    entry_t *e = chunked_push(&t->entries, sizeof(entry_t));
    e->customer = mtr_agg_strings_intern(t->strings, u->customer, u->customer_len, customer_hash);
    e->scope = u->scope;
    e->partition = u->partition;
    e->dimension = u->dimension;
    e->aggregation = u->aggregation;
    e->flags = u->customer_is_account ? F_ACCOUNT : 0;
    e->value = 0;
    e->time_ms = INT64_MIN;
    e->count = 0;
    mtr_agg_ix_insert(&t->ix, (uint32_t)h, idx);
    return idx;
}

struct alloc_ctx {
    const mtr_agg_table_t *t;
    uint32_t key;
    uint32_t tagset;
};

static inline bool alloc_eq(const struct alloc_ctx *c, uint32_t item)
{
    const alloc_t *a = alloc_at(c->t, item);
    return a->key == c->key && a->tagset == c->tagset;
}

/* Tagged events only: the subtotal of (key, tag set). */
static void alloc_update(mtr_agg_table_t *t, uint32_t key, const mtr_agg_update_t *u)
{
    assert(u->tagset_len <= MTR_AGG_TAGSET_MAX);
    uint32_t tagset = mtr_agg_strings_intern(t->strings, u->tagset, u->tagset_len,
                                             mtr_agg_strings_hash(u->tagset, u->tagset_len));
    uint64_t h = XXH3_64bits_withSeed(&tagset, sizeof tagset, key);
    struct alloc_ctx c = {t, key, tagset};
    uint32_t item;
    mtr_agg_ix_migrate(&t->alloc_ix, MTR_AGG_IX_MIGRATE_PER_OP);
    MTR_AGG_IX_FIND(&t->alloc_ix, (uint32_t)h, alloc_eq, &c, item);
    alloc_t *a;
    if (item == UINT32_MAX) {
        item = (uint32_t)t->allocs.count;
        a = chunked_push(&t->allocs, sizeof(alloc_t));
        memset(a, 0, sizeof *a);
        a->key = key;
        a->tagset = tagset;
        a->time_ms = INT64_MIN;
        mtr_agg_ix_insert(&t->alloc_ix, (uint32_t)h, item);
    } else {
        a = alloc_at(t, item);
    }
    fold(entry_at(t, key)->aggregation, &a->value, &a->time_ms, &a->count, &a->flags, u->quantity,
         u->time_ms);
}

/* customer_hash: the customer's string hash if the caller has it, else 0
 * (computed here when the key turns out to be new). */
static inline void apply(mtr_agg_table_t *t, const mtr_agg_update_t *u, uint64_t h,
                         uint64_t customer_hash)
{
    assert(u->customer_len <= MTR_AGG_CUSTOMER_MAX);
    struct key_ctx c = {t, u};
    uint32_t idx;
    MTR_AGG_IX_FIND(&t->ix, (uint32_t)h, key_eq, &c, idx);
    if (idx == UINT32_MAX) {
        if (!customer_hash)
            customer_hash = mtr_agg_strings_hash(u->customer, u->customer_len);
        idx = entry_insert(t, u, h, customer_hash);
    }
    entry_t *e = entry_at(t, idx);
    fold(e->aggregation, &e->value, &e->time_ms, &e->count, &e->flags, u->quantity, u->time_ms);
    if (__builtin_expect(u->tagset != NULL, 0)) {
        e->flags |= F_TAGGED;
        alloc_update(t, idx, u);
    }
}

void mtr_agg_table_update(mtr_agg_table_t *t, const mtr_agg_update_t *u)
{
    mtr_agg_ix_migrate(&t->ix, MTR_AGG_IX_MIGRATE_PER_OP);
    apply(t, u, key_hash(t, u), 0);
}

void mtr_agg_table_update_batch(mtr_agg_table_t *t, const mtr_agg_update_t *updates, size_t n)
{
    uint64_t h[BLOCK], ch[BLOCK];
    uint32_t cand[BLOCK];
    for (size_t base = 0; base < n; base += BLOCK) {
        const mtr_agg_update_t *u = updates + base;
        size_t m = n - base < BLOCK ? n - base : BLOCK;
        mtr_agg_ix_migrate(&t->ix, MTR_AGG_IX_MIGRATE_PER_OP * m);
        /* Stage 1: hash, prefetch the index slots. */
        for (size_t i = 0; i < m; i++) {
            h[i] = key_hash(t, &u[i]);
            mtr_agg_ix_prefetch(&t->ix, (uint32_t)h[i]);
        }
        /* Stage 2: the likely entry of each update (a hint: the real
         * lookup below decides), prefetched. The customer bytes are not
         * prefetched: finding them needs the entry itself (a dependent load
         * that stalls the loop), and measured slower; hot customers' bytes
         * are in cache anyway, one copy serving all their dimensions.
         * An update with no candidate is almost surely a new key, which
         * will intern its customer: hash the customer now and prefetch
         * the string set's slot, so that miss overlaps the others. */
        for (size_t i = 0; i < m; i++) {
            cand[i] = mtr_agg_ix_first_candidate(&t->ix, (uint32_t)h[i]);
            ch[i] = 0;
            if (cand[i] != UINT32_MAX) {
                __builtin_prefetch(entry_at(t, cand[i]), 1, 3);
            } else {
                ch[i] = mtr_agg_strings_hash(u[i].customer, u[i].customer_len);
                mtr_agg_strings_prefetch_slot(t->strings, ch[i]);
            }
        }
        /* Stage 2b: the customer records the lookups will compare: for a
         * new key the interned one it will match (a customer seen with
         * another dimension), for a candidate entry (prefetched above, so
         * likely arrived by now) its own. */
        for (size_t i = 0; i < m; i++) {
            if (ch[i])
                mtr_agg_strings_prefetch_record(t->strings, ch[i]);
            else
                __builtin_prefetch(
                    mtr_agg_strings_record(t->strings, entry_at(t, cand[i])->customer), 0, 3);
        }
        /* Stage 3: apply, in order (several updates of one key in a block
         * see each other). */
        for (size_t i = 0; i < m; i++)
            apply(t, &u[i], h[i], ch[i]);
    }
}

size_t mtr_agg_table_count(const mtr_agg_table_t *t)
{
    return t->entries.count;
}

void mtr_agg_table_key(const mtr_agg_table_t *t, size_t index, mtr_agg_key_t *out)
{
    assert(index < t->entries.count);
    const entry_t *e = entry_at(t, (uint32_t)index);
    out->customer = mtr_agg_strings_get(t->strings, e->customer, &out->customer_len);
    out->customer_is_account = (e->flags & F_ACCOUNT) != 0;
    out->partition = e->partition;
    out->scope = e->scope;
    out->dimension = e->dimension;
    out->aggregation = (mtr_aggregation_t)e->aggregation;
    out->value = e->value;
    out->time_ms = e->time_ms;
    out->count = e->count;
    out->overflowed = (e->flags & F_OVERFLOW) != 0;
    out->tagged = (e->flags & F_TAGGED) != 0;
}

size_t mtr_agg_table_allocation_count(const mtr_agg_table_t *t)
{
    return t->allocs.count;
}

void mtr_agg_table_allocation(const mtr_agg_table_t *t, size_t index, mtr_agg_allocation_t *out)
{
    assert(index < t->allocs.count);
    const alloc_t *a = alloc_at(t, (uint32_t)index);
    out->key_index = a->key;
    out->tagset = mtr_agg_strings_get(t->strings, a->tagset, &out->tagset_len);
    out->value = a->value;
    out->time_ms = a->time_ms;
    out->count = a->count;
    out->overflowed = (a->flags & F_OVERFLOW) != 0;
}

bool mtr_agg_table_find(const mtr_agg_table_t *t, const mtr_agg_update_t *key, mtr_agg_key_t *out)
{
    struct key_ctx c = {t, key};
    uint32_t idx;
    MTR_AGG_IX_FIND(&t->ix, (uint32_t)key_hash(t, key), key_eq, &c, idx);
    if (idx == UINT32_MAX)
        return false;
    mtr_agg_table_key(t, idx, out);
    return true;
}

void mtr_agg_table_memory(const mtr_agg_table_t *t, size_t *table_bytes, size_t *string_bytes)
{
    if (table_bytes)
        *table_bytes = sizeof *t + chunked_bytes(&t->entries, sizeof(entry_t)) +
                       mtr_agg_ix_bytes(&t->ix) + chunked_bytes(&t->allocs, sizeof(alloc_t)) +
                       mtr_agg_ix_bytes(&t->alloc_ix);
    if (string_bytes)
        *string_bytes = mtr_agg_strings_memory(t->strings);
}

bool mtr_agg_table_growing(const mtr_agg_table_t *t)
{
    return t->ix.old != NULL;
}
