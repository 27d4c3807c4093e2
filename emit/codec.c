/* BatchMeterUsage JSON: request bodies, response answers matched to records
 * by identity, and error classification by AWS error type. */
#include "emit/codec.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/mem.h"

#define MAX_ID_LEN        255
#define MAX_LICENSE_ARN   2048
#define MAX_TAG_KEY_LEN   100
#define MAX_TAG_VALUE_LEN 256

static bool product_code_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("-/=:_.@", c) != NULL;
}

/* AWS's tag pattern [a-zA-Z0-9+ -=._:\/@]: note " -=" is the range from
 * space to '='. */
static bool tag_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= 0x20 && c <= '=') ||
           strchr("._:/@", c) != NULL;
}

static mtr_err_t check_tag_text(const char *what, size_t alloc, const char *text, size_t max,
                                char *errstr, size_t errstr_size)
{
    size_t len = text ? strlen(text) : 0;
    if (len == 0 || len > max)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "usage allocation %zu: tag %s must be 1..%zu characters (is %zu)", alloc,
                           what, max, len);
    for (size_t i = 0; i < len; i++)
        if (!tag_char((unsigned char)text[i]))
            return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                               "usage allocation %zu: tag %s \"%s\" has character 0x%02x that "
                               "AWS refuses (allowed: letters, digits, space to '=', . _ : / @)",
                               alloc, what, text, (unsigned char)text[i]);
    return MTR_OK;
}

static mtr_err_t check_allocations(const mtr_record_t *r, char *errstr, size_t errstr_size)
{
    if (r->n_allocations > MTR_RECORD_MAX_ALLOCATIONS)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "%zu usage allocations; AWS takes at most %d a record", r->n_allocations,
                           MTR_RECORD_MAX_ALLOCATIONS);
    int64_t sum = 0;
    for (size_t a = 0; a < r->n_allocations; a++) {
        const mtr_record_allocation_t *al = &r->allocations[a];
        if (al->quantity < 0 || al->quantity > MTR_RECORD_MAX_QUANTITY)
            return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                               "usage allocation %zu: quantity %lld outside 0..%lld", a,
                               (long long)al->quantity, MTR_RECORD_MAX_QUANTITY);
        if (al->n_tags > MTR_RECORD_MAX_TAGS)
            return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                               "usage allocation %zu: %zu tags; AWS takes at most %d", a,
                               al->n_tags, MTR_RECORD_MAX_TAGS);
        for (size_t t = 0; t < al->n_tags; t++) {
            mtr_err_t err =
                check_tag_text("key", a, al->tags[t].key, MAX_TAG_KEY_LEN, errstr, errstr_size);
            if (err == MTR_OK)
                err = check_tag_text("value", a, al->tags[t].value, MAX_TAG_VALUE_LEN, errstr,
                                     errstr_size);
            if (err != MTR_OK)
                return err;
        }
        sum += al->quantity;
    }
    if (r->n_allocations > 0 && sum != r->quantity)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "usage allocations add up to %lld but the quantity is %lld; AWS "
                           "requires them to be equal",
                           (long long)sum, (long long)r->quantity);
    return MTR_OK;
}

mtr_err_t mtr_emit_codec_check_record(const mtr_record_t *r, char *errstr, size_t errstr_size)
{
    if ((r->customer_identifier != NULL) == (r->customer_aws_account_id != NULL))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "record %lld: set exactly one of CustomerIdentifier and "
                           "CustomerAWSAccountId",
                           (long long)r->id);
    const char *customer = mtr_record_customer(r);
    size_t clen = strlen(customer);
    if (clen == 0 || clen > MAX_ID_LEN)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "record %lld: customer must be 1..%d characters (is %zu)",
                           (long long)r->id, MAX_ID_LEN, clen);
    if (r->customer_aws_account_id && strspn(customer, "0123456789") != clen)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "record %lld: CustomerAWSAccountId \"%s\" must be digits only",
                           (long long)r->id, customer);
    if (!r->product_code && !r->license_arn)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "record %lld: no product code and no license ARN", (long long)r->id);
    if (r->product_code) {
        size_t plen = strlen(r->product_code);
        if (plen == 0 || plen > MAX_ID_LEN)
            return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                               "record %lld: product code must be 1..%d characters",
                               (long long)r->id, MAX_ID_LEN);
        for (size_t i = 0; i < plen; i++)
            if (!product_code_char((unsigned char)r->product_code[i]))
                return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                                   "record %lld: product code \"%s\" has a character AWS "
                                   "refuses",
                                   (long long)r->id, r->product_code);
    }
    if (r->license_arn &&
        (strncmp(r->license_arn, "arn:aws", 7) != 0 || strlen(r->license_arn) > MAX_LICENSE_ARN))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "record %lld: license ARN \"%.80s\" is not an AWS ARN", (long long)r->id,
                           r->license_arn);
    size_t dlen = r->dimension ? strlen(r->dimension) : 0;
    if (dlen == 0 || dlen > MAX_ID_LEN)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "record %lld: dimension must be 1..%d characters", (long long)r->id,
                           MAX_ID_LEN);
    if (r->quantity < 0 || r->quantity > MTR_RECORD_MAX_QUANTITY)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "record %lld: quantity %lld outside AWS's 0..%lld", (long long)r->id,
                           (long long)r->quantity, MTR_RECORD_MAX_QUANTITY);
    if (r->hour_start_ms < 0)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "record %lld: timestamp before 1970", (long long)r->id);
    mtr_err_t err = check_allocations(r, errstr, errstr_size);
    if (err != MTR_OK && errstr && errstr_size) {
        char inner[384];
        snprintf(inner, sizeof inner, "%s", errstr);
        snprintf(errstr, errstr_size, "record %lld: %s", (long long)r->id, inner);
    }
    return err;
}

/* ---- requests ---- */

static cJSON *record_json(const mtr_record_t *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "Timestamp", (double)(r->hour_start_ms / 1000));
    if (r->customer_identifier)
        cJSON_AddStringToObject(o, "CustomerIdentifier", r->customer_identifier);
    else
        cJSON_AddStringToObject(o, "CustomerAWSAccountId", r->customer_aws_account_id);
    cJSON_AddStringToObject(o, "Dimension", r->dimension);
    cJSON_AddNumberToObject(o, "Quantity", (double)r->quantity);
    if (r->license_arn)
        cJSON_AddStringToObject(o, "LicenseArn", r->license_arn);
    if (r->n_allocations > 0) {
        cJSON *allocs = cJSON_AddArrayToObject(o, "UsageAllocations");
        for (size_t a = 0; a < r->n_allocations; a++) {
            const mtr_record_allocation_t *al = &r->allocations[a];
            cJSON *ao = cJSON_CreateObject();
            cJSON_AddNumberToObject(ao, "AllocatedUsageQuantity", (double)al->quantity);
            if (al->n_tags > 0) {
                cJSON *tags = cJSON_AddArrayToObject(ao, "Tags");
                for (size_t t = 0; t < al->n_tags; t++) {
                    cJSON *to = cJSON_CreateObject();
                    cJSON_AddStringToObject(to, "Key", al->tags[t].key);
                    cJSON_AddStringToObject(to, "Value", al->tags[t].value);
                    cJSON_AddItemToArray(tags, to);
                }
            }
            cJSON_AddItemToArray(allocs, ao);
        }
    }
    return o;
}

static size_t printed_size(cJSON *json)
{
    char *text = cJSON_PrintUnformatted(json);
    size_t len = strlen(text);
    cJSON_free(text);
    cJSON_Delete(json);
    return len;
}

/* AWS takes ProductCode or per-record LicenseArn, not both. */
static cJSON *envelope_json(const mtr_record_t *first)
{
    cJSON *o = cJSON_CreateObject();
    if (first && first->product_code && !first->license_arn)
        cJSON_AddStringToObject(o, "ProductCode", first->product_code);
    cJSON_AddArrayToObject(o, "UsageRecords");
    return o;
}

size_t mtr_emit_codec_envelope_size(const mtr_record_t *first)
{
    return printed_size(envelope_json(first));
}

size_t mtr_emit_codec_record_size(const mtr_record_t *record)
{
    return printed_size(record_json(record));
}

char *mtr_emit_codec_request(const mtr_record_t *const *records, size_t n, size_t *len)
{
    cJSON *o = envelope_json(n > 0 ? records[0] : NULL);
    cJSON *list = cJSON_GetObjectItemCaseSensitive(o, "UsageRecords");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(list, record_json(records[i]));
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *out = mtr_strdup(text);
    cJSON_free(text);
    *len = strlen(out);
    return out;
}

/* ---- responses ---- */

/* Epoch seconds from a JSON timestamp: AWS JSON 1.1 sends numbers (maybe
 * with a fraction); an ISO 8601 string is accepted too. */
static bool timestamp_seconds(const cJSON *ts, int64_t *out)
{
    if (cJSON_IsNumber(ts) && isfinite(ts->valuedouble)) {
        *out = (int64_t)floor(ts->valuedouble);
        return true;
    }
    if (cJSON_IsString(ts)) {
        struct tm tm = {0};
        const char *end = strptime(ts->valuestring, "%Y-%m-%dT%H:%M:%S", &tm);
        if (!end)
            return false;
        *out = (int64_t)timegm(&tm);
        return true;
    }
    return false;
}

static bool same_string(const cJSON *item, const char *want)
{
    return cJSON_IsString(item) && want && strcmp(item->valuestring, want) == 0;
}

/* The index of the record an echoed UsageRecord stands for, or -1. */
static long match_record(const cJSON *usage, const mtr_record_t *const *records, size_t n)
{
    if (!cJSON_IsObject(usage))
        return -1;
    const cJSON *cid = cJSON_GetObjectItemCaseSensitive(usage, "CustomerIdentifier");
    const cJSON *acct = cJSON_GetObjectItemCaseSensitive(usage, "CustomerAWSAccountId");
    const cJSON *dim = cJSON_GetObjectItemCaseSensitive(usage, "Dimension");
    const cJSON *arn = cJSON_GetObjectItemCaseSensitive(usage, "LicenseArn");
    int64_t ts;
    if (!timestamp_seconds(cJSON_GetObjectItemCaseSensitive(usage, "Timestamp"), &ts))
        return -1;
    for (size_t i = 0; i < n; i++) {
        const mtr_record_t *r = records[i];
        bool customer = r->customer_identifier ? same_string(cid, r->customer_identifier)
                                               : same_string(acct, r->customer_aws_account_id);
        if (!customer || !same_string(dim, r->dimension) || ts != r->hour_start_ms / 1000)
            continue;
        if (r->license_arn && cJSON_IsString(arn) && !same_string(arn, r->license_arn))
            continue;
        return (long)i;
    }
    return -1;
}

static mtr_emit_status_t status_of(const char *text)
{
    if (strcmp(text, "Success") == 0)
        return MTR_EMIT_STATUS_SUCCESS;
    if (strcmp(text, "CustomerNotSubscribed") == 0)
        return MTR_EMIT_STATUS_CUSTOMER_NOT_SUBSCRIBED;
    if (strcmp(text, "DuplicateRecord") == 0)
        return MTR_EMIT_STATUS_DUPLICATE_RECORD;
    return MTR_EMIT_STATUS_UNKNOWN;
}

mtr_err_t mtr_emit_codec_parse_response(const char *body, size_t len,
                                        const mtr_record_t *const *records, size_t n,
                                        mtr_emit_answer_t *answers, size_t *n_unmatched,
                                        char *errstr, size_t errstr_size)
{
    memset(answers, 0, n * sizeof *answers);
    size_t unmatched = 0;
    if (n_unmatched)
        *n_unmatched = 0;
    cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                           "BatchMeterUsage response is not a JSON object (%zu bytes)", len);
    }
    const cJSON *results = cJSON_GetObjectItemCaseSensitive(root, "Results");
    const cJSON *unprocessed = cJSON_GetObjectItemCaseSensitive(root, "UnprocessedRecords");
    if ((results && !cJSON_IsArray(results)) || (unprocessed && !cJSON_IsArray(unprocessed))) {
        cJSON_Delete(root);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                           "BatchMeterUsage response: Results and UnprocessedRecords must be "
                           "arrays");
    }
    const cJSON *item;
    cJSON_ArrayForEach(item, results)
    {
        long i = match_record(cJSON_GetObjectItemCaseSensitive(item, "UsageRecord"), records, n);
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(item, "Status");
        /* A record answered twice keeps its first answer. */
        if (i < 0 || !cJSON_IsString(status) || answers[i].status != MTR_EMIT_STATUS_MISSING) {
            unmatched++;
            continue;
        }
        mtr_emit_answer_t *a = &answers[i];
        a->status = status_of(status->valuestring);
        snprintf(a->status_text, sizeof a->status_text, "%s", status->valuestring);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(item, "MeteringRecordId");
        if (cJSON_IsString(id))
            snprintf(a->metering_record_id, sizeof a->metering_record_id, "%s", id->valuestring);
        /* "Success" without an id cannot be recorded as accepted. */
        if (a->status == MTR_EMIT_STATUS_SUCCESS && a->metering_record_id[0] == '\0') {
            a->status = MTR_EMIT_STATUS_UNKNOWN;
            snprintf(a->status_text, sizeof a->status_text, "Success without MeteringRecordId");
        }
    }
    cJSON_ArrayForEach(item, unprocessed)
    {
        long i = match_record(item, records, n);
        if (i < 0 || answers[i].status != MTR_EMIT_STATUS_MISSING) {
            unmatched++;
            continue;
        }
        answers[i].status = MTR_EMIT_STATUS_UNPROCESSED;
        snprintf(answers[i].status_text, sizeof answers[i].status_text, "Unprocessed");
    }
    cJSON_Delete(root);
    if (n_unmatched)
        *n_unmatched = unmatched;
    return MTR_OK;
}

/* ---- errors ---- */

void mtr_emit_codec_error_type(const char *raw, char *out, size_t out_size)
{
    if (!out_size)
        return;
    out[0] = '\0';
    if (!raw)
        return;
    const char *hash = strrchr(raw, '#');
    const char *start = hash ? hash + 1 : raw;
    while (*start == ' ')
        start++;
    size_t len = strcspn(start, ": \t\r\n");
    if (len >= out_size)
        len = out_size - 1;
    memcpy(out, start, len);
    out[len] = '\0';
}

static const struct {
    const char *type;
    mtr_err_t err;
    mtr_emit_action_t action;
} error_table[] = {
    {"ThrottlingException", MTR_ERR_THROTTLED, MTR_EMIT_ACTION_RETRY},
    {"Throttling", MTR_ERR_THROTTLED, MTR_EMIT_ACTION_RETRY},
    {"TooManyRequestsException", MTR_ERR_THROTTLED, MTR_EMIT_ACTION_RETRY},
    {"InternalServiceErrorException", MTR_ERR_SERVER, MTR_EMIT_ACTION_RETRY},
    {"InternalFailure", MTR_ERR_SERVER, MTR_EMIT_ACTION_RETRY},
    {"ServiceUnavailable", MTR_ERR_SERVER, MTR_EMIT_ACTION_RETRY},
    {"ServiceUnavailableException", MTR_ERR_SERVER, MTR_EMIT_ACTION_RETRY},
    {"TimestampOutOfBoundsException", MTR_ERR_REJECTED, MTR_EMIT_ACTION_STALE},
    /* Authentication: listed before the Invalid* rule, which would
     * otherwise catch InvalidSignatureException and InvalidClientTokenId. */
    {"UnrecognizedClientException", MTR_ERR_AUTH, MTR_EMIT_ACTION_DEFER},
    {"InvalidSignatureException", MTR_ERR_AUTH, MTR_EMIT_ACTION_DEFER},
    {"IncompleteSignatureException", MTR_ERR_AUTH, MTR_EMIT_ACTION_DEFER},
    {"MissingAuthenticationTokenException", MTR_ERR_AUTH, MTR_EMIT_ACTION_DEFER},
    {"InvalidClientTokenId", MTR_ERR_AUTH, MTR_EMIT_ACTION_DEFER},
    {"ExpiredTokenException", MTR_ERR_AUTH, MTR_EMIT_ACTION_DEFER},
    {"AccessDeniedException", MTR_ERR_AUTH, MTR_EMIT_ACTION_DEFER},
    {"SignatureDoesNotMatch", MTR_ERR_AUTH, MTR_EMIT_ACTION_DEFER},
    /* The API is not enabled for this seller or region: nothing a retry in
     * seconds fixes, and nothing wrong with the records. */
    {"DisabledApiException", MTR_ERR_REJECTED, MTR_EMIT_ACTION_DEFER},
    {"ValidationException", MTR_ERR_REJECTED, MTR_EMIT_ACTION_BISECT},
    {"SerializationException", MTR_ERR_REJECTED, MTR_EMIT_ACTION_BISECT},
};

static bool has_prefix_and_suffix(const char *s, const char *prefix, const char *suffix)
{
    size_t ls = strlen(s), lp = strlen(prefix), lx = strlen(suffix);
    return ls > lp + lx && strncmp(s, prefix, lp) == 0 && strcmp(s + ls - lx, suffix) == 0;
}

static void classify_type(long http_status, mtr_emit_error_t *out)
{
    for (size_t i = 0; i < sizeof error_table / sizeof error_table[0]; i++) {
        if (strcmp(out->type, error_table[i].type) == 0) {
            out->err = error_table[i].err;
            out->action = error_table[i].action;
            return;
        }
    }
    if (has_prefix_and_suffix(out->type, "Invalid", "Exception")) {
        out->err = MTR_ERR_REJECTED;
        out->action = MTR_EMIT_ACTION_BISECT;
        return;
    }
    /* A type this version does not know: the status says which side failed. */
    if (http_status == 429) {
        out->err = MTR_ERR_THROTTLED;
        out->action = MTR_EMIT_ACTION_RETRY;
    } else if (http_status == 401 || http_status == 403) {
        out->err = MTR_ERR_AUTH;
        out->action = MTR_EMIT_ACTION_DEFER;
    } else if (http_status >= 400 && http_status < 500) {
        out->err = MTR_ERR_REJECTED;
        out->action = MTR_EMIT_ACTION_BISECT;
    } else {
        out->err = MTR_ERR_SERVER;
        out->action = MTR_EMIT_ACTION_RETRY;
    }
}

void mtr_emit_codec_classify(long http_status, const char *error_type_header, const char *body,
                             size_t len, mtr_emit_error_t *out)
{
    memset(out, 0, sizeof *out);
    cJSON *root = NULL;
    if (body && len > 0)
        root = cJSON_ParseWithLength(body, len);
    if (cJSON_IsObject(root)) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(root, "message");
        if (!cJSON_IsString(msg))
            msg = cJSON_GetObjectItemCaseSensitive(root, "Message");
        if (cJSON_IsString(msg))
            snprintf(out->message, sizeof out->message, "%s", msg->valuestring);
    }
    if (http_status >= 200 && http_status < 300) {
        out->err = MTR_OK;
        out->action = MTR_EMIT_ACTION_READ_RESULTS;
        cJSON_Delete(root);
        return;
    }
    if (error_type_header && *error_type_header)
        mtr_emit_codec_error_type(error_type_header, out->type, sizeof out->type);
    if (out->type[0] == '\0' && cJSON_IsObject(root)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "__type");
        if (cJSON_IsString(t))
            mtr_emit_codec_error_type(t->valuestring, out->type, sizeof out->type);
    }
    bool json = cJSON_IsObject(root);
    cJSON_Delete(root);
    if (out->type[0] != '\0') {
        classify_type(http_status, out);
    } else if (http_status == 429) {
        out->err = MTR_ERR_THROTTLED;
        out->action = MTR_EMIT_ACTION_RETRY;
    } else if (http_status >= 500) {
        out->err = MTR_ERR_SERVER;
        out->action = MTR_EMIT_ACTION_RETRY;
    } else {
        /* No type at all (a proxy's HTML page, a cut-off body, JSON without
         * __type): nothing says the records are at fault, so the outcome is
         * treated as unknown and retried with the same records. */
        out->err = MTR_ERR_TRANSPORT;
        out->action = MTR_EMIT_ACTION_RETRY;
        if (!json && out->message[0] == '\0')
            snprintf(out->message, sizeof out->message,
                     "HTTP %ld with a body that is not an AWS JSON error", http_status);
    }
}

const char *mtr_emit_action_name(mtr_emit_action_t action)
{
    switch (action) {
    case MTR_EMIT_ACTION_READ_RESULTS:
        return "read-results";
    case MTR_EMIT_ACTION_RETRY:
        return "retry";
    case MTR_EMIT_ACTION_STALE:
        return "stale";
    case MTR_EMIT_ACTION_BISECT:
        return "bisect";
    case MTR_EMIT_ACTION_DEFER:
        return "defer";
    }
    return "unknown";
}
