/* The emulator's record store: every accepted usage record, keyed by AWS's
 * record identity (product or license, customer, dimension, hour of the
 * timestamp), with AWS's answers for a second record of the same identity:
 * identical → Success with the stored MeteringRecordId, anything different
 * → DuplicateRecord (not billed).
 *
 * Records live in an array in acceptance order (the inspection API lists
 * them so); an open-addressing index of XXH3 hashes finds an identity in
 * O(1), so stores of hundreds of thousands of records stay fast. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <xxhash.h>

#include "core/mem.h"
#include "emulator/emulator_int.h"

struct mtr_emu_store {
    pthread_mutex_t mu;
    mtr_emu_record_t *records;
    size_t n_records, cap_records;
    uint32_t *index; /* 0 = empty, else record position + 1 */
    uint64_t *hashes;
    size_t index_cap; /* power of two */
    uint64_t rng;
};

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

/* Tagged fields so that a product code never equals a license ARN and a
 * customer identifier never equals an account id. */
static uint64_t identity_hash(const mtr_emu_record_t *r)
{
    const char *parts[] = {
        r->product_code ? "P" : "L", r->product_code ? r->product_code : or_empty(r->license_arn),
        r->customer_identifier ? "C" : "A",
        r->customer_identifier ? r->customer_identifier : or_empty(r->customer_account_id),
        r->dimension};
    /* Chained through the seed: each part (with its NUL) seeds the next. */
    uint64_t h = XXH3_64bits(&r->hour_ms, sizeof r->hour_ms);
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        h = XXH3_64bits_withSeed(parts[i], strlen(parts[i]) + 1, h);
    return h;
}

static bool str_eq(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool same_identity(const mtr_emu_record_t *a, const mtr_emu_record_t *b)
{
    return str_eq(a->product_code, b->product_code) && str_eq(a->license_arn, b->license_arn) &&
           str_eq(a->customer_identifier, b->customer_identifier) &&
           str_eq(a->customer_account_id, b->customer_account_id) &&
           !strcmp(a->dimension, b->dimension) && a->hour_ms == b->hour_ms;
}

static bool same_content(const mtr_emu_record_t *a, const mtr_emu_record_t *b)
{
    if (a->quantity != b->quantity || a->timestamp_s != b->timestamp_s ||
        a->n_allocations != b->n_allocations)
        return false;
    for (size_t i = 0; i < a->n_allocations; i++) {
        const mtr_emu_allocation_t *x = &a->allocations[i], *y = &b->allocations[i];
        if (x->quantity != y->quantity || x->n_tags != y->n_tags)
            return false;
        for (size_t t = 0; t < x->n_tags; t++)
            if (strcmp(x->tags[t].key, y->tags[t].key) ||
                strcmp(x->tags[t].value, y->tags[t].value))
                return false;
    }
    return true;
}

mtr_emu_store_t *mtr_emu_store_new(uint64_t seed)
{
    mtr_emu_store_t *s = mtr_calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->index_cap = 1024;
    s->index = mtr_calloc(s->index_cap, sizeof *s->index);
    s->hashes = mtr_calloc(s->index_cap, sizeof *s->hashes);
    s->rng = seed ^ 0x6d657465726964ULL;
    return s;
}

static void clear_records(mtr_emu_store_t *s)
{
    for (size_t i = 0; i < s->n_records; i++)
        mtr_emu_record_clear(&s->records[i]);
    s->n_records = 0;
    memset(s->index, 0, s->index_cap * sizeof *s->index);
}

void mtr_emu_store_free(mtr_emu_store_t *s)
{
    if (!s)
        return;
    clear_records(s);
    mtr_free(s->records);
    mtr_free(s->index);
    mtr_free(s->hashes);
    pthread_mutex_destroy(&s->mu);
    mtr_free(s);
}

void mtr_emu_store_lock(mtr_emu_store_t *s)
{
    pthread_mutex_lock(&s->mu);
}

void mtr_emu_store_unlock(mtr_emu_store_t *s)
{
    pthread_mutex_unlock(&s->mu);
}

static void index_put(uint32_t *index, uint64_t *hashes, size_t cap, uint64_t h, uint32_t slot)
{
    size_t i = (size_t)h & (cap - 1);
    while (index[i])
        i = (i + 1) & (cap - 1);
    index[i] = slot;
    hashes[i] = h;
}

static void index_grow(mtr_emu_store_t *s)
{
    size_t cap = s->index_cap * 2;
    uint32_t *index = mtr_calloc(cap, sizeof *index);
    uint64_t *hashes = mtr_calloc(cap, sizeof *hashes);
    for (size_t i = 0; i < s->index_cap; i++)
        if (s->index[i])
            index_put(index, hashes, cap, s->hashes[i], s->index[i]);
    mtr_free(s->index);
    mtr_free(s->hashes);
    s->index = index;
    s->hashes = hashes;
    s->index_cap = cap;
}

/* A random (version 4 layout) UUID from the store's seeded stream. */
static void new_record_id(mtr_emu_store_t *s, char out[37])
{
    uint64_t a = XXH3_64bits(&s->rng, sizeof s->rng);
    s->rng += 0x9e3779b97f4a7c15ULL;
    uint64_t b = XXH3_64bits(&s->rng, sizeof s->rng);
    s->rng += 0x9e3779b97f4a7c15ULL;
    snprintf(out, 37, "%08" PRIx32 "-%04" PRIx32 "-4%03" PRIx32 "-%04" PRIx32 "-%012llx",
             (uint32_t)(a >> 32), (uint32_t)(a >> 16) & 0xffff, (uint32_t)a & 0xfff,
             (uint32_t)(0x8000 | ((b >> 48) & 0x3fff)),
             (unsigned long long)(b & 0xffffffffffffULL));
}

mtr_emu_status_t mtr_emu_store_apply(mtr_emu_store_t *s, mtr_emu_record_t *rec, char id_out[37])
{
    uint64_t h = identity_hash(rec);
    size_t i = (size_t)h & (s->index_cap - 1);
    for (; s->index[i]; i = (i + 1) & (s->index_cap - 1)) {
        if (s->hashes[i] != h)
            continue;
        const mtr_emu_record_t *old = &s->records[s->index[i] - 1];
        if (!same_identity(old, rec))
            continue;
        if (!same_content(old, rec))
            return MTR_EMU_STATUS_DUPLICATE;
        memcpy(id_out, old->metering_record_id, 37);
        return MTR_EMU_STATUS_IDEMPOTENT;
    }
    if (s->n_records == s->cap_records) {
        s->cap_records = s->cap_records ? s->cap_records * 2 : 256;
        s->records = mtr_realloc(s->records, s->cap_records * sizeof *s->records);
    }
    new_record_id(s, rec->metering_record_id);
    memcpy(id_out, rec->metering_record_id, 37);
    s->records[s->n_records++] = *rec;
    memset(rec, 0, sizeof *rec);
    /* Load factor stays below 1/2 so probes stay short. */
    if (s->n_records * 2 > s->index_cap)
        index_grow(s);
    index_put(s->index, s->hashes, s->index_cap, h, (uint32_t)s->n_records);
    return MTR_EMU_STATUS_SUCCESS;
}

static cJSON *record_to_json(const mtr_emu_record_t *r)
{
    cJSON *o = cJSON_CreateObject();
    if (r->product_code)
        cJSON_AddStringToObject(o, "product_code", r->product_code);
    else
        cJSON_AddStringToObject(o, "license_arn", r->license_arn);
    if (r->customer_identifier)
        cJSON_AddStringToObject(o, "customer_identifier", r->customer_identifier);
    else
        cJSON_AddStringToObject(o, "customer_aws_account_id", r->customer_account_id);
    cJSON_AddStringToObject(o, "dimension", r->dimension);
    cJSON_AddNumberToObject(o, "quantity", (double)r->quantity);
    cJSON_AddNumberToObject(o, "timestamp", r->timestamp_s);
    cJSON_AddNumberToObject(o, "hour", (double)(r->hour_ms / 1000));
    cJSON *allocs = cJSON_AddArrayToObject(o, "allocations");
    for (size_t i = 0; i < r->n_allocations; i++) {
        cJSON *a = cJSON_CreateObject();
        cJSON_AddNumberToObject(a, "quantity", (double)r->allocations[i].quantity);
        cJSON *tags = cJSON_AddObjectToObject(a, "tags");
        for (size_t t = 0; t < r->allocations[i].n_tags; t++)
            cJSON_AddStringToObject(tags, r->allocations[i].tags[t].key,
                                    r->allocations[i].tags[t].value);
        cJSON_AddItemToArray(allocs, a);
    }
    cJSON_AddStringToObject(o, "metering_record_id", r->metering_record_id);
    return o;
}

cJSON *mtr_emu_store_to_json(mtr_emu_store_t *s, uint64_t duplicate_answers)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *arr = cJSON_AddArrayToObject(o, "records");
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_records; i++)
        cJSON_AddItemToArray(arr, record_to_json(&s->records[i]));
    cJSON_AddNumberToObject(o, "count", (double)s->n_records);
    pthread_mutex_unlock(&s->mu);
    cJSON_AddNumberToObject(o, "duplicate_records", (double)duplicate_answers);
    return o;
}

size_t mtr_emu_store_count(mtr_emu_store_t *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->n_records;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void mtr_emu_store_reset(mtr_emu_store_t *s)
{
    pthread_mutex_lock(&s->mu);
    clear_records(s);
    pthread_mutex_unlock(&s->mu);
}
