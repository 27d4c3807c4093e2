/* A shard's open hour tables, one per effective hour (few: the current hour
 * and a late one or two), kept in a small array sorted by hour. */
#include "aggregate/shard.h"

#include <string.h>

#include "core/mem.h"

struct mtr_agg_shard {
    int id;
    size_t expected_keys;
    mtr_agg_table_t **tables; /* ascending hour */
    size_t n;
    size_t cap;
    mtr_agg_table_t *last; /* the table the previous update used */
};

mtr_agg_shard_t *mtr_agg_shard_new(int id, size_t expected_keys)
{
    mtr_agg_shard_t *s = mtr_calloc(1, sizeof *s);
    s->id = id;
    s->expected_keys = expected_keys;
    return s;
}

void mtr_agg_shard_free(mtr_agg_shard_t *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        mtr_agg_table_free(s->tables[i]);
    mtr_free(s->tables);
    mtr_free(s);
}

int mtr_agg_shard_id(const mtr_agg_shard_t *s)
{
    return s->id;
}

mtr_agg_table_t *mtr_agg_shard_table(mtr_agg_shard_t *s, int64_t hour_ms)
{
    if (s->last && mtr_agg_table_hour(s->last) == hour_ms)
        return s->last;
    size_t i = 0;
    while (i < s->n && mtr_agg_table_hour(s->tables[i]) < hour_ms)
        i++;
    if (i == s->n || mtr_agg_table_hour(s->tables[i]) != hour_ms) {
        if (s->n == s->cap) {
            s->cap = s->cap ? s->cap * 2 : 4;
            s->tables = mtr_realloc(s->tables, s->cap * sizeof *s->tables);
        }
        memmove(s->tables + i + 1, s->tables + i, (s->n - i) * sizeof *s->tables);
        s->tables[i] = mtr_agg_table_new(hour_ms, s->expected_keys);
        s->n++;
    }
    s->last = s->tables[i];
    return s->last;
}

void mtr_agg_shard_update_batch(mtr_agg_shard_t *s, const int64_t *hours,
                                const mtr_agg_update_t *updates, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i + 1;
        while (j < n && hours[j] == hours[i])
            j++;
        mtr_agg_table_update_batch(mtr_agg_shard_table(s, hours[i]), updates + i, j - i);
        i = j;
    }
}

mtr_agg_table_t *mtr_agg_shard_take(mtr_agg_shard_t *s, int64_t hour_ms)
{
    for (size_t i = 0; i < s->n; i++) {
        if (mtr_agg_table_hour(s->tables[i]) != hour_ms)
            continue;
        mtr_agg_table_t *t = s->tables[i];
        /* The next hours of a partition hold about as many keys as this
         * one: sizing their tables alike spares them the growth. */
        s->expected_keys = mtr_agg_table_count(t);
        memmove(s->tables + i, s->tables + i + 1, (s->n - i - 1) * sizeof *s->tables);
        s->n--;
        if (s->last == t)
            s->last = NULL;
        return t;
    }
    return NULL;
}

size_t mtr_agg_shard_hours(const mtr_agg_shard_t *s, int64_t *out, size_t max)
{
    for (size_t i = 0; i < s->n && i < max; i++)
        out[i] = mtr_agg_table_hour(s->tables[i]);
    return s->n;
}

mtr_agg_seen_t mtr_agg_shard_check_id(mtr_agg_shard_t *shard, int64_t hour_ms, uint64_t hash,
                                      size_t budget)
{
    return mtr_agg_dedupe_check(mtr_agg_table_seen(mtr_agg_shard_table(shard, hour_ms)), hash,
                                budget);
}
