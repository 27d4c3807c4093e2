/* Batch building: sort by scope and identity, then fill requests in order,
 * closing one at the scope boundary, the record limit, the body limit or a
 * repeated identity. */
#include "emit/batch.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "emit/codec.h"

typedef struct sort_item {
    const mtr_record_t *record;
    size_t order; /* input position: keeps the sort stable */
} sort_item_t;

static int cmp_str(const char *a, const char *b)
{
    if (!a || !b)
        return (a != NULL) - (b != NULL);
    return strcmp(a, b);
}

/* The request scope: ProductCode or LicenseArn requests apart, then the
 * product code, or the license ARN when there is no product code, then the
 * customer field kind. */
static int cmp_scope(const mtr_record_t *a, const mtr_record_t *b)
{
    int c = (a->license_arn != NULL) - (b->license_arn != NULL);
    if (c)
        return c;
    c = cmp_str(a->product_code, b->product_code);
    if (c)
        return c;
    if (!a->product_code) {
        c = cmp_str(a->license_arn, b->license_arn);
        if (c)
            return c;
    }
    return (a->customer_identifier != NULL) - (b->customer_identifier != NULL);
}

/* What AWS echoes back to name a record. */
static int cmp_identity(const mtr_record_t *a, const mtr_record_t *b)
{
    int c = strcmp(mtr_record_customer(a), mtr_record_customer(b));
    if (c)
        return c;
    c = strcmp(a->dimension, b->dimension);
    if (c)
        return c;
    int64_t ta = a->hour_start_ms / 1000, tb = b->hour_start_ms / 1000;
    if (ta != tb)
        return ta < tb ? -1 : 1;
    return cmp_str(a->license_arn, b->license_arn);
}

static int cmp_items(const void *pa, const void *pb)
{
    const sort_item_t *a = pa, *b = pb;
    int c = cmp_scope(a->record, b->record);
    if (!c)
        c = cmp_identity(a->record, b->record);
    if (c)
        return c;
    return a->order < b->order ? -1 : (a->order > b->order);
}

bool mtr_emit_batch_same_scope(const mtr_record_t *a, const mtr_record_t *b)
{
    return cmp_scope(a, b) == 0;
}

static mtr_emit_batch_t *new_batch(mtr_emit_batches_t *out, size_t *cap, size_t max_records,
                                   size_t envelope)
{
    if (out->count == *cap) {
        *cap = *cap ? *cap * 2 : 8;
        out->items = mtr_realloc(out->items, *cap * sizeof *out->items);
    }
    mtr_emit_batch_t *b = &out->items[out->count++];
    b->records = mtr_malloc(max_records * sizeof *b->records);
    b->n = 0;
    b->body_size = envelope;
    return b;
}

void mtr_emit_batch_build(const mtr_record_t *const *records, size_t n, size_t max_records,
                          size_t max_body, mtr_emit_batches_t *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0)
        return;
    sort_item_t *items = mtr_malloc(n * sizeof *items);
    for (size_t i = 0; i < n; i++)
        items[i] = (sort_item_t){records[i], i};
    qsort(items, n, sizeof *items, cmp_items);

    size_t cap = 0;
    mtr_emit_batch_t *cur = NULL;
    size_t envelope = 0;
    for (size_t i = 0; i < n; i++) {
        const mtr_record_t *r = items[i].record;
        if (!cur || !mtr_emit_batch_same_scope(cur->records[0], r))
            envelope = mtr_emit_codec_envelope_size(r);
        size_t size = mtr_emit_codec_record_size(r);
        if (envelope + size >= max_body) {
            out->oversize = mtr_realloc(out->oversize, (out->n_oversize + 1) * sizeof(*records));
            out->oversize[out->n_oversize++] = r;
            continue;
        }
        bool fits = cur && cur->n < max_records && mtr_emit_batch_same_scope(cur->records[0], r) &&
                    cur->body_size + 1 + size < max_body &&
                    cmp_identity(cur->records[cur->n - 1], r) != 0;
        if (!fits)
            cur = new_batch(out, &cap, max_records, envelope);
        cur->body_size += size + (cur->n > 0 ? 1 : 0);
        cur->records[cur->n++] = r;
    }
    mtr_free(items);
}

void mtr_emit_batches_free(mtr_emit_batches_t *batches)
{
    for (size_t i = 0; i < batches->count; i++)
        mtr_free(batches->items[i].records);
    mtr_free(batches->items);
    mtr_free(batches->oversize);
    memset(batches, 0, sizeof *batches);
}
