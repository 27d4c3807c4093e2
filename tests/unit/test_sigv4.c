/* SigV4: every case of AWS's signing test suite (../shared/conformance/
 * sigv4-suite), one test per case, mode and stage so a failure names the
 * stage that broke; the suite's signed requests verified by the server side;
 * hand-written cases for trimming, sorting, encoding, request parsing and
 * each verification failure with the AWS error type it must produce. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/mem.h"
#include "emit/http_request.h"
#include "emit/sigv4.h"
#include "emit/sigv4_case.h"

static const char *secret_for_akid(void *ctx, const char *akid)
{
    (void)ctx;
    return !strcmp(akid, "AKIDEXAMPLE") ? "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY" : NULL;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = mtr_malloc((size_t)n + 1);
    size_t got = fread(data, 1, (size_t)n, f);
    fclose(f);
    data[got] = '\0';
    if (len)
        *len = got;
    return data;
}

/* ---- the conformance suite ---- */

enum { ST_CANONICAL, ST_STS, ST_SIGNATURE, ST_SIGNED_REQUEST, ST_VERIFY, ST__COUNT };
static const char *const stage_files[] = {"canonical-request", "string-to-sign", "signature",
                                          "signed-request", "signed-request"};

typedef struct suite_case {
    char dir[1024];
    mtr_sigv4_mode_t mode;
    int stage;
} suite_case_t;

static void run_case(const suite_case_t *sc, mtr_sigv4_context_t *ctx, mtr_sigv4_stages_t *st)
{
    char path[1100], errstr[512];
    mtr_http_request_t req;
    snprintf(path, sizeof path, "%s/context.json", sc->dir);
    if (mtr_sigv4_context_read_file(path, ctx, errstr, sizeof errstr) != MTR_OK)
        fail_msg("%s", errstr);
    snprintf(path, sizeof path, "%s/request.txt", sc->dir);
    if (mtr_http_request_read_file(path, &req, errstr, sizeof errstr) != MTR_OK)
        fail_msg("%s", errstr);
    mtr_err_t err = mtr_sigv4_case_run(ctx, &req, sc->mode, st, errstr, sizeof errstr);
    mtr_http_request_free(&req);
    if (err != MTR_OK)
        fail_msg("%s", errstr);
}

static void test_suite_stage_matches_expected_file(void **state)
{
    const suite_case_t *sc = *state;
    const char *mode = sc->mode == MTR_SIGV4_MODE_HEADER ? "header" : "query";
    char path[1100];
    snprintf(path, sizeof path, "%s/%s-%s.txt", sc->dir, mode, stage_files[sc->stage]);
    char *expected = slurp(path, NULL);
    if (!expected)
        fail_msg("missing expected file %s", path);
    mtr_sigv4_context_t ctx;
    mtr_sigv4_stages_t st;
    run_case(sc, &ctx, &st);
    const char *got = sc->stage == ST_CANONICAL   ? st.canonical_request
                      : sc->stage == ST_STS       ? st.string_to_sign
                      : sc->stage == ST_SIGNATURE ? st.signature
                                                  : st.signed_request;
    if (strcmp(got, expected))
        print_error("%s %s stage differs\n--- expected\n%s\n--- got\n%s\n", path, mode, expected,
                    got);
    assert_string_equal(got, expected);
    mtr_sigv4_stages_free(&st);
    mtr_sigv4_context_free(&ctx);
    mtr_free(expected);
}

/* The server side accepts what the suite says a correct client sends.
 * Registered for the "normalize": true cases only: verify normalises paths
 * as every service but S3 does, and the other cases sign S3-style paths. */
static void test_suite_signed_request_passes_verify(void **state)
{
    const suite_case_t *sc = *state;
    mtr_sigv4_context_t ctx;
    mtr_sigv4_stages_t st;
    run_case(sc, &ctx, &st);
    mtr_sigv4_stages_free(&st);
    char path[1100], errstr[512], type[64];
    snprintf(path, sizeof path, "%s/header-signed-request.txt", sc->dir);
    mtr_http_request_t req;
    if (mtr_http_request_read_file(path, &req, errstr, sizeof errstr) != MTR_OK)
        fail_msg("%s", errstr);
    int64_t now_ms;
    assert_int_equal(mtr_sigv4_parse_amz_date(ctx.amz_date, &now_ms), MTR_OK);
    mtr_sigv4_request_t view = mtr_http_request_view(&req);
    mtr_err_t err = mtr_sigv4_verify(&view, ctx.region, ctx.service, now_ms, secret_for_akid, NULL,
                                     type, sizeof type, errstr, sizeof errstr);
    if (err != MTR_OK)
        fail_msg("%s: %s: %s", path, type, errstr);
    mtr_http_request_free(&req);
    mtr_sigv4_context_free(&ctx);
}

static void test_conformance_suite_is_present(void **state)
{
    print_message("sigv4 conformance suite not found at %s (set MTR_SOURCE_DIR to the "
                  "source tree next to ../shared); its cases are skipped\n",
                  (const char *)*state);
    skip();
}

static bool case_normalizes(const char *root, const char *name)
{
    char p[1100], errstr[256];
    snprintf(p, sizeof p, "%s/%s/context.json", root, name);
    mtr_sigv4_context_t ctx;
    if (mtr_sigv4_context_read_file(p, &ctx, errstr, sizeof errstr) != MTR_OK)
        return true; /* the stage tests report the broken context */
    bool normalize = ctx.normalize;
    mtr_sigv4_context_free(&ctx);
    return normalize;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends one test per case x mode x stage; returns how many. */
static size_t add_suite_tests(const char *root, struct CMUnitTest **tests, size_t n)
{
    DIR *d = opendir(root);
    if (!d)
        return 0;
    char **names = NULL;
    size_t n_names = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char p[1100];
        struct stat sb;
        int len = snprintf(p, sizeof p, "%s/%s/context.json", root, e->d_name);
        if (len > 0 && (size_t)len < sizeof p && e->d_name[0] != '.' && stat(p, &sb) == 0) {
            names = mtr_realloc(names, (n_names + 1) * sizeof *names);
            names[n_names++] = mtr_strdup(e->d_name);
        }
    }
    closedir(d);
    qsort(names, n_names, sizeof *names, cmp_str);
    size_t added = 0;
    for (size_t i = 0; i < n_names; i++) {
        bool normalizes = case_normalizes(root, names[i]);
        for (int m = 0; m < 2; m++) {
            for (int s = 0; s < ST__COUNT; s++) {
                if (s == ST_VERIFY && (m == MTR_SIGV4_MODE_QUERY || !normalizes))
                    continue;
                suite_case_t *sc = mtr_calloc(1, sizeof *sc);
                if (snprintf(sc->dir, sizeof sc->dir, "%s/%s", root, names[i]) >=
                    (int)sizeof sc->dir)
                    fail_msg("suite path too long: %s/%s", root, names[i]);
                sc->mode = (mtr_sigv4_mode_t)m;
                sc->stage = s;
                char name[512];
                snprintf(name, sizeof name, "suite/%s/%s/%s", names[i],
                         m == MTR_SIGV4_MODE_HEADER ? "header" : "query",
                         s == ST_VERIFY ? "verify" : stage_files[s]);
                *tests = mtr_realloc(*tests, (n + added + 1) * sizeof **tests);
                (*tests)[n + added++] = (struct CMUnitTest){
                    .name = mtr_strdup(name),
                    .test_func = s == ST_VERIFY ? test_suite_signed_request_passes_verify
                                                : test_suite_stage_matches_expected_file,
                    .initial_state = sc};
            }
        }
        mtr_free(names[i]);
    }
    mtr_free(names);
    return added;
}

/* ---- hand-written cases ---- */

static char *canonical_of(const char *method, const char *path, const char *query,
                          const mtr_http_header_t *hs, size_t n, char **signed_headers)
{
    mtr_sigv4_request_t req = {
        .method = method, .path = path, .query = query, .headers = hs, .n_headers = n};
    char *canonical = NULL, *names = NULL, errstr[256];
    assert_int_equal(mtr_sigv4_canonical_request(&req, &canonical, &names, errstr, sizeof errstr),
                     MTR_OK);
    if (signed_headers)
        *signed_headers = names;
    else
        mtr_free(names);
    return canonical;
}

/* Line i (0-based) of a canonical request, copied into buf. */
static const char *line_of(const char *text, int i, char *buf, size_t size)
{
    for (; i > 0 && text; i--) {
        text = strchr(text, '\n');
        if (text)
            text++;
    }
    assert_non_null(text);
    const char *nl = strchr(text, '\n');
    size_t len = nl ? (size_t)(nl - text) : strlen(text);
    snprintf(buf, size, "%.*s", (int)len, text);
    return buf;
}

static void test_header_values_are_trimmed_and_inner_runs_collapsed(void **state)
{
    (void)state;
    mtr_http_header_t hs[] = {{"Host", "example.com"}, {"My-Header1", " \t a   b \t\t c  "}};
    char *c = canonical_of("GET", "/", "", hs, 2, NULL);
    char buf[256];
    assert_string_equal(line_of(c, 4, buf, sizeof buf), "my-header1:a b c");
    mtr_free(c);
}

static void test_repeated_headers_join_in_order_and_names_sort_case_insensitively(void **state)
{
    (void)state;
    mtr_http_header_t hs[] = {{"X-B", "2"}, {"host", "h"}, {"x-b", " 1 "}, {"X-a", "z"}};
    char *names = NULL;
    char *c = canonical_of("GET", "/", "", hs, 4, &names);
    assert_string_equal(c, "GET\n/\n\nhost:h\nx-a:z\nx-b:2,1\n\nhost;x-a;x-b\n"
                           "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_string_equal(names, "host;x-a;x-b");
    mtr_free(c);
    mtr_free(names);
}

static void test_user_agent_and_authorization_are_not_signed(void **state)
{
    (void)state;
    mtr_http_header_t hs[] = {{"Host", "h"}, {"User-Agent", "x"}, {"Authorization", "y"}};
    char *names = NULL;
    char *c = canonical_of("GET", "/", NULL, hs, 3, &names);
    assert_string_equal(names, "host");
    mtr_free(c);
    mtr_free(names);
}

static void test_query_sorts_by_encoded_key_then_value_and_bare_keys_get_empty_values(void **state)
{
    (void)state;
    mtr_http_header_t hs[] = {{"Host", "h"}};
    char *c = canonical_of("GET", "/", "b=2&a=3&&a=1&c&A=x&a%20b=%7e", hs, 1, NULL);
    char buf[256];
    assert_string_equal(line_of(c, 2, buf, sizeof buf), "A=x&a=1&a=3&a%20b=~&b=2&c=");
    mtr_free(c);
}

static void test_query_is_reencoded_whether_raw_or_encoded_on_the_wire(void **state)
{
    (void)state;
    mtr_http_header_t hs[] = {{"Host", "h"}};
    char *c = canonical_of("GET", "/", "k=a b+c/%2f&z=%zz&u=\xc3\xa9", hs, 1, NULL);
    char buf[256];
    assert_string_equal(line_of(c, 2, buf, sizeof buf), "k=a%20b%2Bc%2F%2F&u=%C3%A9&z=%25zz");
    mtr_free(c);
}

static void test_path_is_normalised_then_encoded_once_more(void **state)
{
    (void)state;
    static const char *const cases[][2] = {{"/a%20b/../c d", "/c%20d"},
                                           {"/%41", "/%2541"},
                                           {"", "/"},
                                           {"//a//b//", "/a/b/"},
                                           {"/a/./b/../../c", "/c"},
                                           {"/a/..", "/"},
                                           {"/a/.", "/a"},
                                           {"/../..", "/"},
                                           {"/~-._", "/~-._"},
                                           {"/\xe2\x82\xac", "/%E2%82%AC"}};
    mtr_http_header_t hs[] = {{"Host", "h"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *c = canonical_of("GET", cases[i][0], "", hs, 1, NULL);
        char buf[256];
        assert_string_equal(line_of(c, 1, buf, sizeof buf), cases[i][1]);
        mtr_free(c);
    }
}

static void test_x_amz_content_sha256_header_replaces_the_body_hash(void **state)
{
    (void)state;
    mtr_http_header_t hs[] = {{"Host", "h"}, {"X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"}};
    char *c = canonical_of("PUT", "/", "", hs, 2, NULL);
    assert_non_null(strstr(c, "\nUNSIGNED-PAYLOAD"));
    assert_string_equal(strrchr(c, '\n'), "\nUNSIGNED-PAYLOAD");
    mtr_free(c);
}

static void test_signing_key_matches_aws_documentation_example(void **state)
{
    (void)state;
    /* docs.aws.amazon.com "Examples of how to derive a signing key". */
    mtr_sigv4_params_t p = {
        .region = "us-east-1", .service = "iam", .amz_date = "20120215T000000Z"};
    uint8_t key[32];
    mtr_sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &p, key);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    assert_string_equal(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

static void test_amz_date_formats_and_parses_back(void **state)
{
    (void)state;
    char s[17];
    mtr_sigv4_format_amz_date(1440938160000LL, s);
    assert_string_equal(s, "20150830T123600Z");
    int64_t ms = 0;
    assert_int_equal(mtr_sigv4_parse_amz_date(s, &ms), MTR_OK);
    assert_int_equal(ms, 1440938160000LL);
    assert_int_equal(mtr_sigv4_parse_amz_date("20240229T235959Z", &ms), MTR_OK);
    static const char *const bad[] = {
        "20150830T123600",  "2015-08-30T12:36:00Z", "20150230T000000Z", "20230229T000000Z",
        "20151330T000000Z", "20150830T246000Z",     "2015083OT123600Z", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(mtr_sigv4_parse_amz_date(bad[i], &ms), MTR_ERR_PARSE);
}

/* ---- sign + verify ---- */

#define NOW_MS 1764151200000LL /* 2025-11-26T10:00:00Z */

typedef struct signed_req {
    mtr_http_header_t headers[8];
    size_t n;
    char date[17];
    char *authorization;
    const char *body;
} signed_req_t;

static const char *const BODY =
    "{\"ProductCode\":\"prod-1\",\"UsageRecords\":[{\"CustomerIdentifier\":\"c1\","
    "\"Dimension\":\"api_calls\",\"Quantity\":3,\"Timestamp\":1764147600}]}";

static void sign_batch_meter_usage(signed_req_t *r, const char *secret, const char *token,
                                   int64_t signed_at_ms)
{
    memset(r, 0, sizeof *r);
    mtr_sigv4_format_amz_date(signed_at_ms, r->date);
    r->body = BODY;
    r->headers[r->n++] =
        (mtr_http_header_t){"Host", "metering.marketplace.us-east-1.amazonaws.com"};
    r->headers[r->n++] = (mtr_http_header_t){"Content-Type", "application/x-amz-json-1.1"};
    r->headers[r->n++] =
        (mtr_http_header_t){"X-Amz-Target", "AWSMPMeteringService.BatchMeterUsage"};
    r->headers[r->n++] = (mtr_http_header_t){"X-Amz-Date", r->date};
    if (token)
        r->headers[r->n++] = (mtr_http_header_t){"X-Amz-Security-Token", token};
    mtr_sigv4_request_t req = {.method = "POST",
                               .path = "/",
                               .headers = r->headers,
                               .n_headers = r->n,
                               .body = BODY,
                               .body_len = strlen(BODY)};
    mtr_sigv4_params_t p = {
        .region = "us-east-1", .service = "aws-marketplace", .amz_date = r->date};
    mtr_sigv4_credentials_t creds = {"AKIDEXAMPLE", secret, token};
    char errstr[256];
    assert_int_equal(mtr_sigv4_sign(&req, &p, &creds, &r->authorization, errstr, sizeof errstr),
                     MTR_OK);
    r->headers[r->n++] = (mtr_http_header_t){"Authorization", r->authorization};
}

static mtr_err_t verify(const signed_req_t *r, const char *region, int64_t now_ms, char *type,
                        char *errstr)
{
    mtr_sigv4_request_t req = {.method = "POST",
                               .path = "/",
                               .headers = r->headers,
                               .n_headers = r->n,
                               .body = r->body,
                               .body_len = strlen(r->body)};
    return mtr_sigv4_verify(&req, region, "aws-marketplace", now_ms, secret_for_akid, NULL, type,
                            64, errstr, 512);
}

static void expect_rejection(const signed_req_t *r, const char *region, int64_t now_ms,
                             const char *aws_type)
{
    char type[64], errstr[512];
    assert_int_equal(verify(r, region, now_ms, type, errstr), MTR_ERR_AUTH);
    assert_string_equal(type, aws_type);
    assert_null(strstr(errstr, "wJalrXUtnFEMI"));
    assert_true(strlen(errstr) > 10);
}

static void test_verify_accepts_a_request_signed_with_the_right_secret(void **state)
{
    (void)state;
    signed_req_t r;
    char type[64], errstr[512];
    sign_batch_meter_usage(&r, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL, NOW_MS);
    assert_int_equal(verify(&r, "us-east-1", NOW_MS, type, errstr), MTR_OK);
    assert_string_equal(type, "");
    mtr_free(r.authorization);
    sign_batch_meter_usage(&r, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "tok/en+=", NOW_MS);
    assert_non_null(strstr(r.authorization, "x-amz-security-token"));
    assert_int_equal(verify(&r, "us-east-1", NOW_MS, type, errstr), MTR_OK);
    mtr_free(r.authorization);
}

static void test_verify_rejects_wrong_secret_as_invalid_signature(void **state)
{
    (void)state;
    signed_req_t r;
    sign_batch_meter_usage(&r, "not-the-secret", NULL, NOW_MS);
    expect_rejection(&r, "us-east-1", NOW_MS, "InvalidSignatureException");
    mtr_free(r.authorization);
}

static void test_verify_rejects_a_tampered_body_or_signed_header(void **state)
{
    (void)state;
    signed_req_t r;
    sign_batch_meter_usage(&r, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL, NOW_MS);
    r.body = "{\"ProductCode\":\"prod-1\",\"UsageRecords\":[]}";
    expect_rejection(&r, "us-east-1", NOW_MS, "InvalidSignatureException");
    r.body = BODY;
    r.headers[2].value = "AWSMPMeteringService.MeterUsage";
    expect_rejection(&r, "us-east-1", NOW_MS, "InvalidSignatureException");
    mtr_free(r.authorization);
}

static void test_verify_rejects_unknown_access_key_as_unrecognized_client(void **state)
{
    (void)state;
    signed_req_t r;
    sign_batch_meter_usage(&r, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL, NOW_MS);
    char *auth = mtr_strdup(r.authorization);
    memcpy(strstr(auth, "AKIDEXAMPLE"), "AKIDOTHERXX", 11);
    r.headers[r.n - 1].value = auth;
    expect_rejection(&r, "us-east-1", NOW_MS, "UnrecognizedClientException");
    mtr_free(auth);
    mtr_free(r.authorization);
}

static void test_verify_allows_fifteen_minutes_of_skew_and_no_more(void **state)
{
    (void)state;
    signed_req_t r;
    char type[64], errstr[512];
    const int64_t min = 60000;
    sign_batch_meter_usage(&r, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL, NOW_MS);
    assert_int_equal(verify(&r, "us-east-1", NOW_MS + 15 * min, type, errstr), MTR_OK);
    assert_int_equal(verify(&r, "us-east-1", NOW_MS - 15 * min, type, errstr), MTR_OK);
    expect_rejection(&r, "us-east-1", NOW_MS + 16 * min, "InvalidSignatureException");
    expect_rejection(&r, "us-east-1", NOW_MS - 16 * min, "InvalidSignatureException");
    mtr_free(r.authorization);
}

static void test_verify_rejects_a_scope_for_another_region_or_service(void **state)
{
    (void)state;
    signed_req_t r;
    sign_batch_meter_usage(&r, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL, NOW_MS);
    expect_rejection(&r, "eu-west-1", NOW_MS, "InvalidSignatureException");
    mtr_sigv4_request_t req = {.method = "POST",
                               .path = "/",
                               .headers = r.headers,
                               .n_headers = r.n,
                               .body = BODY,
                               .body_len = strlen(BODY)};
    char type[64], errstr[512];
    assert_int_equal(mtr_sigv4_verify(&req, "us-east-1", "execute-api", NOW_MS, secret_for_akid,
                                      NULL, type, sizeof type, errstr, sizeof errstr),
                     MTR_ERR_AUTH);
    assert_string_equal(type, "InvalidSignatureException");
    assert_non_null(strstr(errstr, "service"));
    mtr_free(r.authorization);
}

static void test_verify_rejects_missing_authorization_as_missing_token(void **state)
{
    (void)state;
    signed_req_t r;
    sign_batch_meter_usage(&r, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL, NOW_MS);
    r.n--; /* drop Authorization */
    expect_rejection(&r, "us-east-1", NOW_MS, "MissingAuthenticationTokenException");
    mtr_free(r.authorization);
}

static void test_verify_rejects_missing_date_or_parts_as_incomplete_signature(void **state)
{
    (void)state;
    signed_req_t r;
    sign_batch_meter_usage(&r, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL, NOW_MS);
    r.headers[3].name = "X-Not-Date"; /* X-Amz-Date gone */
    expect_rejection(&r, "us-east-1", NOW_MS, "IncompleteSignatureException");
    r.headers[3].name = "X-Amz-Date";

    r.headers[2].name = "X-Other"; /* a signed header is missing */
    expect_rejection(&r, "us-east-1", NOW_MS, "IncompleteSignatureException");
    r.headers[2].name = "X-Amz-Target";

    char *auth = mtr_strdup(r.authorization);
    *strstr(auth, ", Signature=") = '\0';
    r.headers[r.n - 1].value = auth;
    expect_rejection(&r, "us-east-1", NOW_MS, "IncompleteSignatureException");
    r.headers[r.n - 1].value = "AWS4-HMAC-SHA1 Credential=x";
    expect_rejection(&r, "us-east-1", NOW_MS, "IncompleteSignatureException");
    r.headers[r.n - 1].value = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2025/us-east-1, "
                               "SignedHeaders=host;x-amz-date, Signature=00";
    expect_rejection(&r, "us-east-1", NOW_MS, "IncompleteSignatureException");
    mtr_free(auth);
    mtr_free(r.authorization);
}

static void test_sign_refuses_a_request_without_host_or_matching_date(void **state)
{
    (void)state;
    mtr_http_header_t hs[] = {{"X-Amz-Date", "20150830T123600Z"}};
    mtr_sigv4_request_t req = {.method = "GET", .path = "/", .headers = hs, .n_headers = 1};
    mtr_sigv4_params_t p = {.region = "us-east-1", .service = "s", .amz_date = "20150830T123600Z"};
    mtr_sigv4_credentials_t creds = {"AKID", "secret", NULL};
    char *auth = NULL, errstr[256];
    assert_int_equal(mtr_sigv4_sign(&req, &p, &creds, &auth, errstr, sizeof errstr),
                     MTR_ERR_INVALID_ARG);
    assert_non_null(strstr(errstr, "Host"));
    mtr_http_header_t hs2[] = {{"Host", "h"}, {"X-Amz-Date", "20150830T000000Z"}};
    req.headers = hs2;
    req.n_headers = 2;
    assert_int_equal(mtr_sigv4_sign(&req, &p, &creds, &auth, errstr, sizeof errstr),
                     MTR_ERR_INVALID_ARG);
    assert_null(auth);
}

/* ---- raw request and context parsing ---- */

static void test_request_parser_keeps_repeats_joins_folds_and_body(void **state)
{
    (void)state;
    static const char raw[] = "POST /a b/c?x=1&y HTTP/1.1\r\n"
                              "Host: example.com \r\n"
                              "My-Header: first\r\n"
                              "   second\r\n"
                              "\tthird\r\n"
                              "My-Header: again\r\n"
                              "\r\n"
                              "body\nwith lines\n";
    mtr_http_request_t r;
    char errstr[256];
    assert_int_equal(mtr_http_request_parse(raw, sizeof raw - 1, &r, errstr, sizeof errstr),
                     MTR_OK);
    assert_string_equal(r.method, "POST");
    assert_string_equal(r.path, "/a b/c");
    assert_string_equal(r.query, "x=1&y");
    assert_int_equal(r.n_headers, 3);
    assert_string_equal(r.headers[0].value, "example.com");
    assert_string_equal(r.headers[1].value, "first second third");
    assert_string_equal(r.headers[2].value, "again");
    assert_int_equal(r.body_len, 16);
    assert_memory_equal(r.body, "body\nwith lines\n", 16);
    mtr_http_request_free(&r);
}

static void test_request_parser_rejects_malformed_lines_with_line_numbers(void **state)
{
    (void)state;
    static const char *const bad[] = {"",
                                      "GET\n",
                                      "GET / FTP/1\n",
                                      "GET x HTTP/1.1\n",
                                      "GET / HTTP/1.1\n continued\n",
                                      "GET / HTTP/1.1\nHost example.com\n",
                                      "GET / HTTP/1.1\nBad Name: v\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mtr_http_request_t r;
        char errstr[256] = "";
        assert_int_equal(mtr_http_request_parse(bad[i], strlen(bad[i]), &r, errstr, sizeof errstr),
                         MTR_ERR_PARSE);
        assert_non_null(strstr(errstr, "line"));
        assert_null(r.method);
    }
}

static void test_context_parser_reports_the_bad_field_without_the_secret(void **state)
{
    (void)state;
    mtr_sigv4_context_t ctx;
    char errstr[256];
    assert_int_equal(mtr_sigv4_context_parse("{\"credentials\":{\"access_key_id\":\"A\","
                                             "\"secret_access_key\":\"S3CR3T\"},\"region\":\"r\","
                                             "\"service\":\"s\",\"timestamp\":\"2015-08-30\"}",
                                             &ctx, errstr, sizeof errstr),
                     MTR_ERR_PARSE);
    assert_non_null(strstr(errstr, "timestamp"));
    assert_null(strstr(errstr, "S3CR3T"));
    assert_int_equal(mtr_sigv4_context_parse("[1]", &ctx, errstr, sizeof errstr), MTR_ERR_PARSE);
    assert_int_equal(mtr_sigv4_context_parse("{\"credentials\":{\"access_key_id\":\"A\","
                                             "\"secret_access_key\":\"S\"},\"region\":\"r\","
                                             "\"service\":\"s\",\"timestamp\":"
                                             "\"2015-08-30T12:36:00Z\",\"normalize\":1}",
                                             &ctx, errstr, sizeof errstr),
                     MTR_ERR_PARSE);
    assert_non_null(strstr(errstr, "normalize"));
}

int main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_header_values_are_trimmed_and_inner_runs_collapsed),
        cmocka_unit_test(test_repeated_headers_join_in_order_and_names_sort_case_insensitively),
        cmocka_unit_test(test_user_agent_and_authorization_are_not_signed),
        cmocka_unit_test(test_query_sorts_by_encoded_key_then_value_and_bare_keys_get_empty_values),
        cmocka_unit_test(test_query_is_reencoded_whether_raw_or_encoded_on_the_wire),
        cmocka_unit_test(test_path_is_normalised_then_encoded_once_more),
        cmocka_unit_test(test_x_amz_content_sha256_header_replaces_the_body_hash),
        cmocka_unit_test(test_signing_key_matches_aws_documentation_example),
        cmocka_unit_test(test_amz_date_formats_and_parses_back),
        cmocka_unit_test(test_verify_accepts_a_request_signed_with_the_right_secret),
        cmocka_unit_test(test_verify_rejects_wrong_secret_as_invalid_signature),
        cmocka_unit_test(test_verify_rejects_a_tampered_body_or_signed_header),
        cmocka_unit_test(test_verify_rejects_unknown_access_key_as_unrecognized_client),
        cmocka_unit_test(test_verify_allows_fifteen_minutes_of_skew_and_no_more),
        cmocka_unit_test(test_verify_rejects_a_scope_for_another_region_or_service),
        cmocka_unit_test(test_verify_rejects_missing_authorization_as_missing_token),
        cmocka_unit_test(test_verify_rejects_missing_date_or_parts_as_incomplete_signature),
        cmocka_unit_test(test_sign_refuses_a_request_without_host_or_matching_date),
        cmocka_unit_test(test_request_parser_keeps_repeats_joins_folds_and_body),
        cmocka_unit_test(test_request_parser_rejects_malformed_lines_with_line_numbers),
        cmocka_unit_test(test_context_parser_reports_the_bad_field_without_the_secret),
    };
    size_t n = sizeof fixed / sizeof fixed[0];
    struct CMUnitTest *tests = mtr_malloc(n * sizeof *tests);
    memcpy(tests, fixed, sizeof fixed);

    const char *src = getenv("MTR_SOURCE_DIR");
    char root[1024];
    snprintf(root, sizeof root, "%s/../shared/conformance/sigv4-suite", src ? src : ".");
    size_t added = add_suite_tests(root, &tests, n);
    if (!added) {
        tests = mtr_realloc(tests, (n + 1) * sizeof *tests);
        tests[n] = (struct CMUnitTest){.name = "test_conformance_suite_is_present",
                                       .test_func = test_conformance_suite_is_present,
                                       .initial_state = root};
        added = 1;
    }
    int failed = _cmocka_run_group_tests("sigv4", tests, n + added, NULL, NULL);
    for (size_t i = n; i < n + added; i++) {
        if (tests[i].test_func != test_conformance_suite_is_present) {
            mtr_free((char *)tests[i].name);
            mtr_free(tests[i].initial_state);
        }
    }
    mtr_free(tests);
    return failed ? 1 : 0;
}
