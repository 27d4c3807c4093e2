/* The event decoder: a table of valid and invalid messages with the reason
 * each must get, plus the decoded strings, the messages for humans, and
 * that a long run of decodes holds its memory steady. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/event.h"
#include "core/json_arena.h"
#include "core/mem.h"
#include "core/quantity.h"

#define NOW_MS 1795694400000LL /* 2026-11-26T12:00:00Z */
#define T      "2026-11-26T11:30:00Z"
#define T_MS   1795692600000LL

static mtr_dimension_conf_t dims_a[] = {
    {"api_calls", MTR_AGG_SUM, MTR_ROUND_UP, "com.example.api.call"},
    {"storage_gb", MTR_AGG_MAX, MTR_ROUND_UP, NULL},
    {"requests", MTR_AGG_COUNT, MTR_ROUND_UP, "com.example.request"},
    {"seats", MTR_AGG_LATEST, MTR_ROUND_UP, NULL},
    {"data_gb", MTR_AGG_SUM, MTR_ROUND_NEAREST, NULL},
};
static mtr_dimension_conf_t dims_b[] = {
    {"api_calls", MTR_AGG_SUM, MTR_ROUND_UP, "com.example.b.call"},
    {"tokens", MTR_AGG_SUM, MTR_ROUND_DOWN, NULL},
};
static mtr_product_conf_t products[] = {
    {"prod-a", dims_a, 5},
    {"prod-b", dims_b, 2},
};

/* cfg 0: one product (events may omit product_code); cfg 1: two. */
static void make_config(mtr_config_t *cfg, size_t n_products)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->products = products;
    cfg->n_products = n_products;
    cfg->events.max_message_bytes = 1024;
    cfg->window.max_future_skew_ms = 5 * 60 * 1000;
    cfg->window.max_event_age_ms = 24 * MTR_MS_PER_HOUR;
}

typedef struct fixture {
    mtr_config_t cfg[2];
    mtr_clock_t clock;
    mtr_event_decoder_t *dec[2];
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = mtr_calloc(1, sizeof *f);
    make_config(&f->cfg[0], 1);
    make_config(&f->cfg[1], 2);
    mtr_clock_manual_init(&f->clock, NOW_MS);
    f->dec[0] = mtr_event_decoder_new(&f->cfg[0], &f->clock);
    f->dec[1] = mtr_event_decoder_new(&f->cfg[1], &f->clock);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    mtr_event_decoder_free(f->dec[0]);
    mtr_event_decoder_free(f->dec[1]);
    mtr_free(f);
    return 0;
}

/* Messages too long to write inline, filled in by build_dynamic(). */
static char long_customer_256[400], long_customer_255[400], oversized[1400];

static void build_dynamic(void)
{
    char name[300];
    memset(name, 'c', 256);
    name[256] = '\0';
    snprintf(long_customer_256, sizeof long_customer_256,
             "{\"customer\":\"%s\",\"dimension\":\"api_calls\",\"quantity\":1,\"timestamp\":\"" T
             "\"}",
             name);
    name[255] = '\0';
    snprintf(long_customer_255, sizeof long_customer_255,
             "{\"customer\":\"%s\",\"dimension\":\"api_calls\",\"quantity\":1,\"timestamp\":\"" T
             "\"}",
             name);
    memset(name, 'x', 299);
    name[299] = '\0';
    snprintf(
        oversized, sizeof oversized,
        "{\"customer\":\"c\",\"dimension\":\"api_calls\",\"quantity\":1,\"pad\":[\"%s\",\"%s\","
        "\"%s\",\"%s\"]}",
        name, name, name, name);
}

typedef struct decode_case {
    const char *name;
    const char *json;       /* the message value */
    const char *const *dyn; /* or a message built at run time */
    mtr_event_reason_t want;
    int cfg;                   /* 0: one product, 1: two */
    int64_t kafka_ts;          /* 0: the message has no timestamp */
    const char *headers;       /* "name=value|name=value" */
    const char *want_quantity; /* checked on OK when set */
    const char *want_time;     /* RFC 3339, checked on OK when set */
    const char *want_dim;      /* checked on OK when set */
    const char *want_customer; /* checked on OK when set */
} decode_case_t;

static const char *const dyn_long_256 = long_customer_256;
static const char *const dyn_long_255 = long_customer_255;
static const char *const dyn_oversized = oversized;

#define EV(fields)  "{\"customer\":\"cust-1\",\"dimension\":\"api_calls\"," fields "}"
#define EVQ(fields) EV("\"quantity\":1,\"timestamp\":\"" T "\"," fields)
#define CE_ATTRS    "\"specversion\":\"1.0\",\"id\":\"ce-1\",\"source\":\"/svc\","
#define CE_HDRS     "ce_specversion=1.0|ce_id=b-1|ce_source=/svc|"

static const decode_case_t cases[] = {
    /* plain events */
    {"plain_event_decodes", EV("\"id\":\"e1\",\"quantity\":3,\"timestamp\":\"" T "\""),
     .want = MTR_EVENT_OK, .want_quantity = "3", .want_time = T, .want_dim = "api_calls",
     .want_customer = "cust-1"},
    {"decimal_string_quantity", EV("\"quantity\":\"1.25\",\"timestamp\":\"" T "\""),
     .want_quantity = "1.25"},
    {"decimal_number_quantity", EV("\"quantity\":0.5,\"timestamp\":\"" T "\""),
     .want_quantity = "0.5"},
    {"trailing_zeros_past_6_places", EV("\"quantity\":1.5000000,\"timestamp\":\"" T "\""),
     .want_quantity = "1.5"},
    {"exponent_quantity", EV("\"quantity\":2.5e2 ,\"timestamp\":\"" T "\""),
     .want_quantity = "250"},
    {"zero_quantity_allowed", EV("\"quantity\":0,\"timestamp\":\"" T "\""), .want_quantity = "0"},
    {"truncated_json", "{\"customer\":", .want = MTR_EVENT_BAD_JSON},
    {"text_after_json", EVQ("\"id\":\"e\"") " trailing", .want = MTR_EVENT_BAD_JSON},
    {"empty_message", "", .want = MTR_EVENT_BAD_JSON},
    {"array_is_not_an_object", "[1,2]", .want = MTR_EVENT_NOT_AN_OBJECT},
    {"string_is_not_an_object", "\"hello\"", .want = MTR_EVENT_NOT_AN_OBJECT},
    {"duplicate_quantity", EVQ("\"quantity\":2"), .want = MTR_EVENT_DUPLICATE_FIELD},
    /* customers */
    {"missing_customer", "{\"dimension\":\"api_calls\",\"quantity\":1}",
     .want = MTR_EVENT_MISSING_CUSTOMER},
    {"both_customer_kinds", EVQ("\"customer_aws_account_id\":\"012345678901\""),
     .want = MTR_EVENT_BOTH_CUSTOMERS},
    {"customer_number", "{\"customer\":42,\"dimension\":\"api_calls\",\"quantity\":1}",
     .want = MTR_EVENT_BAD_CUSTOMER},
    {"customer_empty", "{\"customer\":\"\",\"dimension\":\"api_calls\",\"quantity\":1}",
     .want = MTR_EVENT_BAD_CUSTOMER},
    {"customer_control_char",
     "{\"customer\":\"cu\\u0001st\",\"dimension\":\"api_calls\",\"quantity\":1}",
     .want = MTR_EVENT_BAD_CUSTOMER},
    {"customer_256_bytes", .dyn = &dyn_long_256, .want = MTR_EVENT_IDENTIFIER_TOO_LONG},
    {"customer_255_bytes", .dyn = &dyn_long_255, .want = MTR_EVENT_OK},
    {"customer_utf8",
     "{\"customer\":\"Zo\xc3\xab-\xe5\xae\xa2\",\"dimension\":\"api_calls\","
     "\"quantity\":1,\"timestamp\":\"" T "\"}",
     .want_customer = "Zo\xc3\xab-\xe5\xae\xa2"},
    {"account_id",
     "{\"customer_aws_account_id\":\"012345678901\",\"dimension\":\"api_calls\","
     "\"quantity\":1,\"timestamp\":\"" T "\"}",
     .want_customer = "012345678901"},
    {"account_id_with_letter",
     "{\"customer_aws_account_id\":\"01234567890a\",\"dimension\":"
     "\"api_calls\",\"quantity\":1}",
     .want = MTR_EVENT_BAD_ACCOUNT_ID},
    {"account_id_11_digits",
     "{\"customer_aws_account_id\":\"01234567890\",\"dimension\":"
     "\"api_calls\",\"quantity\":1}",
     .want = MTR_EVENT_BAD_ACCOUNT_ID},
    {"account_id_as_number",
     "{\"customer_aws_account_id\":123456789012,\"dimension\":"
     "\"api_calls\",\"quantity\":1}",
     .want = MTR_EVENT_BAD_ACCOUNT_ID},
    /* dimensions and products */
    {"missing_dimension", "{\"customer\":\"c\",\"quantity\":1}",
     .want = MTR_EVENT_MISSING_DIMENSION},
    {"unknown_dimension", "{\"customer\":\"c\",\"dimension\":\"foo\",\"quantity\":1}",
     .want = MTR_EVENT_UNKNOWN_DIMENSION},
    {"dimension_number", "{\"customer\":\"c\",\"dimension\":7,\"quantity\":1}",
     .want = MTR_EVENT_UNKNOWN_DIMENSION},
    {"unknown_product", EVQ("\"product_code\":\"nope\""), .want = MTR_EVENT_UNKNOWN_PRODUCT},
    {"two_products_none_named", EVQ("\"id\":\"e\""), .want = MTR_EVENT_UNKNOWN_PRODUCT, .cfg = 1},
    {"two_products_named",
     "{\"customer\":\"c\",\"dimension\":\"tokens\",\"product_code\":"
     "\"prod-b\",\"quantity\":4,\"timestamp\":\"" T "\"}",
     .cfg = 1, .want_dim = "tokens", .want_quantity = "4"},
    {"dimension_of_other_product",
     "{\"customer\":\"c\",\"dimension\":\"storage_gb\","
     "\"product_code\":\"prod-b\",\"quantity\":4}",
     .want = MTR_EVENT_UNKNOWN_DIMENSION, .cfg = 1},
    /* quantities */
    {"missing_quantity", EV("\"timestamp\":\"" T "\""), .want = MTR_EVENT_MISSING_QUANTITY},
    {"null_quantity", EV("\"quantity\":null"), .want = MTR_EVENT_MISSING_QUANTITY},
    {"negative_quantity", EV("\"quantity\":-1"), .want = MTR_EVENT_NEGATIVE_QUANTITY},
    {"negative_string_quantity", EV("\"quantity\":\"-0.5\""), .want = MTR_EVENT_NEGATIVE_QUANTITY},
    {"nan_string_quantity", EV("\"quantity\":\"NaN\""), .want = MTR_EVENT_BAD_QUANTITY},
    {"infinity_string_quantity", EV("\"quantity\":\"Infinity\""), .want = MTR_EVENT_BAD_QUANTITY},
    {"huge_exponent_quantity", EV("\"quantity\":1e400"), .want = MTR_EVENT_QUANTITY_OVERFLOW},
    {"huge_string_quantity", EV("\"quantity\":\"99999999999999999999\""),
     .want = MTR_EVENT_QUANTITY_OVERFLOW},
    {"seven_decimal_places", EV("\"quantity\":0.1234567"), .want = MTR_EVENT_BAD_QUANTITY},
    {"boolean_quantity", EV("\"quantity\":true"), .want = MTR_EVENT_BAD_QUANTITY},
    {"word_quantity", EV("\"quantity\":\"abc\""), .want = MTR_EVENT_BAD_QUANTITY},
    {"count_ignores_quantity",
     "{\"customer\":\"c\",\"dimension\":\"requests\",\"quantity\":57,"
     "\"timestamp\":\"" T "\"}",
     .want_quantity = "1", .want_dim = "requests"},
    {"count_needs_no_quantity",
     "{\"customer\":\"c\",\"dimension\":\"requests\",\"timestamp\":\"" T "\"}",
     .want_quantity = "1"},
    /* timestamps */
    {"future_timestamp", EV("\"quantity\":1,\"timestamp\":\"2026-11-26T12:10:00Z\""),
     .want = MTR_EVENT_FUTURE_TIMESTAMP},
    {"within_future_skew", EV("\"quantity\":1,\"timestamp\":\"2026-11-26T12:04:00Z\""),
     .want_time = "2026-11-26T12:04:00Z"},
    {"ancient_timestamp", EV("\"quantity\":1,\"timestamp\":\"2026-11-20T00:00:00Z\""),
     .want = MTR_EVENT_ANCIENT_TIMESTAMP},
    {"before_year_2000", EV("\"quantity\":1,\"timestamp\":900000000"),
     .want = MTR_EVENT_BAD_TIMESTAMP},
    {"epoch_seconds", EV("\"quantity\":1,\"timestamp\":1795692600"), .want_time = T},
    {"epoch_milliseconds", EV("\"quantity\":1,\"timestamp\":1795692600000"), .want_time = T},
    {"epoch_seconds_fraction", EV("\"quantity\":1,\"timestamp\":1795692600.25"),
     .want_time = "2026-11-26T11:30:00.250Z"},
    {"epoch_seconds_string", EV("\"quantity\":1,\"timestamp\":\"1795692600\""), .want_time = T},
    {"rfc3339_positive_offset", EV("\"quantity\":1,\"timestamp\":\"2026-11-26T13:30:00+02:00\""),
     .want_time = T},
    {"rfc3339_negative_offset_fraction",
     EV("\"quantity\":1,\"timestamp\":\"2026-11-26T06:30:00.123456-05:00\""),
     .want_time = "2026-11-26T11:30:00.123Z"},
    {"rfc3339_month_13", EV("\"quantity\":1,\"timestamp\":\"2026-13-01T00:00:00Z\""),
     .want = MTR_EVENT_BAD_TIMESTAMP},
    {"rfc3339_no_zone", EV("\"quantity\":1,\"timestamp\":\"2026-11-26T11:30:00\""),
     .want = MTR_EVENT_BAD_TIMESTAMP},
    {"timestamp_word", EV("\"quantity\":1,\"timestamp\":\"yesterday\""),
     .want = MTR_EVENT_BAD_TIMESTAMP},
    {"missing_timestamp_uses_kafka", EV("\"quantity\":1"), .kafka_ts = T_MS, .want_time = T},
    {"missing_timestamp_kafka_too_old", EV("\"quantity\":1"), .kafka_ts = 1000000000000LL,
     .want = MTR_EVENT_ANCIENT_TIMESTAMP},
    {"missing_timestamp_no_kafka", EV("\"quantity\":1"), .want = MTR_EVENT_BAD_TIMESTAMP},
    /* size and encoding */
    {"oversized_message", .dyn = &dyn_oversized, .want = MTR_EVENT_TOO_LARGE},
    {"invalid_utf8_byte", "{\"customer\":\"c\xff\",\"dimension\":\"api_calls\",\"quantity\":1}",
     .want = MTR_EVENT_BAD_UTF8},
    {"overlong_utf8", "{\"customer\":\"c\xc0\xaf\",\"dimension\":\"api_calls\",\"quantity\":1}",
     .want = MTR_EVENT_BAD_UTF8},
    {"utf16_surrogate_in_utf8",
     "{\"customer\":\"c\xed\xa0\x80\",\"dimension\":\"api_calls\",\"quantity\":1}",
     .want = MTR_EVENT_BAD_UTF8},
    {"escaped_nul_in_customer",
     "{\"customer\":\"cust\\u0000evil\",\"dimension\":\"api_calls\",\"quantity\":1}",
     .want = MTR_EVENT_BAD_JSON},
    {"escaped_backslash_then_u0000_text",
     "{\"customer\":\"a\\\\u0000\",\"dimension\":\"api_calls\",\"quantity\":1,"
     "\"timestamp\":\"" T "\"}",
     .want_customer = "a\\u0000"},
    /* ids, license ARNs, tags */
    {"id_number", EVQ("\"id\":5"), .want = MTR_EVENT_BAD_ID},
    {"license_arn", EVQ("\"license_arn\":\"arn:aws:license-manager::123456789012:license:l-1\"")},
    {"license_arn_gov_partition",
     EVQ("\"license_arn\":\"arn:aws-us-gov:license-manager::123456789012:license:l-1\"")},
    {"license_arn_other_service", EVQ("\"license_arn\":\"arn:aws:s3:::bucket\""),
     .want = MTR_EVENT_BAD_LICENSE_ARN},
    {"license_arn_not_arn", EVQ("\"license_arn\":\"license-1\""),
     .want = MTR_EVENT_BAD_LICENSE_ARN},
    {"two_tags", EVQ("\"tags\":{\"team\":\"search\",\"env\":\"prod-1\"}")},
    {"five_tags", EVQ("\"tags\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":\"4\",\"e\":\"5\"}")},
    {"six_tags",
     EVQ("\"tags\":{\"a\":\"1\",\"b\":\"2\",\"c\":\"3\",\"d\":\"4\",\"e\":\"5\",\"f\":\"6\"}"),
     .want = MTR_EVENT_BAD_TAGS},
    {"tag_key_bad_char", EVQ("\"tags\":{\"te#am\":\"x\"}"), .want = MTR_EVENT_BAD_TAGS},
    {"tag_value_number", EVQ("\"tags\":{\"team\":5}"), .want = MTR_EVENT_BAD_TAGS},
    {"tag_value_empty", EVQ("\"tags\":{\"team\":\"\"}"), .want = MTR_EVENT_BAD_TAGS},
    {"tags_array", EVQ("\"tags\":[\"team\"]"), .want = MTR_EVENT_BAD_TAGS},
    {"tag_key_repeated", EVQ("\"tags\":{\"team\":\"a\",\"team\":\"b\"}"),
     .want = MTR_EVENT_BAD_TAGS},
    /* CloudEvents structured mode */
    {"ce_structured_type_maps_dimension",
     "{" CE_ATTRS "\"type\":\"com.example.api.call\",\"time\":\"" T "\","
     "\"subject\":\"cust-9\",\"data\":{\"quantity\":2}}",
     .want_dim = "api_calls", .want_customer = "cust-9", .want_quantity = "2", .want_time = T},
    {"ce_structured_missing_specversion",
     "{\"id\":\"ce-1\",\"source\":\"/svc\",\"type\":\"com.example.api.call\",\"subject\":\"c\","
     "\"data\":{\"quantity\":2}}",
     .want = MTR_EVENT_BAD_CLOUDEVENT},
    {"ce_structured_wrong_version",
     "{\"specversion\":\"0.3\",\"id\":\"ce-1\",\"source\":\"/svc\",\"type\":\"com.example.api."
     "call\",\"subject\":\"c\",\"data\":{\"quantity\":2}}",
     .want = MTR_EVENT_BAD_CLOUDEVENT},
    {"ce_structured_missing_id",
     "{\"specversion\":\"1.0\",\"source\":\"/svc\",\"type\":\"com.example.api.call\","
     "\"subject\":\"c\",\"data\":{\"quantity\":2}}",
     .want = MTR_EVENT_BAD_CLOUDEVENT},
    {"ce_structured_unknown_type",
     "{" CE_ATTRS "\"type\":\"com.example.nope\",\"subject\":\"c\",\"time\":\"" T "\","
     "\"data\":{\"quantity\":2}}",
     .want = MTR_EVENT_UNKNOWN_EVENT_TYPE},
    {"ce_structured_data_dimension_wins",
     "{" CE_ATTRS "\"type\":\"com.example.nope\",\"subject\":\"c\",\"time\":\"" T "\","
     "\"data\":{\"dimension\":\"data_gb\",\"quantity\":\"0.25\"}}",
     .want_dim = "data_gb", .want_quantity = "0.25"},
    {"ce_structured_data_customer_wins",
     "{" CE_ATTRS "\"type\":\"com.example.api.call\",\"subject\":\"subj\",\"time\":\"" T "\","
     "\"data\":{\"customer\":\"from-data\",\"quantity\":1}}",
     .want_customer = "from-data"},
    {"ce_structured_no_customer",
     "{" CE_ATTRS "\"type\":\"com.example.api.call\",\"time\":\"" T "\","
     "\"data\":{\"quantity\":1}}",
     .want = MTR_EVENT_MISSING_CUSTOMER},
    {"ce_structured_data_not_object",
     "{" CE_ATTRS "\"type\":\"com.example.api.call\",\"subject\":\"c\",\"data\":\"q=1\"}",
     .want = MTR_EVENT_BAD_CLOUDEVENT},
    {"ce_structured_data_base64",
     "{" CE_ATTRS "\"type\":\"com.example.api.call\",\"subject\":\"c\",\"data_base64\":\"e30=\"}",
     .want = MTR_EVENT_BAD_CLOUDEVENT},
    {"ce_structured_bad_time",
     "{" CE_ATTRS "\"type\":\"com.example.api.call\",\"subject\":\"c\",\"time\":\"noon\","
     "\"data\":{\"quantity\":1}}",
     .want = MTR_EVENT_BAD_TIMESTAMP},
    /* CloudEvents binary mode */
    {"ce_binary_type_maps_count_dimension", "{\"quantity\":9}",
     .headers = CE_HDRS "ce_type=com.example.request|ce_subject=cust-7|ce_time=" T,
     .want_dim = "requests", .want_quantity = "1", .want_customer = "cust-7", .want_time = T},
    {"ce_binary_missing_specversion", "{\"quantity\":1}",
     .headers = "ce_id=b-1|ce_source=/svc|ce_type=com.example.request|ce_subject=c",
     .kafka_ts = T_MS, .want = MTR_EVENT_BAD_CLOUDEVENT},
    {"ce_binary_wrong_version", "{\"quantity\":1}",
     .headers = "ce_specversion=0.3|ce_id=b-1|ce_source=/svc|ce_type=com.example.request|"
                "ce_subject=c",
     .kafka_ts = T_MS, .want = MTR_EVENT_BAD_CLOUDEVENT},
    {"ce_binary_unknown_type", "{\"quantity\":1}",
     .headers = CE_HDRS "ce_type=com.example.nope|ce_subject=c", .kafka_ts = T_MS,
     .want = MTR_EVENT_UNKNOWN_EVENT_TYPE},
    {"ce_binary_data_overrides_headers",
     "{\"customer\":\"d\",\"dimension\":\"api_calls\",\"quantity\":3,\"timestamp\":\"" T "\"}",
     .headers = CE_HDRS "ce_type=com.example.nope|ce_subject=c|ce_time=2000-01-01T00:00:00Z",
     .want_customer = "d", .want_quantity = "3", .want_time = T},
    {"ce_binary_kafka_time_fallback", "{\"quantity\":1}",
     .headers = CE_HDRS "ce_type=com.example.api.call|ce_subject=c", .kafka_ts = T_MS,
     .want_time = T},
    {"non_ce_headers_are_ignored", EV("\"quantity\":1"), .headers = "traceparent=00-abc",
     .kafka_ts = T_MS, .want_time = T},
};

/* "a=b|c=d" → headers (static storage, one table case at a time). */
static size_t parse_headers(const char *spec, mtr_event_header_t *out, char *buf, size_t size)
{
    size_t n = 0;
    if (!spec)
        return 0;
    snprintf(buf, size, "%s", spec);
    for (char *save = NULL, *tok = strtok_r(buf, "|", &save); tok;
         tok = strtok_r(NULL, "|", &save)) {
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = '\0';
        out[n++] = (mtr_event_header_t){tok, eq + 1, strlen(eq + 1)};
    }
    return n;
}

static bool str_eq(mtr_event_str_t s, const char *want)
{
    return s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static void test_every_table_case_gets_its_reason(void **state)
{
    fixture_t *f = *state;
    build_dynamic();
    assert_true(sizeof cases / sizeof cases[0] >= 40);
    int failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const decode_case_t *c = &cases[i];
        const char *json = c->dyn ? *c->dyn : c->json;
        mtr_event_header_t headers[8];
        char hbuf[512];
        mtr_event_kafka_meta_t meta = {c->kafka_ts ? c->kafka_ts : -1, headers, 0};
        meta.n_headers = parse_headers(c->headers, headers, hbuf, sizeof hbuf);
        mtr_event_t ev;
        char err[512] = "";
        mtr_event_reason_t got =
            mtr_event_decode(f->dec[c->cfg], json, strlen(json), &meta, &ev, err, sizeof err);
        const char *problem = NULL;
        char detail[256] = "";
        if (got != c->want) {
            problem = "reason";
        } else if (got != MTR_EVENT_OK && strncmp(err, mtr_event_reason_name(got),
                                                  strlen(mtr_event_reason_name(got))) != 0) {
            problem = "errstr does not start with the reason";
        } else if (got == MTR_EVENT_OK) {
            int64_t q, t;
            if (c->want_quantity) {
                assert_int_equal(mtr_quantity_parse(c->want_quantity, strlen(c->want_quantity), &q),
                                 MTR_QUANTITY_OK);
                if (ev.quantity != q) {
                    problem = "quantity";
                    snprintf(detail, sizeof detail, "%lld", (long long)ev.quantity);
                }
            }
            if (c->want_time) {
                assert_true(mtr_event_parse_rfc3339(c->want_time, strlen(c->want_time), &t));
                if (ev.time_ms != t) {
                    problem = "time";
                    snprintf(detail, sizeof detail, "%lld", (long long)ev.time_ms);
                }
            }
            if (c->want_dim &&
                strcmp(products[ev.product].dimensions[ev.dimension].name, c->want_dim) != 0)
                problem = "dimension";
            if (c->want_customer && !str_eq(ev.customer, c->want_customer))
                problem = "customer";
        }
        if (problem) {
            print_error("case %s: %s: got %s (%s) %s, want %s\n", c->name, problem,
                        mtr_event_reason_name(got), err, detail, mtr_event_reason_name(c->want));
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

static void test_decoded_strings_are_exact_bytes_with_lengths(void **state)
{
    fixture_t *f = *state;
    const char *json = "{\"id\":\"evt-81f2\",\"customer\":\"cu\\\"st\\\\\\u00e9\",\"dimension\":"
                       "\"data_gb\",\"quantity\":\"12.000001\",\"timestamp\":\"" T "\","
                       "\"license_arn\":\"arn:aws:license-manager::1:license:l-9\","
                       "\"tags\":{\"team\":\"search\",\"cost/center\":\"a b@c\"}}";
    mtr_event_t ev;
    char err[256];
    assert_int_equal(mtr_event_decode(f->dec[0], json, strlen(json), NULL, &ev, err, sizeof err),
                     MTR_EVENT_OK);
    assert_true(str_eq(ev.customer, "cu\"st\\\xc3\xa9"));
    assert_false(ev.is_account_id);
    assert_true(str_eq(ev.id, "evt-81f2"));
    assert_true(str_eq(ev.license_arn, "arn:aws:license-manager::1:license:l-9"));
    assert_int_equal(ev.product, 0);
    assert_int_equal(ev.dimension, 4);
    assert_int_equal(ev.aggregation, MTR_AGG_SUM);
    assert_int_equal(ev.quantity, 12000001);
    assert_int_equal(ev.time_ms, T_MS);
    assert_false(ev.time_from_kafka);
    assert_int_equal(ev.format, MTR_EVENT_FORMAT_JSON);
    assert_int_equal(ev.n_tags, 2);
    assert_true(str_eq(ev.tags[0].key, "team"));
    assert_true(str_eq(ev.tags[0].value, "search"));
    assert_true(str_eq(ev.tags[1].key, "cost/center"));
    assert_true(str_eq(ev.tags[1].value, "a b@c"));
}

static void test_binary_mode_strings_do_not_point_into_the_kafka_message(void **state)
{
    fixture_t *f = *state;
    char subject[] = "cust-7", id[] = "b-42";
    mtr_event_header_t h[] = {
        {"ce_specversion", "1.0", 3}, {"ce_id", id, 4},
        {"ce_source", "/s", 2},       {"ce_type", "com.example.api.call", 20},
        {"ce_subject", subject, 6},
    };
    mtr_event_kafka_meta_t meta = {T_MS, h, 5};
    const char *json = "{\"quantity\":1}";
    mtr_event_t ev;
    assert_int_equal(mtr_event_decode(f->dec[0], json, strlen(json), &meta, &ev, NULL, 0),
                     MTR_EVENT_OK);
    assert_int_equal(ev.format, MTR_EVENT_FORMAT_CE_BINARY);
    assert_true(ev.time_from_kafka);
    memset(subject, 'X', 6);
    memset(id, 'X', 4);
    assert_true(str_eq(ev.customer, "cust-7"));
    assert_true(str_eq(ev.id, "b-42"));
    assert_true(str_eq(ev.source, "/s"));
}

/* events.dedupe identifies a CloudEvent by id and source; a plain event
 * by its id alone. */
static void test_the_source_goes_with_a_cloudevents_id_only(void **state)
{
    fixture_t *f = *state;
    const char *ce = "{" CE_ATTRS "\"type\":\"com.example.api.call\",\"subject\":\"cust-1\","
                     "\"time\":\"" T "\",\"data\":{\"quantity\":1}}";
    mtr_event_t ev;
    assert_int_equal(mtr_event_decode(f->dec[0], ce, strlen(ce), NULL, &ev, NULL, 0), MTR_EVENT_OK);
    assert_int_equal(ev.format, MTR_EVENT_FORMAT_CE_STRUCTURED);
    assert_true(str_eq(ev.id, "ce-1"));
    assert_true(str_eq(ev.source, "/svc"));
    const char *plain = EVQ("\"id\":\"e-1\"");
    assert_int_equal(mtr_event_decode(f->dec[0], plain, strlen(plain), NULL, &ev, NULL, 0),
                     MTR_EVENT_OK);
    assert_true(str_eq(ev.id, "e-1"));
    assert_int_equal(ev.source.len, 0);
}

static void test_rejection_message_names_field_value_and_fix(void **state)
{
    fixture_t *f = *state;
    char err[512];
    mtr_event_t ev;
    const char *neg = EV("\"quantity\":-1.5");
    assert_int_equal(mtr_event_decode(f->dec[0], neg, strlen(neg), NULL, &ev, err, sizeof err),
                     MTR_EVENT_NEGATIVE_QUANTITY);
    assert_non_null(strstr(err, "negative_quantity"));
    assert_non_null(strstr(err, "\"quantity\""));
    assert_non_null(strstr(err, "-1.5"));
    assert_non_null(strstr(err, "refund"));

    /* long values are cut, control bytes escaped */
    build_dynamic();
    assert_int_equal(mtr_event_decode(f->dec[0], long_customer_256, strlen(long_customer_256), NULL,
                                      &ev, err, sizeof err),
                     MTR_EVENT_IDENTIFIER_TOO_LONG);
    assert_non_null(strstr(err, "\"..."));
    assert_non_null(strstr(err, "256 bytes"));
    const char *ctl = "{\"customer\":\"a\\u0007b\",\"dimension\":\"api_calls\",\"quantity\":1}";
    assert_int_equal(mtr_event_decode(f->dec[0], ctl, strlen(ctl), NULL, &ev, err, sizeof err),
                     MTR_EVENT_BAD_CUSTOMER);
    assert_non_null(strstr(err, "a\\x07b"));

    /* a tiny or absent errstr is fine */
    char tiny[4];
    assert_int_equal(mtr_event_decode(f->dec[0], neg, strlen(neg), NULL, &ev, tiny, sizeof tiny),
                     MTR_EVENT_NEGATIVE_QUANTITY);
    assert_int_equal(strlen(tiny), 3);
    assert_int_equal(mtr_event_decode(f->dec[0], neg, strlen(neg), NULL, &ev, NULL, 0),
                     MTR_EVENT_NEGATIVE_QUANTITY);
}

static void test_reason_names_are_unique_snake_case(void **state)
{
    (void)state;
    for (int r = 0; r < MTR_EVENT_REASON__COUNT; r++) {
        const char *name = mtr_event_reason_name((mtr_event_reason_t)r);
        assert_string_not_equal(name, "unknown");
        for (const char *p = name; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_');
        for (int o = 0; o < r; o++)
            assert_string_not_equal(name, mtr_event_reason_name((mtr_event_reason_t)o));
    }
    assert_string_equal(mtr_event_reason_name(MTR_EVENT_BAD_JSON), "bad_json");
    assert_string_equal(mtr_event_reason_name((mtr_event_reason_t)-1), "unknown");
}

static void test_value_need_not_be_nul_terminated(void **state)
{
    fixture_t *f = *state;
    const char *json = EV("\"quantity\":12,\"timestamp\":\"" T "\"");
    size_t n = strlen(json);
    char *copy = mtr_malloc(n); /* exact size: ASan flags any read past it */
    memcpy(copy, json, n);
    mtr_event_t ev;
    assert_int_equal(mtr_event_decode(f->dec[0], copy, n, NULL, &ev, NULL, 0), MTR_EVENT_OK);
    assert_int_equal(ev.quantity, 12 * MTR_QUANTITY_SCALE);
    /* cut inside the number: not the same event */
    assert_int_equal(mtr_event_decode(f->dec[0], copy, n - 1, NULL, &ev, NULL, 0),
                     MTR_EVENT_BAD_JSON);
    mtr_free(copy);
}

static long resident_kib(void)
{
    FILE *fp = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (!fp)
        return -1;
    if (fscanf(fp, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(fp);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void test_million_decodes_do_not_grow_memory(void **state)
{
    fixture_t *f = *state;
    /* Valid and rejected events (a parse error frees a partial tree). */
    const char *msgs[] = {
        EV("\"quantity\":0.1,\"timestamp\":\"" T "\",\"tags\":{\"team\":\"a\"}"),
        "{\"customer\":\"c-2\",\"dimension\":\"requests\",\"timestamp\":1795692600}",
        "{\"customer\":\"c-3\",\"dimension\":\"api_calls\",\"quantity\":[1,2,3,{\"a\":",
        EV("\"quantity\":-1"),
    };
    size_t lens[4];
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(msgs[i]);
    mtr_event_t ev;
    int64_t sum = 0;
    for (int i = 0; i < 1000; i++)
        mtr_event_decode(f->dec[0], msgs[i & 3], lens[i & 3], NULL, &ev, NULL, 0);
    long rss_before = resident_kib();
    for (int i = 0; i < 1000000; i++) {
        if (mtr_event_decode(f->dec[0], msgs[i & 3], lens[i & 3], NULL, &ev, NULL, 0) ==
                MTR_EVENT_OK &&
            ev.dimension == 0)
            sum += ev.quantity;
    }
    long rss_after = resident_kib();
    assert_int_equal(sum, 250000 * 100000LL); /* and 0.1 summed exactly */
    /* All arena blocks were allocated before the loop... */
    (void)rss_before;
    assert_true(rss_before > 0);
    /* ...and the process did not grow by more than noise. */
    if (rss_after - rss_before > 4096)
        fail_msg("resident memory grew by %ld KiB over 1M decodes", rss_after - rss_before);
}

static void test_arena_keeps_one_block_big_enough_after_a_large_message(void **state)
{
    (void)state;
    mtr_json_arena_t *a = mtr_json_arena_new(1024, 1 << 20);
    mtr_json_arena_t *prev = mtr_json_arena_activate(a);
    /* 20k array elements need ~1.3 MB of cJSON items: many blocks. */
    size_t n = 20000;
    char *big = mtr_malloc(n * 2 + 2);
    big[0] = '[';
    for (size_t i = 0; i < n; i++) {
        big[1 + 2 * i] = '0';
        big[2 + 2 * i] = i + 1 < n ? ',' : ']';
    }
    big[2 * n + 1] = '\0';
    cJSON *root = cJSON_ParseWithLengthOpts(big, strlen(big), NULL, 0);
    assert_non_null(root);
    assert_int_equal(cJSON_GetArraySize(root), (int)n);
    mtr_json_arena_stats_t s = mtr_json_arena_stats(a);
    assert_true(s.block_allocs > 2);
    mtr_json_arena_reset(a);
    /* one block, capped at retain_max */
    s = mtr_json_arena_stats(a);
    assert_int_equal(s.capacity, 1 << 20);
    assert_int_equal(s.used, 0);
    /* a small message now allocates no block at all */
    uint64_t allocs = s.block_allocs;
    for (int i = 0; i < 100; i++) {
        mtr_json_arena_reset(a);
        assert_non_null(cJSON_ParseWithLengthOpts("{\"a\":[1,2,3]}", 13, NULL, 0));
    }
    assert_int_equal(mtr_json_arena_stats(a).block_allocs, allocs);
    mtr_json_arena_activate(prev);
    mtr_json_arena_free(a);
    mtr_free(big);
}

static void test_cjson_outside_an_arena_uses_malloc_and_free(void **state)
{
    (void)state;
    mtr_json_arena_install_hooks();
    /* No arena active on this thread: an ordinary tree, freed normally
     * (ASan reports a mismatch if it were not). */
    cJSON *root = cJSON_Parse("{\"a\":\"b\",\"c\":[1,2]}");
    assert_non_null(root);
    char *text = cJSON_PrintUnformatted(root);
    assert_string_equal(text, "{\"a\":\"b\",\"c\":[1,2]}");
    cJSON_free(text);
    cJSON_Delete(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_table_case_gets_its_reason),
        cmocka_unit_test(test_decoded_strings_are_exact_bytes_with_lengths),
        cmocka_unit_test(test_binary_mode_strings_do_not_point_into_the_kafka_message),
        cmocka_unit_test(test_the_source_goes_with_a_cloudevents_id_only),
        cmocka_unit_test(test_rejection_message_names_field_value_and_fix),
        cmocka_unit_test(test_reason_names_are_unique_snake_case),
        cmocka_unit_test(test_value_need_not_be_nul_terminated),
        cmocka_unit_test(test_million_decodes_do_not_grow_memory),
        cmocka_unit_test(test_arena_keeps_one_block_big_enough_after_a_large_message),
        cmocka_unit_test(test_cjson_outside_an_arena_uses_malloc_and_free),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
