/* The BatchMeterUsage contract: parses a request body and checks it against
 * the service model (meteringmarketplace 2016-01-14) and the configured
 * products, the way AWS would, before anything is applied. Every failure
 * here is request-level: AWS fails the whole call and bills nothing.
 *
 * Which exception for which fault:
 *   body not JSON, a member of the wrong JSON type  SerializationException
 *   missing required member, unknown member, more
 *   than 25 records, Quantity out of range           ValidationException
 *   customer id wrong, both or neither given         InvalidCustomerIdentifierException
 *   product code malformed or not configured         InvalidProductCodeException
 *   dimension malformed or not of the product        InvalidUsageDimensionException
 *   tags: count (1..5), key/value pattern, repeats   InvalidTagException
 *   allocations: count (1..2500), sum != Quantity    InvalidUsageAllocationsException
 *   timestamp 6 h or more old, or in the future      TimestampOutOfBoundsException
 *
 * Newer AWS models add, per record, CustomerAWSAccountId (a 12-digit
 * account) and LicenseArn (instead of the request's ProductCode); both are
 * accepted here even where the local botocore model lacks them. A request
 * carries either ProductCode or a LicenseArn on every record, never both. */
#include <math.h>
#include <string.h>

#include "core/clock.h"
#include "core/mem.h"
#include "emulator/emulator_int.h"

#define MAX_RECORDS     25
#define MAX_ALLOCATIONS 2500
#define MAX_TAGS        5
#define INT32_QTY_MAX   2147483647.0

/* Characters in UTF-8 text, or -1 when the bytes are not valid UTF-8. */
static long utf8_chars(const char *s)
{
    long n = 0;
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int extra = *p < 0x80             ? 0
                    : (*p & 0xe0) == 0xc0 ? 1
                    : (*p & 0xf0) == 0xe0 ? 2
                    : (*p & 0xf8) == 0xf0 ? 3
                                          : -1;
        if (extra < 0 || (extra == 1 && *p < 0xc2))
            return -1;
        p++;
        for (int i = 0; i < extra; i++, p++)
            if ((*p & 0xc0) != 0x80)
                return -1;
        n++;
    }
    return n;
}

/* The model's TagKey/TagValue pattern ^[a-zA-Z0-9+ -=._:\/@]+$, read as the
 * regex reads it: " -=" is the range 0x20..0x3D. */
static bool tag_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= 0x20 && c <= 0x3d) ||
           c == '_' || c == '@';
}

/* ProductCode: ^[-a-zA-Z0-9/=:_.@]*$ */
static bool product_char_ok(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-/=:_.@", c) != NULL;
}

static bool all_chars(const char *s, bool (*ok)(unsigned char))
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!ok(*p))
            return false;
    return true;
}

static bool all_digits(const char *s, size_t want_len)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] < '0' || s[n] > '9')
            return false;
    return n == want_len;
}

/* arn:aws[-partition]:license-manager::<12 digits>:license:l-<hex>, at most
 * 2048 characters. */
static bool license_arn_ok(const char *s)
{
    if (strlen(s) > 2048 || strncmp(s, "arn:aws", 7))
        return false;
    const char *p = s + 7;
    while (*p == '-' || (*p >= 'a' && *p <= 'z'))
        p++;
    if (strncmp(p, ":license-manager::", 18))
        return false;
    p += 18;
    for (int i = 0; i < 12; i++, p++)
        if (*p < '0' || *p > '9')
            return false;
    if (strncmp(p, ":license:l-", 11))
        return false;
    p += 11;
    if (!*p)
        return false;
    for (; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return false;
    return true;
}

/* Member names must be known to the model and appear once. */
static bool check_members(const cJSON *obj, const char *where, const char *const *allowed,
                          mtr_emu_error_t *err)
{
    for (const cJSON *m = obj->child; m; m = m->next) {
        bool known = false;
        for (size_t i = 0; allowed[i]; i++)
            known = known || !strcmp(m->string, allowed[i]);
        if (!known)
            return mtr_emu_fail(err, MTR_EMU_E_VALIDATION,
                                "%s: unknown member \"%s\" (the model does not define it)", where,
                                m->string);
        for (const cJSON *n = m->next; n; n = n->next)
            if (!strcmp(m->string, n->string))
                return mtr_emu_fail(err, MTR_EMU_E_SERIALIZATION, "%s: member \"%s\" appears twice",
                                    where, m->string);
    }
    return true;
}

/* A string member: absent → *out NULL (true); present but not a string →
 * SerializationException; not valid UTF-8 → SerializationException. */
static bool get_string(const cJSON *obj, const char *name, const char *where, const char **out,
                       long *chars, mtr_emu_error_t *err)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(obj, name);
    *out = NULL;
    if (!m)
        return true;
    if (!cJSON_IsString(m))
        return mtr_emu_fail(err, MTR_EMU_E_SERIALIZATION, "%s.%s: expected a string", where, name);
    *chars = utf8_chars(m->valuestring);
    if (*chars < 0)
        return mtr_emu_fail(err, MTR_EMU_E_SERIALIZATION, "%s.%s: not valid UTF-8", where, name);
    *out = m->valuestring;
    return true;
}

/* An integer member in [0, 2^31-1]. */
static bool get_quantity(const cJSON *m, const char *where, mtr_emu_errtype_t range_error,
                         int64_t *out, mtr_emu_error_t *err)
{
    if (!cJSON_IsNumber(m))
        return mtr_emu_fail(err, MTR_EMU_E_SERIALIZATION, "%s: expected an integer", where);
    double v = m->valuedouble;
    if (v != floor(v))
        return mtr_emu_fail(err, MTR_EMU_E_SERIALIZATION, "%s: %g is not an integer", where, v);
    if (v < 0 || v > INT32_QTY_MAX)
        return mtr_emu_fail(err, range_error,
                            "%s: %.0f is out of range (the model allows 0 to 2147483647)", where,
                            v);
    *out = (int64_t)v;
    return true;
}

static bool parse_tags(const cJSON *tags, const char *where, mtr_emu_allocation_t *a,
                       mtr_emu_error_t *err)
{
    static const char *const tag_members[] = {"Key", "Value", NULL};
    if (!cJSON_IsArray(tags))
        return mtr_emu_fail(err, MTR_EMU_E_SERIALIZATION, "%s.Tags: expected a list", where);
    int n = cJSON_GetArraySize(tags);
    if (n < 1 || n > MAX_TAGS)
        return mtr_emu_fail(err, MTR_EMU_E_INVALID_TAG,
                            "%s.Tags: %d tags (the model allows 1 to %d; leave Tags out for the "
                            "untagged bucket)",
                            where, n, MAX_TAGS);
    a->tags = mtr_calloc((size_t)n, sizeof *a->tags);
    char path[160];
    int k = 0;
    for (const cJSON *t = tags->child; t; t = t->next, k++) {
        snprintf(path, sizeof path, "%s.Tags[%d]", where, k);
        if (!cJSON_IsObject(t))
            return mtr_emu_fail(err, MTR_EMU_E_SERIALIZATION, "%s: expected an object", path);
        if (!check_members(t, path, tag_members, err))
            return false;
        const char *key, *value;
        long key_len = 0, value_len = 0;
        if (!get_string(t, "Key", path, &key, &key_len, err) ||
            !get_string(t, "Value", path, &value, &value_len, err))
            return false;
        if (!key || !value)
            return mtr_emu_fail(err, MTR_EMU_E_INVALID_TAG, "%s: Key and Value are both required",
                                path);
        if (key_len < 1 || key_len > 100 || !all_chars(key, tag_char_ok))
            return mtr_emu_fail(err, MTR_EMU_E_INVALID_TAG,
                                "%s.Key: must be 1 to 100 characters of [a-zA-Z0-9+ -=._:/@]",
                                path);
        if (value_len < 1 || value_len > 256 || !all_chars(value, tag_char_ok))
            return mtr_emu_fail(err, MTR_EMU_E_INVALID_TAG,
                                "%s.Value: must be 1 to 256 characters of [a-zA-Z0-9+ -=._:/@]",
                                path);
        for (size_t j = 0; j < a->n_tags; j++)
            if (!strcmp(a->tags[j].key, key))
                return mtr_emu_fail(err, MTR_EMU_E_INVALID_TAG, "%s.Key: \"%s\" appears twice",
                                    path, key);
        a->tags[a->n_tags].key = mtr_strdup(key);
        a->tags[a->n_tags].value = mtr_strdup(value);
        a->n_tags++;
    }
    return true;
}

static bool same_tag_set(const mtr_emu_allocation_t *a, const mtr_emu_allocation_t *b)
{
    if (a->n_tags != b->n_tags)
        return false;
    for (size_t i = 0; i < a->n_tags; i++) {
        bool found = false;
        for (size_t j = 0; j < b->n_tags && !found; j++)
            found = !strcmp(a->tags[i].key, b->tags[j].key) &&
                    !strcmp(a->tags[i].value, b->tags[j].value);
        if (!found)
            return false;
    }
    return true;
}

static bool parse_allocations(const cJSON *list, const char *where, mtr_emu_record_t *r,
                              mtr_emu_error_t *err)
{
    static const char *const alloc_members[] = {"AllocatedUsageQuantity", "Tags", NULL};
    if (!cJSON_IsArray(list))
        return mtr_emu_fail(err, MTR_EMU_E_SERIALIZATION, "%s.UsageAllocations: expected a list",
                            where);
    int n = cJSON_GetArraySize(list);
    if (n < 1 || n > MAX_ALLOCATIONS)
        return mtr_emu_fail(err, MTR_EMU_E_INVALID_ALLOCATIONS,
                            "%s.UsageAllocations: %d allocations (the model allows 1 to %d)", where,
                            n, MAX_ALLOCATIONS);
    r->allocations = mtr_calloc((size_t)n, sizeof *r->allocations);
    int64_t sum = 0;
    char path[128];
    int k = 0;
    for (const cJSON *a = list->child; a; a = a->next, k++) {
        snprintf(path, sizeof path, "%s.UsageAllocations[%d]", where, k);
        if (!cJSON_IsObject(a))
            return mtr_emu_fail(err, MTR_EMU_E_SERIALIZATION, "%s: expected an object", path);
        if (!check_members(a, path, alloc_members, err))
            return false;
        mtr_emu_allocation_t *al = &r->allocations[r->n_allocations++];
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(a, "AllocatedUsageQuantity");
        if (!q)
            return mtr_emu_fail(err, MTR_EMU_E_VALIDATION, "%s: AllocatedUsageQuantity is required",
                                path);
        char qpath[160];
        snprintf(qpath, sizeof qpath, "%s.AllocatedUsageQuantity", path);
        if (!get_quantity(q, qpath, MTR_EMU_E_INVALID_ALLOCATIONS, &al->quantity, err))
            return false;
        sum += al->quantity;
        const cJSON *tags = cJSON_GetObjectItemCaseSensitive(a, "Tags");
        if (tags && !parse_tags(tags, path, al, err))
            return false;
        for (size_t j = 0; j + 1 < r->n_allocations; j++)
            if (same_tag_set(&r->allocations[j], al))
                return mtr_emu_fail(err, MTR_EMU_E_INVALID_ALLOCATIONS,
                                    "%s: the same tags as UsageAllocations[%zu] (each allocation "
                                    "is its own bucket)",
                                    path, j);
    }
    if (sum != r->quantity)
        return mtr_emu_fail(err, MTR_EMU_E_INVALID_ALLOCATIONS,
                            "%s: allocations sum to %lld but Quantity is %lld (they must be equal)",
                            where, (long long)sum, (long long)r->quantity);
    return true;
}

static bool dimension_known(const mtr_config_t *cfg, const char *product_code, const char *dim)
{
    for (size_t p = 0; p < cfg->n_products; p++) {
        const mtr_product_conf_t *prod = &cfg->products[p];
        if (product_code && strcmp(prod->product_code, product_code))
            continue;
        for (size_t d = 0; d < prod->n_dimensions; d++)
            if (!strcmp(prod->dimensions[d].name, dim))
                return true;
    }
    return false;
}

static bool product_known(const mtr_config_t *cfg, const char *code)
{
    for (size_t p = 0; p < cfg->n_products; p++)
        if (!strcmp(cfg->products[p].product_code, code))
            return true;
    return false;
}

static bool parse_record(const mtr_emu_contract_t *c, const cJSON *item, int idx,
                         const char *product_code, int64_t now_ms, mtr_emu_record_t *r,
                         mtr_emu_error_t *err)
{
    static const char *const record_members[] = {
        "Timestamp", "CustomerIdentifier", "CustomerAWSAccountId", "Dimension",
        "Quantity",  "UsageAllocations",   "LicenseArn",           NULL};
    char where[48];
    snprintf(where, sizeof where, "UsageRecords[%d]", idx);
    if (!cJSON_IsObject(item))
        return mtr_emu_fail(err, MTR_EMU_E_SERIALIZATION, "%s: expected an object", where);
    if (!check_members(item, where, record_members, err))
        return false;

    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(item, "Timestamp");
    if (!ts)
        return mtr_emu_fail(err, MTR_EMU_E_VALIDATION, "%s: Timestamp is required", where);
    if (!cJSON_IsNumber(ts))
        return mtr_emu_fail(err, MTR_EMU_E_SERIALIZATION,
                            "%s.Timestamp: expected epoch seconds as a number", where);

    const char *cust, *acct, *dim, *arn;
    long cust_len = 0, acct_len = 0, dim_len = 0, arn_len = 0;
    if (!get_string(item, "CustomerIdentifier", where, &cust, &cust_len, err) ||
        !get_string(item, "CustomerAWSAccountId", where, &acct, &acct_len, err) ||
        !get_string(item, "Dimension", where, &dim, &dim_len, err) ||
        !get_string(item, "LicenseArn", where, &arn, &arn_len, err))
        return false;

    if (!cust == !acct)
        return mtr_emu_fail(err, MTR_EMU_E_INVALID_CUSTOMER,
                            "%s: give exactly one of CustomerIdentifier and CustomerAWSAccountId",
                            where);
    if (cust && (cust_len < 1 || cust_len > 255))
        return mtr_emu_fail(err, MTR_EMU_E_INVALID_CUSTOMER,
                            "%s.CustomerIdentifier: %ld characters (the model allows 1 to 255)",
                            where, cust_len);
    if (acct && !all_digits(acct, 12))
        return mtr_emu_fail(err, MTR_EMU_E_INVALID_CUSTOMER,
                            "%s.CustomerAWSAccountId: \"%.40s\" is not a 12-digit AWS account id",
                            where, acct);

    if (!dim)
        return mtr_emu_fail(err, MTR_EMU_E_VALIDATION, "%s: Dimension is required", where);
    if (dim_len < 1 || dim_len > 255)
        return mtr_emu_fail(err, MTR_EMU_E_INVALID_DIMENSION,
                            "%s.Dimension: %ld characters (the model allows 1 to 255)", where,
                            dim_len);

    if (product_code && arn)
        return mtr_emu_fail(err, MTR_EMU_E_VALIDATION,
                            "%s: LicenseArn and the request's ProductCode are mutually exclusive",
                            where);
    if (!product_code && !arn)
        return mtr_emu_fail(err, MTR_EMU_E_VALIDATION,
                            "%s: give the request a ProductCode or every record a LicenseArn",
                            where);
    if (arn && !license_arn_ok(arn))
        return mtr_emu_fail(err, MTR_EMU_E_VALIDATION,
                            "%s.LicenseArn: not a License Manager license ARN "
                            "(arn:aws:license-manager::<account>:license:l-<hex>)",
                            where);
    if (!dimension_known(c->cfg, product_code, dim))
        return mtr_emu_fail(err, MTR_EMU_E_INVALID_DIMENSION,
                            "%s.Dimension: \"%.255s\" is not a dimension of %s %s", where, dim,
                            product_code ? "product" : "any configured product",
                            product_code ? product_code : "");

    r->quantity = 0; /* the model's default when Quantity is left out */
    const cJSON *q = cJSON_GetObjectItemCaseSensitive(item, "Quantity");
    char qpath[64];
    snprintf(qpath, sizeof qpath, "%s.Quantity", where);
    if (q && !get_quantity(q, qpath, MTR_EMU_E_VALIDATION, &r->quantity, err))
        return false;

    r->product_code = product_code ? mtr_strdup(product_code) : NULL;
    r->license_arn = arn ? mtr_strdup(arn) : NULL;
    r->customer_identifier = cust ? mtr_strdup(cust) : NULL;
    r->customer_account_id = acct ? mtr_strdup(acct) : NULL;
    r->dimension = mtr_strdup(dim);

    const cJSON *allocs = cJSON_GetObjectItemCaseSensitive(item, "UsageAllocations");
    if (allocs && !parse_allocations(allocs, where, r, err))
        return false;

    /* Window: AWS refuses records "6 hours or more after the event" and
     * events in the future; the bounds keep the double→int64 conversion
     * defined. */
    double ts_s = ts->valuedouble;
    int64_t age_ms = 0;
    bool in_range = ts_s > -1e11 && ts_s < 1e11;
    if (in_range)
        age_ms = now_ms - (int64_t)floor(ts_s * 1000.0);
    if (!in_range || age_ms >= c->max_record_age_ms || -age_ms > c->max_future_skew_ms)
        return mtr_emu_fail(err, MTR_EMU_E_TIMESTAMP_OUT_OF_BOUNDS,
                            "%s.Timestamp: %.3f is %s (accepted: less than %lld s old, at most "
                            "%lld s ahead)",
                            where, ts_s, !in_range || age_ms > 0 ? "too old" : "in the future",
                            (long long)(c->max_record_age_ms / 1000),
                            (long long)(c->max_future_skew_ms / 1000));
    r->timestamp_s = ts_s;
    r->hour_ms = mtr_hour_floor_ms((int64_t)floor(ts_s * 1000.0));
    return true;
}

void mtr_emu_record_clear(mtr_emu_record_t *r)
{
    mtr_free(r->product_code);
    mtr_free(r->license_arn);
    mtr_free(r->customer_identifier);
    mtr_free(r->customer_account_id);
    mtr_free(r->dimension);
    for (size_t i = 0; i < r->n_allocations; i++) {
        for (size_t t = 0; t < r->allocations[i].n_tags; t++) {
            mtr_free(r->allocations[i].tags[t].key);
            mtr_free(r->allocations[i].tags[t].value);
        }
        mtr_free(r->allocations[i].tags);
    }
    mtr_free(r->allocations);
    memset(r, 0, sizeof *r);
}

void mtr_emu_batch_free(mtr_emu_batch_t *b)
{
    for (size_t i = 0; i < b->n_records; i++)
        mtr_emu_record_clear(&b->records[i]);
    mtr_free(b->records);
    mtr_free(b->echo);
    cJSON_Delete(b->root);
    memset(b, 0, sizeof *b);
}

static bool parse_body(const mtr_emu_contract_t *c, const char *body, size_t len, int64_t now_ms,
                       mtr_emu_batch_t *out, mtr_emu_error_t *err)
{
    static const char *const request_members[] = {"UsageRecords", "ProductCode", NULL};
    const char *end = NULL;
    out->root = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (!out->root)
        return mtr_emu_fail(err, MTR_EMU_E_SERIALIZATION, "request body is not valid JSON");
    for (; end && end < body + len; end++)
        if (!strchr(" \t\r\n", *end))
            return mtr_emu_fail(err, MTR_EMU_E_SERIALIZATION,
                                "request body has data after the JSON object");
    if (!cJSON_IsObject(out->root))
        return mtr_emu_fail(err, MTR_EMU_E_SERIALIZATION, "request body must be a JSON object");
    if (!check_members(out->root, "request", request_members, err))
        return false;

    const char *product_code;
    long pc_len = 0;
    if (!get_string(out->root, "ProductCode", "request", &product_code, &pc_len, err))
        return false;
    if (product_code) {
        if (pc_len < 1 || pc_len > 255 || !all_chars(product_code, product_char_ok))
            return mtr_emu_fail(err, MTR_EMU_E_INVALID_PRODUCT_CODE,
                                "ProductCode: must be 1 to 255 characters of [-a-zA-Z0-9/=:_.@]");
        if (!product_known(c->cfg, product_code))
            return mtr_emu_fail(err, MTR_EMU_E_INVALID_PRODUCT_CODE,
                                "ProductCode: \"%s\" is not a configured product", product_code);
    }

    const cJSON *list = cJSON_GetObjectItemCaseSensitive(out->root, "UsageRecords");
    if (!list)
        return mtr_emu_fail(err, MTR_EMU_E_VALIDATION, "UsageRecords is required");
    if (!cJSON_IsArray(list))
        return mtr_emu_fail(err, MTR_EMU_E_SERIALIZATION, "UsageRecords: expected a list");
    int n = cJSON_GetArraySize(list);
    if (n > MAX_RECORDS)
        return mtr_emu_fail(err, MTR_EMU_E_VALIDATION,
                            "1 validation error detected: UsageRecords has %d records; "
                            "the model allows at most %d",
                            n, MAX_RECORDS);
    if (n == 0 && !product_code)
        return mtr_emu_fail(err, MTR_EMU_E_VALIDATION, "ProductCode is required");

    out->records = mtr_calloc((size_t)n, sizeof *out->records);
    out->echo = mtr_calloc((size_t)n, sizeof *out->echo);
    int i = 0;
    for (const cJSON *item = list->child; item; item = item->next, i++) {
        out->n_records = (size_t)i + 1; /* so that a failure frees what was built */
        out->echo[i] = item;
        if (!parse_record(c, item, i, product_code, now_ms, &out->records[i], err))
            return false;
    }
    return true;
}

bool mtr_emu_batch_parse(const mtr_emu_contract_t *c, const char *body, size_t len, int64_t now_ms,
                         mtr_emu_batch_t *out, mtr_emu_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (parse_body(c, body, len, now_ms, out, err))
        return true;
    mtr_emu_batch_free(out);
    return false;
}
