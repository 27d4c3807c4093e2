/* Per-window string interning: chunked arena + incremental hash set. */
#include "aggregate/strings_int.h"

#include <assert.h>
#include <xxhash.h>

mtr_agg_strings_t *mtr_agg_strings_new(void)
{
    mtr_agg_strings_t *s = mtr_calloc(1, sizeof *s);
    mtr_agg_ix_init(&s->ix, 0);
    return s;
}

void mtr_agg_strings_free(mtr_agg_strings_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_chunks; i++)
        mtr_free(s->chunks[i]);
    mtr_free(s->chunks);
    mtr_agg_ix_free(&s->ix);
    mtr_free(s);
}

uint64_t mtr_agg_strings_hash(const void *bytes, size_t len)
{
    return XXH3_64bits(bytes, len);
}

struct eq_ctx {
    const mtr_agg_strings_t *s;
    const void *bytes;
    size_t len;
};

static inline bool string_eq(const struct eq_ctx *c, uint32_t item)
{
    return mtr_agg_strings_equal(c->s, item, c->bytes, c->len);
}

int mtr_agg_strings_find(const mtr_agg_strings_t *s, const void *bytes, size_t len, uint64_t hash,
                         uint32_t *id)
{
    struct eq_ctx c = {s, bytes, len};
    uint32_t item;
    MTR_AGG_IX_FIND(&s->ix, (uint32_t)hash, string_eq, &c, item);
    if (item == UINT32_MAX)
        return -1;
    *id = item;
    return 0;
}

static uint32_t arena_put(mtr_agg_strings_t *s, const void *bytes, size_t len)
{
    size_t need = len + 2;
    if (s->n_chunks == 0 || s->used + need > MTR_AGG_STRINGS_CHUNK) {
        assert(s->n_chunks < 0xffffu);
        if (s->n_chunks == s->cap_chunks) {
            s->cap_chunks = s->cap_chunks ? s->cap_chunks * 2 : 4;
            s->chunks = mtr_realloc(s->chunks, s->cap_chunks * sizeof *s->chunks);
        }
        s->chunks[s->n_chunks++] = mtr_malloc(MTR_AGG_STRINGS_CHUNK);
        s->used = 0;
    }
    uint32_t id = (uint32_t)((s->n_chunks - 1) << 16 | s->used);
    unsigned char *p = (unsigned char *)s->chunks[s->n_chunks - 1] + s->used;
    p[0] = (unsigned char)(len & 0xff);
    p[1] = (unsigned char)(len >> 8);
    memcpy(p + 2, bytes, len);
    s->used += need;
    return id;
}

uint32_t mtr_agg_strings_intern(mtr_agg_strings_t *s, const void *bytes, size_t len, uint64_t hash)
{
    assert(len <= MTR_AGG_STRING_MAX);
    uint32_t id;
    mtr_agg_ix_migrate(&s->ix, MTR_AGG_IX_MIGRATE_PER_OP);
    if (mtr_agg_strings_find(s, bytes, len, hash, &id) == 0)
        return id;
    id = arena_put(s, bytes, len);
    /* The set's items are the string ids themselves. */
    mtr_agg_ix_insert(&s->ix, (uint32_t)hash, id);
    s->count++;
    return id;
}

const char *mtr_agg_strings_get(const mtr_agg_strings_t *s, uint32_t id, size_t *len)
{
    const unsigned char *r = mtr_agg_strings_record(s, id);
    *len = (size_t)r[0] | ((size_t)r[1] << 8);
    return (const char *)r + 2;
}

size_t mtr_agg_strings_count(const mtr_agg_strings_t *s)
{
    return s->count;
}

size_t mtr_agg_strings_memory(const mtr_agg_strings_t *s)
{
    return s->n_chunks * MTR_AGG_STRINGS_CHUNK + s->cap_chunks * sizeof(char *) +
           mtr_agg_ix_bytes(&s->ix);
}
