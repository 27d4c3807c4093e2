/* The Metering Service emulator, driven in-process over loopback with
 * libcurl and SigV4-signed requests: AWS's record semantics (idempotent
 * repeats, DuplicateRecord, CustomerNotSubscribed), the contract checks of
 * the service model, authentication errors, each injected fault and the
 * inspection endpoints. Time comes from a manual clock so the acceptance
 * window and the signature dates are exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/mem.h"
#include "emit/sigv4.h"
#include "emulator/emulator.h"

#define AKID    "AKIDEMULATORTEST"
#define SECRET  "emulator/test/secret/key"
#define PRODUCT "prod-abc123"
/* 2026-01-15T12:30:00Z */
#define NOW_MS 1768480200000LL
#define NOW_S  1768480200LL
#define HOUR_S 3600LL

/* ---- fixture: a hand-built config and a running emulator ---- */

static mtr_dimension_conf_t dims[] = {{.name = "api_calls"}, {.name = "seats"}};
static mtr_product_conf_t products[] = {
    {.product_code = PRODUCT, .dimensions = dims, .n_dimensions = 2}};
static mtr_emulator_credential_t creds[] = {{.access_key_id = AKID, .secret_access_key = SECRET}};
static char *customers[] = {"cust-1", "cust-2", "123456789012"};

typedef struct fixture {
    mtr_config_t cfg;
    mtr_clock_t clock;
    mtr_emulator_t *em;
    char base[96];
    char host[64];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    f->cfg.products = products;
    f->cfg.n_products = 1;
    f->cfg.emulator.credentials = creds;
    f->cfg.emulator.n_credentials = 1;
    f->cfg.emulator.customers = customers;
    f->cfg.emulator.n_customers = 3;
    f->cfg.emulator.region = "us-east-1";
    mtr_clock_manual_init(&f->clock, NOW_MS);
    mtr_emulator_options_t opts = {.clock = &f->clock, .faults.seed = 7};
    char err[256];
    f->em = mtr_emulator_start(&f->cfg, &opts, err, sizeof err);
    if (!f->em)
        fail_msg("emulator did not start: %s", err);
    snprintf(f->host, sizeof f->host, "127.0.0.1:%u", (unsigned)mtr_emulator_port(f->em));
    snprintf(f->base, sizeof f->base, "http://%s", f->host);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    mtr_emulator_stop(f->em);
    free(f);
    return 0;
}

/* ---- HTTP ---- */

typedef struct response {
    long status;
    CURLcode curl;
    char *body;
    size_t len;
    char error_type[128];
    cJSON *json;
} response_t;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    response_t *r = ud;
    r->body = realloc(r->body, r->len + size * n + 1);
    memcpy(r->body + r->len, p, size * n);
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    response_t *r = ud;
    size_t len = size * n;
    const char *name = "x-amzn-ErrorType:";
    if (len > strlen(name) && !strncasecmp(p, name, strlen(name))) {
        const char *v = p + strlen(name);
        while (*v == ' ')
            v++;
        size_t vl = (size_t)(p + len - v);
        while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        snprintf(r->error_type, sizeof r->error_type, "%.*s", (int)vl, v);
    }
    return len;
}

static void response_free(response_t *r)
{
    free(r->body);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
}

enum {
    SEND_NO_TARGET = 1 << 0,
    SEND_WRONG_CONTENT_TYPE = 1 << 1,
    SEND_BAD_SIGNATURE = 1 << 2,
    SEND_UNKNOWN_KEY = 1 << 3,
    SEND_UNSIGNED = 1 << 4,
};

static response_t http(const char *method, const char *url, const char *body, size_t body_len,
                       struct curl_slist *headers)
{
    response_t r = {0};
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    r.curl = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    if (r.body)
        r.json = cJSON_Parse(r.body);
    return r;
}

/* POST / signed like an AWS SDK would sign BatchMeterUsage. */
static response_t send_signed(fixture_t *f, const char *body, int flags)
{
    char date[17];
    mtr_sigv4_format_amz_date(mtr_clock_wall_ms(&f->clock), date);
    const char *ctype =
        flags & SEND_WRONG_CONTENT_TYPE ? "application/json" : "application/x-amz-json-1.1";
    mtr_http_header_t h[4] = {{"Host", f->host},
                              {"Content-Type", ctype},
                              {"X-Amz-Date", date},
                              {"X-Amz-Target", "AWSMPMeteringService.BatchMeterUsage"}};
    size_t nh = flags & SEND_NO_TARGET ? 3 : 4;
    mtr_sigv4_request_t req = {.method = "POST",
                               .path = "/",
                               .query = "",
                               .headers = h,
                               .n_headers = nh,
                               .body = body,
                               .body_len = strlen(body)};
    mtr_sigv4_params_t params = {
        .region = "us-east-1", .service = "aws-marketplace", .amz_date = date};
    mtr_sigv4_credentials_t cr = {.access_key_id = flags & SEND_UNKNOWN_KEY ? "AKIDNOBODY" : AKID,
                                  .secret_access_key =
                                      flags & SEND_BAD_SIGNATURE ? "not-the-secret" : SECRET};
    char *auth = NULL;
    char err[256];
    assert_int_equal(mtr_sigv4_sign(&req, &params, &cr, &auth, err, sizeof err), MTR_OK);

    struct curl_slist *hl = NULL;
    char line[1024];
    for (size_t i = 0; i < nh; i++) {
        snprintf(line, sizeof line, "%s: %s", h[i].name, h[i].value);
        hl = curl_slist_append(hl, line);
    }
    if (!(flags & SEND_UNSIGNED)) {
        snprintf(line, sizeof line, "Authorization: %s", auth);
        hl = curl_slist_append(hl, line);
    }
    hl = curl_slist_append(hl, "Expect:");
    char url[128];
    snprintf(url, sizeof url, "%s/", f->base);
    response_t r = http("POST", url, body, strlen(body), hl);
    curl_slist_free_all(hl);
    mtr_free(auth);
    return r;
}

static response_t inspect(fixture_t *f, const char *method, const char *path)
{
    char url[128];
    snprintf(url, sizeof url, "%s%s", f->base, path);
    return http(method, url, !strcmp(method, "POST") ? "" : NULL, 0, NULL);
}

/* ---- request bodies ---- */

static char *record(const char *customer, const char *dimension, long long qty, long long ts)
{
    char *s = malloc(512);
    snprintf(s, 512,
             "{\"CustomerIdentifier\":\"%s\",\"Dimension\":\"%s\",\"Quantity\":%lld,"
             "\"Timestamp\":%lld}",
             customer, dimension, qty, ts);
    return s;
}

static char *batch_of(const char *product, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    size_t cap = 256;
    for (int i = 0; i < n; i++)
        cap += 4096;
    char *s = malloc(cap);
    int off = snprintf(s, cap, "{\"ProductCode\":\"%s\",\"UsageRecords\":[", product);
    for (int i = 0; i < n; i++) {
        char *rec = va_arg(ap, char *);
        off += snprintf(s + off, cap - (size_t)off, "%s%s", i ? "," : "", rec);
        free(rec);
    }
    snprintf(s + off, cap - (size_t)off, "]}");
    va_end(ap);
    return s;
}

/* A request for PRODUCT with one record. */
static char *one_record_batch(const char *customer, const char *dimension, long long qty,
                              long long ts)
{
    return batch_of(PRODUCT, 1, record(customer, dimension, qty, ts));
}

static response_t send_batch(fixture_t *f, char *body)
{
    response_t r = send_signed(f, body, 0);
    free(body);
    return r;
}

static const char *result_field(const response_t *r, int i, const char *name)
{
    const cJSON *res = cJSON_GetArrayItem(cJSON_GetObjectItem(r->json, "Results"), i);
    const cJSON *v = cJSON_GetObjectItem(res, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void assert_rejected(const response_t *r, long status, const char *type)
{
    if (r->status != status || strcmp(r->error_type, type))
        fail_msg("expected %ld %s, got %ld %s: %s", status, type, r->status, r->error_type,
                 r->body ? r->body : "");
    const cJSON *t = cJSON_GetObjectItem(r->json, "__type");
    assert_true(cJSON_IsString(t));
    assert_string_equal(t->valuestring, type);
    assert_true(cJSON_IsString(cJSON_GetObjectItem(r->json, "message")));
}

/* Sends body signed as `flags` say and asserts the refusal. */
static void assert_signed_rejected(fixture_t *f, const char *body, int flags, long status,
                                   const char *type)
{
    response_t r = send_signed(f, body, flags);
    assert_rejected(&r, status, type);
    response_free(&r);
}

/* Sends body (freed here) as a well-signed request and asserts the refusal. */
static void assert_batch_rejected(fixture_t *f, char *body, long status, const char *type)
{
    response_t r = send_batch(f, body);
    assert_rejected(&r, status, type);
    response_free(&r);
}

static size_t stored(fixture_t *f)
{
    mtr_emulator_stats_t s;
    mtr_emulator_get_stats(f->em, &s);
    return (size_t)s.stored;
}

/* ---- record semantics ---- */

static void test_valid_batch_is_accepted_with_a_record_id_per_record(void **state)
{
    fixture_t *f = *state;
    response_t r = send_batch(f, batch_of(PRODUCT, 2, record("cust-1", "api_calls", 5, NOW_S - 60),
                                          record("cust-2", "seats", 0, NOW_S - HOUR_S)));
    assert_int_equal(r.status, 200);
    assert_string_equal(result_field(&r, 0, "Status"), "Success");
    assert_string_equal(result_field(&r, 1, "Status"), "Success");
    assert_int_equal(strlen(result_field(&r, 0, "MeteringRecordId")), 36);
    assert_string_not_equal(result_field(&r, 0, "MeteringRecordId"),
                            result_field(&r, 1, "MeteringRecordId"));
    const cJSON *echo = cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "Results"), 0), "UsageRecord");
    assert_int_equal(cJSON_GetObjectItem(echo, "Quantity")->valueint, 5);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "UnprocessedRecords")), 0);
    assert_int_equal(stored(f), 2);
    response_free(&r);
}

static void test_identical_repeat_returns_the_same_record_id(void **state)
{
    fixture_t *f = *state;
    response_t a = send_batch(f, one_record_batch("cust-1", "api_calls", 7, NOW_S - 60));
    response_t b = send_batch(f, one_record_batch("cust-1", "api_calls", 7, NOW_S - 60));
    assert_int_equal(b.status, 200);
    assert_string_equal(result_field(&b, 0, "Status"), "Success");
    assert_string_equal(result_field(&a, 0, "MeteringRecordId"),
                        result_field(&b, 0, "MeteringRecordId"));
    assert_int_equal(stored(f), 1);
    response_free(&a);
    response_free(&b);
}

static void test_same_hour_with_other_quantity_is_duplicate_record_and_not_billed(void **state)
{
    fixture_t *f = *state;
    response_t a = send_batch(f, one_record_batch("cust-1", "api_calls", 7, NOW_S - 60));
    response_t b = send_batch(f, one_record_batch("cust-1", "api_calls", 8, NOW_S - 60));
    assert_int_equal(b.status, 200);
    assert_string_equal(result_field(&b, 0, "Status"), "DuplicateRecord");
    assert_null(result_field(&b, 0, "MeteringRecordId"));
    /* Same hour, other second: still the same identity. */
    response_t c = send_batch(f, one_record_batch("cust-1", "api_calls", 7, NOW_S - 61));
    assert_string_equal(result_field(&c, 0, "Status"), "DuplicateRecord");
    char *json = mtr_emulator_records_json(f->em);
    cJSON *o = cJSON_Parse(json);
    assert_int_equal(cJSON_GetObjectItem(o, "count")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(o, "duplicate_records")->valueint, 2);
    const cJSON *rec = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "records"), 0);
    assert_int_equal(cJSON_GetObjectItem(rec, "quantity")->valueint, 7);
    cJSON_Delete(o);
    mtr_free(json);
    response_free(&a);
    response_free(&b);
    response_free(&c);
}

static void test_unlisted_customer_is_customer_not_subscribed(void **state)
{
    fixture_t *f = *state;
    response_t r = send_batch(f, batch_of(PRODUCT, 2, record("cust-9", "api_calls", 1, NOW_S - 60),
                                          record("cust-1", "api_calls", 1, NOW_S - 60)));
    assert_int_equal(r.status, 200);
    assert_string_equal(result_field(&r, 0, "Status"), "CustomerNotSubscribed");
    assert_string_equal(result_field(&r, 1, "Status"), "Success");
    assert_int_equal(stored(f), 1);
    response_free(&r);
}

static void test_license_arn_and_account_id_records_are_accepted(void **state)
{
    fixture_t *f = *state;
    const char *body =
        "{\"UsageRecords\":[{\"CustomerAWSAccountId\":\"123456789012\",\"Dimension\":\"seats\","
        "\"Quantity\":3,\"Timestamp\":1768480000,\"LicenseArn\":"
        "\"arn:aws:license-manager::294406891311:license:l-0123456789abcdef\"}]}";
    response_t r = send_signed(f, body, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(result_field(&r, 0, "Status"), "Success");
    response_free(&r);

    const char *both =
        "{\"ProductCode\":\"" PRODUCT "\",\"UsageRecords\":[{\"CustomerAWSAccountId\":"
        "\"123456789012\",\"Dimension\":\"seats\",\"Timestamp\":1768480000,\"LicenseArn\":"
        "\"arn:aws:license-manager::294406891311:license:l-0123456789abcdef\"}]}";
    assert_signed_rejected(f, both, 0, 400, "ValidationException");
}

/* ---- authentication and protocol ---- */

static void test_wrong_secret_is_invalid_signature(void **state)
{
    fixture_t *f = *state;
    char *body = one_record_batch("cust-1", "api_calls", 1, NOW_S - 60);
    assert_signed_rejected(f, body, SEND_BAD_SIGNATURE, 403, "InvalidSignatureException");
    assert_signed_rejected(f, body, SEND_UNKNOWN_KEY, 403, "UnrecognizedClientException");
    assert_signed_rejected(f, body, SEND_UNSIGNED, 403, "MissingAuthenticationTokenException");
    free(body);
    assert_int_equal(stored(f), 0);
}

static void test_missing_target_or_wrong_content_type_is_refused(void **state)
{
    fixture_t *f = *state;
    char *body = one_record_batch("cust-1", "api_calls", 1, NOW_S - 60);
    assert_signed_rejected(f, body, SEND_NO_TARGET, 400, "UnknownOperationException");
    assert_signed_rejected(f, body, SEND_WRONG_CONTENT_TYPE, 415, "UnsupportedMediaTypeException");
    free(body);
    assert_int_equal(stored(f), 0);
}

static void test_body_of_a_megabyte_is_refused(void **state)
{
    fixture_t *f = *state;
    size_t n = 1000 * 1000 + 10;
    char *body = malloc(n + 1);
    memset(body, ' ', n);
    body[n] = '\0';
    body[0] = '{';
    body[n - 1] = '}';
    assert_signed_rejected(f, body, 0, 413, "RequestEntityTooLargeException");
    free(body);
}

/* ---- the contract ---- */

static void test_twenty_six_records_is_a_validation_error(void **state)
{
    fixture_t *f = *state;
    char *body = malloc(64 * 1024);
    int off = snprintf(body, 64 * 1024, "{\"ProductCode\":\"" PRODUCT "\",\"UsageRecords\":[");
    for (int i = 0; i < 26; i++) {
        char cust[16];
        snprintf(cust, sizeof cust, "cust-%c", i % 2 ? '1' : '2');
        char *rec = record(cust, i < 13 ? "api_calls" : "seats", 1, NOW_S - 60 - i * 300);
        off += snprintf(body + off, 64 * 1024 - (size_t)off, "%s%s", i ? "," : "", rec);
        free(rec);
    }
    snprintf(body + off, 64 * 1024 - (size_t)off, "]}");
    assert_signed_rejected(f, body, 0, 400, "ValidationException");
    free(body);
    assert_int_equal(stored(f), 0);
}

static void test_bad_customer_identifiers_fail_the_whole_request(void **state)
{
    fixture_t *f = *state;
    const char *bodies[] = {
        /* neither */
        "{\"ProductCode\":\"" PRODUCT "\",\"UsageRecords\":[{\"Dimension\":\"seats\","
        "\"Timestamp\":1768480000}]}",
        /* both */
        "{\"ProductCode\":\"" PRODUCT "\",\"UsageRecords\":[{\"CustomerIdentifier\":\"cust-1\","
        "\"CustomerAWSAccountId\":\"123456789012\",\"Dimension\":\"seats\",\"Timestamp\":"
        "1768480000}]}",
        /* empty */
        "{\"ProductCode\":\"" PRODUCT "\",\"UsageRecords\":[{\"CustomerIdentifier\":\"\","
        "\"Dimension\":\"seats\",\"Timestamp\":1768480000}]}",
        /* account id of 11 digits */
        "{\"ProductCode\":\"" PRODUCT "\",\"UsageRecords\":[{\"CustomerAWSAccountId\":"
        "\"12345678901\",\"Dimension\":\"seats\",\"Timestamp\":1768480000}]}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        assert_signed_rejected(f, bodies[i], 0, 400, "InvalidCustomerIdentifierException");
    }
    char longid[300];
    memset(longid, 'x', 256);
    longid[256] = '\0';
    assert_batch_rejected(f,
                          batch_of(PRODUCT, 2, record("cust-1", "seats", 1, NOW_S - 60),
                                   record(longid, "seats", 1, NOW_S - 60)),
                          400, "InvalidCustomerIdentifierException");
    /* The good record of the failed request was not applied either. */
    assert_int_equal(stored(f), 0);
}

static void test_unknown_product_or_dimension_is_refused(void **state)
{
    fixture_t *f = *state;
    assert_batch_rejected(f,
                          batch_of("prod-other", 1, record("cust-1", "api_calls", 1, NOW_S - 60)),
                          400, "InvalidProductCodeException");
    assert_batch_rejected(f, one_record_batch("cust-1", "gpu_hours", 1, NOW_S - 60), 400,
                          "InvalidUsageDimensionException");
}

static void test_misspelt_member_or_wrong_type_is_refused(void **state)
{
    fixture_t *f = *state;
    assert_signed_rejected(f,
                           "{\"ProductCode\":\"" PRODUCT "\",\"UsageRecords\":[{"
                           "\"CustomerIdentifier\":\"cust-1\",\"Dimension\":\"seats\","
                           "\"Quantitiy\":4,\"Timestamp\":1768480000}]}",
                           0, 400, "ValidationException");
    assert_signed_rejected(f,
                           "{\"ProductCode\":\"" PRODUCT "\",\"UsageRecords\":[{"
                           "\"CustomerIdentifier\":\"cust-1\",\"Dimension\":\"seats\","
                           "\"Quantity\":\"4\",\"Timestamp\":1768480000}]}",
                           0, 400, "SerializationException");
    assert_signed_rejected(f, "{\"ProductCode\":", 0, 400, "SerializationException");
    assert_batch_rejected(f, one_record_batch("cust-1", "seats", -1, NOW_S - 60), 400,
                          "ValidationException");
    assert_batch_rejected(f, one_record_batch("cust-1", "seats", 2147483648LL, NOW_S - 60), 400,
                          "ValidationException");
}

static char *allocation_record(const char *allocations, long long qty)
{
    char *s = malloc(4096);
    snprintf(s, 4096,
             "{\"CustomerIdentifier\":\"cust-1\",\"Dimension\":\"api_calls\",\"Quantity\":%lld,"
             "\"Timestamp\":%lld,\"UsageAllocations\":%s}",
             qty, NOW_S - 60, allocations);
    return s;
}

static void test_allocations_must_sum_to_the_quantity(void **state)
{
    fixture_t *f = *state;
    const char *allocs = "[{\"AllocatedUsageQuantity\":3,\"Tags\":[{\"Key\":\"team\",\"Value\":"
                         "\"a\"}]},{\"AllocatedUsageQuantity\":4}]";
    assert_batch_rejected(f, batch_of(PRODUCT, 1, allocation_record(allocs, 8)), 400,
                          "InvalidUsageAllocationsException");
    response_t r = send_batch(f, batch_of(PRODUCT, 1, allocation_record(allocs, 7)));
    assert_int_equal(r.status, 200);
    assert_string_equal(result_field(&r, 0, "Status"), "Success");
    response_free(&r);
    char *json = mtr_emulator_records_json(f->em);
    cJSON *o = cJSON_Parse(json);
    const cJSON *al = cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "records"), 0),
                                          "allocations");
    assert_int_equal(cJSON_GetArraySize(al), 2);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(al, 0), "tags"), "team")
            ->valuestring,
        "a");
    cJSON_Delete(o);
    mtr_free(json);
}

static void test_six_tags_or_a_bad_tag_key_is_invalid_tag(void **state)
{
    fixture_t *f = *state;
    const char *six = "[{\"AllocatedUsageQuantity\":1,\"Tags\":[{\"Key\":\"a\",\"Value\":\"1\"},"
                      "{\"Key\":\"b\",\"Value\":\"1\"},{\"Key\":\"c\",\"Value\":\"1\"},{\"Key\":"
                      "\"d\",\"Value\":\"1\"},{\"Key\":\"e\",\"Value\":\"1\"},{\"Key\":\"f\","
                      "\"Value\":\"1\"}]}]";
    assert_batch_rejected(f, batch_of(PRODUCT, 1, allocation_record(six, 1)), 400,
                          "InvalidTagException");
    const char *five = "[{\"AllocatedUsageQuantity\":1,\"Tags\":[{\"Key\":\"a\",\"Value\":\"1\"},"
                       "{\"Key\":\"b\",\"Value\":\"1\"},{\"Key\":\"c\",\"Value\":\"1\"},{\"Key\":"
                       "\"d\",\"Value\":\"1\"},{\"Key\":\"e\",\"Value\":\"1\"}]}]";
    response_t r = send_batch(f, batch_of(PRODUCT, 1, allocation_record(five, 1)));
    assert_int_equal(r.status, 200);
    response_free(&r);
    const char *pipe = "[{\"AllocatedUsageQuantity\":1,\"Tags\":[{\"Key\":\"a|b\",\"Value\":"
                       "\"1\"}]}]";
    assert_batch_rejected(f, batch_of(PRODUCT, 1, allocation_record(pipe, 1)), 400,
                          "InvalidTagException");
}

static void test_timestamp_outside_the_window_is_out_of_bounds(void **state)
{
    fixture_t *f = *state;
    assert_batch_rejected(f, one_record_batch("cust-1", "seats", 1, NOW_S - 6 * HOUR_S), 400,
                          "TimestampOutOfBoundsException");
    assert_batch_rejected(f, one_record_batch("cust-1", "seats", 1, NOW_S + 600), 400,
                          "TimestampOutOfBoundsException");
    response_t r = send_batch(f, one_record_batch("cust-1", "seats", 1, NOW_S - 6 * HOUR_S + 1));
    assert_int_equal(r.status, 200);
    response_free(&r);
}

/* ---- faults ---- */

static void set_faults(fixture_t *f, mtr_emulator_faults_t faults)
{
    char err[256];
    assert_int_equal(mtr_emulator_set_faults(f->em, &faults, err, sizeof err), MTR_OK);
}

static void test_throttle_ratio_one_throttles_and_applies_nothing(void **state)
{
    fixture_t *f = *state;
    set_faults(f, (mtr_emulator_faults_t){.throttle_ratio = 1.0});
    assert_batch_rejected(f, one_record_batch("cust-1", "seats", 1, NOW_S - 60), 400,
                          "ThrottlingException");
    assert_int_equal(stored(f), 0);
}

static void test_error_ratio_one_is_internal_service_error(void **state)
{
    fixture_t *f = *state;
    set_faults(f, (mtr_emulator_faults_t){.error_ratio = 1.0});
    assert_batch_rejected(f, one_record_batch("cust-1", "seats", 1, NOW_S - 60), 500,
                          "InternalServiceErrorException");
    assert_int_equal(stored(f), 0);
}

static void test_unprocessed_ratio_one_returns_every_record_unapplied(void **state)
{
    fixture_t *f = *state;
    set_faults(f, (mtr_emulator_faults_t){.unprocessed_ratio = 1.0});
    response_t r = send_batch(f, batch_of(PRODUCT, 2, record("cust-1", "seats", 1, NOW_S - 60),
                                          record("cust-2", "seats", 1, NOW_S - 60)));
    assert_int_equal(r.status, 200);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(r.json, "Results")), 0);
    const cJSON *un = cJSON_GetObjectItem(r.json, "UnprocessedRecords");
    assert_int_equal(cJSON_GetArraySize(un), 2);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(un, 1), "CustomerIdentifier")->valuestring,
        "cust-2");
    response_free(&r);
    assert_int_equal(stored(f), 0);
}

static void test_drop_after_apply_applies_then_closes_unanswered(void **state)
{
    fixture_t *f = *state;
    set_faults(f, (mtr_emulator_faults_t){.drop_after_apply_ratio = 1.0});
    response_t r = send_batch(f, one_record_batch("cust-1", "seats", 4, NOW_S - 60));
    assert_int_equal(r.curl, CURLE_GOT_NOTHING);
    response_free(&r);
    assert_int_equal(stored(f), 1);
    /* The retry after the drop is an identical record: Success, no double bill. */
    set_faults(f, (mtr_emulator_faults_t){0});
    r = send_batch(f, one_record_batch("cust-1", "seats", 4, NOW_S - 60));
    assert_string_equal(result_field(&r, 0, "Status"), "Success");
    response_free(&r);
    mtr_emulator_stats_t s;
    mtr_emulator_get_stats(f->em, &s);
    assert_int_equal(s.dropped, 1);
    assert_int_equal(s.records_idempotent, 1);
    assert_int_equal(s.stored, 1);
}

static void test_latency_delays_the_answer(void **state)
{
    fixture_t *f = *state;
    set_faults(f, (mtr_emulator_faults_t){.latency_ms = 200});
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    response_t r = send_batch(f, one_record_batch("cust-1", "seats", 1, NOW_S - 60));
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_int_equal(r.status, 200);
    response_free(&r);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    assert_true(ms >= 200);
}

static void test_same_seed_gives_the_same_fault_sequence(void **state)
{
    fixture_t *f = *state;
    long seen[2][12];
    for (int run = 0; run < 2; run++) {
        set_faults(f, (mtr_emulator_faults_t){.throttle_ratio = 0.5, .seed = 42});
        for (int i = 0; i < 12; i++) {
            response_t r = send_batch(f, one_record_batch("cust-1", "seats", 1, NOW_S - 60));
            seen[run][i] = r.status;
            response_free(&r);
        }
    }
    assert_memory_equal(seen[0], seen[1], sizeof seen[0]);
    int throttled = 0;
    for (int i = 0; i < 12; i++)
        throttled += seen[0][i] == 400;
    assert_true(throttled > 0 && throttled < 12);
}

static void test_bad_fault_settings_are_refused(void **state)
{
    fixture_t *f = *state;
    char err[256];
    mtr_emulator_faults_t bad = {.error_ratio = 1.5};
    assert_int_equal(mtr_emulator_set_faults(f->em, &bad, err, sizeof err), MTR_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "error-ratio"));
}

/* ---- concurrency ---- */

typedef struct racer {
    fixture_t *f;
    char ids[10][40];
    int ok;
} racer_t;

static void *race(void *arg)
{
    racer_t *r = arg;
    for (int i = 0; i < 10; i++) {
        response_t resp = send_batch(r->f, one_record_batch("cust-1", "seats", 3, NOW_S - 60));
        const char *id = result_field(&resp, 0, "MeteringRecordId");
        if (resp.status == 200 && id) {
            snprintf(r->ids[i], sizeof r->ids[i], "%s", id);
            r->ok++;
        }
        response_free(&resp);
    }
    return NULL;
}

static void test_parallel_identical_requests_store_one_record_with_one_id(void **state)
{
    fixture_t *f = *state;
    racer_t racers[6];
    pthread_t th[6];
    for (int i = 0; i < 6; i++) {
        racers[i] = (racer_t){.f = f};
        pthread_create(&th[i], NULL, race, &racers[i]);
    }
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(racers[i].ok, 10);
        for (int k = 0; k < 10; k++)
            assert_string_equal(racers[i].ids[k], racers[0].ids[0]);
    }
    mtr_emulator_stats_t s;
    mtr_emulator_get_stats(f->em, &s);
    assert_int_equal(s.stored, 1);
    assert_int_equal(s.records_success, 1);
    assert_int_equal(s.records_idempotent, 59);
}

/* ---- inspection ---- */

static void test_records_endpoint_lists_records_and_reset_clears_them(void **state)
{
    fixture_t *f = *state;
    response_t r = send_batch(f, one_record_batch("cust-2", "api_calls", 9, NOW_S - 60));
    char id[40];
    snprintf(id, sizeof id, "%s", result_field(&r, 0, "MeteringRecordId"));
    response_free(&r);
    r = send_batch(f, one_record_batch("cust-2", "api_calls", 10, NOW_S - 60));
    response_free(&r);

    r = inspect(f, "GET", "/_emulator/records");
    assert_int_equal(r.status, 200);
    assert_int_equal(cJSON_GetObjectItem(r.json, "count")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(r.json, "duplicate_records")->valueint, 1);
    const cJSON *rec = cJSON_GetArrayItem(cJSON_GetObjectItem(r.json, "records"), 0);
    assert_string_equal(cJSON_GetObjectItem(rec, "customer_identifier")->valuestring, "cust-2");
    assert_string_equal(cJSON_GetObjectItem(rec, "dimension")->valuestring, "api_calls");
    assert_string_equal(cJSON_GetObjectItem(rec, "product_code")->valuestring, PRODUCT);
    assert_int_equal(cJSON_GetObjectItem(rec, "quantity")->valueint, 9);
    assert_int_equal((long long)cJSON_GetObjectItem(rec, "timestamp")->valuedouble, NOW_S - 60);
    assert_string_equal(cJSON_GetObjectItem(rec, "metering_record_id")->valuestring, id);
    response_free(&r);

    r = inspect(f, "GET", "/_emulator/stats");
    assert_int_equal(r.status, 200);
    const cJSON *req = cJSON_GetObjectItem(r.json, "requests");
    assert_int_equal(cJSON_GetObjectItem(req, "total")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(req, "ok")->valueint, 2);
    response_free(&r);

    r = inspect(f, "POST", "/_emulator/reset");
    assert_int_equal(r.status, 200);
    response_free(&r);
    r = inspect(f, "GET", "/_emulator/records");
    assert_int_equal(cJSON_GetObjectItem(r.json, "count")->valueint, 0);
    assert_int_equal(cJSON_GetObjectItem(r.json, "duplicate_records")->valueint, 0);
    response_free(&r);
    r = inspect(f, "GET", "/_emulator/nothing");
    assert_int_equal(r.status, 404);
    response_free(&r);
}

static void test_start_without_credentials_or_with_a_bad_host_fails_clearly(void **state)
{
    (void)state;
    mtr_config_t cfg = {.products = products, .n_products = 1};
    char err[256];
    assert_null(mtr_emulator_start(&cfg, NULL, err, sizeof err));
    assert_non_null(strstr(err, "AWS_ACCESS_KEY_ID"));
    cfg.emulator.credentials = creds;
    cfg.emulator.n_credentials = 1;
    mtr_emulator_options_t opts = {.host = "localhost"};
    assert_null(mtr_emulator_start(&cfg, &opts, err, sizeof err));
    assert_non_null(strstr(err, "numeric"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        T(test_valid_batch_is_accepted_with_a_record_id_per_record),
        T(test_identical_repeat_returns_the_same_record_id),
        T(test_same_hour_with_other_quantity_is_duplicate_record_and_not_billed),
        T(test_unlisted_customer_is_customer_not_subscribed),
        T(test_license_arn_and_account_id_records_are_accepted),
        T(test_wrong_secret_is_invalid_signature),
        T(test_missing_target_or_wrong_content_type_is_refused),
        T(test_body_of_a_megabyte_is_refused),
        T(test_twenty_six_records_is_a_validation_error),
        T(test_bad_customer_identifiers_fail_the_whole_request),
        T(test_unknown_product_or_dimension_is_refused),
        T(test_misspelt_member_or_wrong_type_is_refused),
        T(test_allocations_must_sum_to_the_quantity),
        T(test_six_tags_or_a_bad_tag_key_is_invalid_tag),
        T(test_timestamp_outside_the_window_is_out_of_bounds),
        T(test_throttle_ratio_one_throttles_and_applies_nothing),
        T(test_error_ratio_one_is_internal_service_error),
        T(test_unprocessed_ratio_one_returns_every_record_unapplied),
        T(test_drop_after_apply_applies_then_closes_unanswered),
        T(test_latency_delays_the_answer),
        T(test_same_seed_gives_the_same_fault_sequence),
        T(test_bad_fault_settings_are_refused),
        T(test_parallel_identical_requests_store_one_record_with_one_id),
        T(test_records_endpoint_lists_records_and_reset_clears_them),
        cmocka_unit_test(test_start_without_credentials_or_with_a_bad_host_fails_clearly),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
