/* The BatchMeterUsage codec: exact request bodies, record checks, answers
 * matched to records by identity, and error classification by type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "emit/codec.h"

#define HOUR0 1764151200000LL /* 2025-11-26T10:00:00Z = 1764151200 s */

static mtr_record_t rec(const char *customer, const char *dim, int64_t hour, int64_t q)
{
    return (mtr_record_t){.product_code = "prod-1",
                          .customer_identifier = customer,
                          .dimension = dim,
                          .hour_start_ms = hour,
                          .quantity = q};
}

static void test_request_body_has_exactly_the_aws_fields(void **state)
{
    (void)state;
    mtr_record_allocation_t allocs[2] = {
        {.quantity = 2, .tags = {{"team", "search"}, {"env", "prod"}}, .n_tags = 2},
        {.quantity = 1},
    };
    mtr_record_t r[2] = {rec("cust-1", "api_calls", HOUR0, 3),
                         rec("cust-2", "seats", HOUR0 + 3600000, 0)};
    r[0].allocations = allocs;
    r[0].n_allocations = 2;
    const mtr_record_t *ptrs[2] = {&r[0], &r[1]};
    size_t len;
    char *body = mtr_emit_codec_request(ptrs, 2, &len);
    assert_string_equal(
        body, "{\"ProductCode\":\"prod-1\",\"UsageRecords\":["
              "{\"Timestamp\":1764151200,\"CustomerIdentifier\":\"cust-1\",\"Dimension\":"
              "\"api_calls\",\"Quantity\":3,\"UsageAllocations\":[{\"AllocatedUsageQuantity\":2,"
              "\"Tags\":[{\"Key\":\"team\",\"Value\":\"search\"},{\"Key\":\"env\",\"Value\":"
              "\"prod\"}]},{\"AllocatedUsageQuantity\":1}]},"
              "{\"Timestamp\":1764154800,\"CustomerIdentifier\":\"cust-2\",\"Dimension\":"
              "\"seats\",\"Quantity\":0}]}");
    assert_int_equal(len, strlen(body));
    /* The sizes the batch builder relies on add up to the real length. */
    assert_int_equal(mtr_emit_codec_envelope_size(&r[0]) + mtr_emit_codec_record_size(&r[0]) + 1 +
                         mtr_emit_codec_record_size(&r[1]),
                     len);
    mtr_free(body);
}

static void test_license_arn_scope_sends_license_and_account_id_without_product_code(void **state)
{
    (void)state;
    mtr_record_t r = {.license_arn = "arn:aws:license-manager::123:license:l-abc",
                      .customer_aws_account_id = "123456789012",
                      .dimension = "gb",
                      .hour_start_ms = HOUR0,
                      .quantity = 7};
    const mtr_record_t *ptrs[1] = {&r};
    size_t len;
    char *body = mtr_emit_codec_request(ptrs, 1, &len);
    const char *want = "{\"UsageRecords\":[{\"Timestamp\":1764151200,"
                       "\"CustomerAWSAccountId\":\"123456789012\",\"Dimension\":\"gb\","
                       "\"Quantity\":7,\"LicenseArn\":\"arn:aws:license-manager::123:"
                       "license:l-abc\"}]}";
    assert_string_equal(body, want);
    mtr_free(body);
    /* A known product code does not join the LicenseArn: AWS takes one. */
    r.product_code = "prod-1";
    body = mtr_emit_codec_request(ptrs, 1, &len);
    assert_string_equal(body, want);
    assert_int_equal(mtr_emit_codec_envelope_size(&r) + mtr_emit_codec_record_size(&r), len);
    mtr_free(body);
}

static void test_record_check_refuses_what_aws_would_refuse(void **state)
{
    (void)state;
    char err[256];
    mtr_record_t ok = rec("cust-1", "api", HOUR0, 5);
    assert_int_equal(mtr_emit_codec_check_record(&ok, err, sizeof err), MTR_OK);

    mtr_record_t r = ok;
    r.customer_aws_account_id = "123";
    assert_int_equal(mtr_emit_codec_check_record(&r, err, sizeof err), MTR_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "exactly one"));

    r = ok;
    r.customer_identifier = NULL;
    r.customer_aws_account_id = "12ab";
    assert_int_equal(mtr_emit_codec_check_record(&r, err, sizeof err), MTR_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "digits"));

    r = ok;
    r.quantity = -1;
    assert_int_equal(mtr_emit_codec_check_record(&r, err, sizeof err), MTR_ERR_INVALID_ARG);
    r.quantity = MTR_RECORD_MAX_QUANTITY + 1;
    assert_int_equal(mtr_emit_codec_check_record(&r, err, sizeof err), MTR_ERR_INVALID_ARG);

    r = ok;
    r.dimension = "";
    assert_int_equal(mtr_emit_codec_check_record(&r, err, sizeof err), MTR_ERR_INVALID_ARG);

    mtr_record_allocation_t a = {.quantity = 5, .tags = {{"k", "v\n"}}, .n_tags = 1};
    r = ok;
    r.allocations = &a;
    r.n_allocations = 1;
    assert_int_equal(mtr_emit_codec_check_record(&r, err, sizeof err), MTR_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "tag value"));
    a.tags[0].value = "v 1=x/y@z";
    assert_int_equal(mtr_emit_codec_check_record(&r, err, sizeof err), MTR_OK);
    a.quantity = 4;
    assert_int_equal(mtr_emit_codec_check_record(&r, err, sizeof err), MTR_ERR_INVALID_ARG);
    assert_non_null(strstr(err, "add up"));
    a.quantity = 5;
    a.n_tags = 6;
    assert_int_equal(mtr_emit_codec_check_record(&r, err, sizeof err), MTR_ERR_INVALID_ARG);

    r = ok;
    r.product_code = NULL;
    assert_int_equal(mtr_emit_codec_check_record(&r, err, sizeof err), MTR_ERR_INVALID_ARG);
    r.license_arn = "not-an-arn";
    assert_int_equal(mtr_emit_codec_check_record(&r, err, sizeof err), MTR_ERR_INVALID_ARG);
}

static void test_answers_match_records_by_identity_not_position(void **state)
{
    (void)state;
    mtr_record_t r[4] = {rec("a", "api", HOUR0, 1), rec("b", "api", HOUR0, 2),
                         rec("a", "seats", HOUR0, 3), rec("c", "api", HOUR0, 4)};
    const mtr_record_t *ptrs[4] = {&r[0], &r[1], &r[2], &r[3]};
    /* Reversed order, a float timestamp, an ISO timestamp, one record left
     * out entirely, and one answer naming a record never sent. */
    const char *body =
        "{\"Results\":["
        "{\"UsageRecord\":{\"Timestamp\":1764151200.0,\"CustomerIdentifier\":\"a\","
        "\"Dimension\":\"seats\",\"Quantity\":3},\"MeteringRecordId\":\"m-3\",\"Status\":"
        "\"Success\"},"
        "{\"UsageRecord\":{\"Timestamp\":\"2025-11-26T10:00:00Z\",\"CustomerIdentifier\":\"b\","
        "\"Dimension\":\"api\",\"Quantity\":2},\"Status\":\"DuplicateRecord\"},"
        "{\"UsageRecord\":{\"Timestamp\":1764151200,\"CustomerIdentifier\":\"zzz\","
        "\"Dimension\":\"api\",\"Quantity\":2},\"MeteringRecordId\":\"m-x\",\"Status\":"
        "\"Success\"}],"
        "\"UnprocessedRecords\":[{\"Timestamp\":1764151200,\"CustomerIdentifier\":\"a\","
        "\"Dimension\":\"api\",\"Quantity\":1}]}";
    mtr_emit_answer_t ans[4];
    size_t unmatched = 99;
    char err[128];
    assert_int_equal(mtr_emit_codec_parse_response(body, strlen(body), ptrs, 4, ans, &unmatched,
                                                   err, sizeof err),
                     MTR_OK);
    assert_int_equal(ans[0].status, MTR_EMIT_STATUS_UNPROCESSED);
    assert_int_equal(ans[1].status, MTR_EMIT_STATUS_DUPLICATE_RECORD);
    assert_int_equal(ans[2].status, MTR_EMIT_STATUS_SUCCESS);
    assert_string_equal(ans[2].metering_record_id, "m-3");
    assert_int_equal(ans[3].status, MTR_EMIT_STATUS_MISSING);
    assert_int_equal(unmatched, 1);
}

static void test_unknown_status_and_success_without_id_are_not_accepted(void **state)
{
    (void)state;
    mtr_record_t r[2] = {rec("a", "api", HOUR0, 1), rec("b", "api", HOUR0, 1)};
    const mtr_record_t *ptrs[2] = {&r[0], &r[1]};
    const char *body = "{\"Results\":["
                       "{\"UsageRecord\":{\"Timestamp\":1764151200,\"CustomerIdentifier\":\"a\","
                       "\"Dimension\":\"api\"},\"Status\":\"Success\"},"
                       "{\"UsageRecord\":{\"Timestamp\":1764151200,\"CustomerIdentifier\":\"b\","
                       "\"Dimension\":\"api\"},\"MeteringRecordId\":\"m\",\"Status\":\"Later\"},"
                       "{\"UsageRecord\":{\"Timestamp\":1764151200,\"CustomerIdentifier\":\"b\","
                       "\"Dimension\":\"api\"},\"Status\":\"CustomerNotSubscribed\"}]}";
    mtr_emit_answer_t ans[2];
    size_t unmatched;
    assert_int_equal(
        mtr_emit_codec_parse_response(body, strlen(body), ptrs, 2, ans, &unmatched, NULL, 0),
        MTR_OK);
    assert_int_equal(ans[0].status, MTR_EMIT_STATUS_UNKNOWN);
    assert_int_equal(ans[1].status, MTR_EMIT_STATUS_UNKNOWN);
    assert_string_equal(ans[1].status_text, "Later");
    assert_int_equal(unmatched, 1); /* a second answer for b keeps the first */
}

static void test_unreadable_responses_are_parse_errors(void **state)
{
    (void)state;
    mtr_record_t r = rec("a", "api", HOUR0, 1);
    const mtr_record_t *ptrs[1] = {&r};
    mtr_emit_answer_t ans[1];
    char err[128];
    const char *bodies[] = {"",
                            "<html>502</html>",
                            "[1,2]",
                            "{\"Results\":{}}",
                            "{\"Results\":[],\"UnprocessedRecords\":\"x\"}",
                            "{\"Results\":["};
    for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
        assert_int_equal(mtr_emit_codec_parse_response(bodies[i], strlen(bodies[i]), ptrs, 1, ans,
                                                       NULL, err, sizeof err),
                         MTR_ERR_PARSE);
    /* An empty object answers nothing: the record is missing, not an error. */
    assert_int_equal(mtr_emit_codec_parse_response("{}", 2, ptrs, 1, ans, NULL, err, sizeof err),
                     MTR_OK);
    assert_int_equal(ans[0].status, MTR_EMIT_STATUS_MISSING);
}

static void test_error_type_drops_namespace_and_suffix(void **state)
{
    (void)state;
    char t[64];
    mtr_emit_codec_error_type("com.amazonaws.awsmpmeteringservice#ThrottlingException", t,
                              sizeof t);
    assert_string_equal(t, "ThrottlingException");
    mtr_emit_codec_error_type("InvalidTagException:http://internal.amazon.com/coral/x/", t,
                              sizeof t);
    assert_string_equal(t, "InvalidTagException");
    mtr_emit_codec_error_type("ThrottlingException", t, sizeof t);
    assert_string_equal(t, "ThrottlingException");
    mtr_emit_codec_error_type(NULL, t, sizeof t);
    assert_string_equal(t, "");
}

static void test_error_classification_table(void **state)
{
    (void)state;
    static const struct {
        long status;
        const char *header;
        const char *body;
        mtr_err_t err;
        mtr_emit_action_t action;
        const char *type;
    } cases[] = {
        {200, NULL, "{\"Results\":[]}", MTR_OK, MTR_EMIT_ACTION_READ_RESULTS, ""},
        {400, NULL, "{\"__type\":\"com.amazonaws.awsmpmeteringservice#ThrottlingException\"}",
         MTR_ERR_THROTTLED, MTR_EMIT_ACTION_RETRY, "ThrottlingException"},
        {400, "ThrottlingException:http://internal.amazon.com/", "{}", MTR_ERR_THROTTLED,
         MTR_EMIT_ACTION_RETRY, "ThrottlingException"},
        {500, NULL, "{\"__type\":\"InternalServiceErrorException\",\"message\":\"x\"}",
         MTR_ERR_SERVER, MTR_EMIT_ACTION_RETRY, "InternalServiceErrorException"},
        {503, NULL, "", MTR_ERR_SERVER, MTR_EMIT_ACTION_RETRY, ""},
        {502, NULL, "<html>bad gateway</html>", MTR_ERR_SERVER, MTR_EMIT_ACTION_RETRY, ""},
        {429, NULL, "slow down", MTR_ERR_THROTTLED, MTR_EMIT_ACTION_RETRY, ""},
        {400, NULL, "{\"__type\":\"x#TimestampOutOfBoundsException\"}", MTR_ERR_REJECTED,
         MTR_EMIT_ACTION_STALE, "TimestampOutOfBoundsException"},
        {400, NULL, "{\"__type\":\"InvalidUsageDimensionException\"}", MTR_ERR_REJECTED,
         MTR_EMIT_ACTION_BISECT, "InvalidUsageDimensionException"},
        {400, NULL, "{\"__type\":\"a.b#InvalidCustomerIdentifierException\"}", MTR_ERR_REJECTED,
         MTR_EMIT_ACTION_BISECT, "InvalidCustomerIdentifierException"},
        {400, NULL, "{\"__type\":\"InvalidTagException\"}", MTR_ERR_REJECTED,
         MTR_EMIT_ACTION_BISECT, "InvalidTagException"},
        {400, NULL, "{\"__type\":\"ValidationException\"}", MTR_ERR_REJECTED,
         MTR_EMIT_ACTION_BISECT, "ValidationException"},
        /* Starts with Invalid, but the signature is at fault, not a record. */
        {403, NULL, "{\"__type\":\"InvalidSignatureException\"}", MTR_ERR_AUTH,
         MTR_EMIT_ACTION_DEFER, "InvalidSignatureException"},
        {400, NULL, "{\"__type\":\"UnrecognizedClientException\"}", MTR_ERR_AUTH,
         MTR_EMIT_ACTION_DEFER, "UnrecognizedClientException"},
        {400, NULL, "{\"__type\":\"ExpiredTokenException\"}", MTR_ERR_AUTH, MTR_EMIT_ACTION_DEFER,
         "ExpiredTokenException"},
        {403, NULL, "{\"__type\":\"MissingAuthenticationTokenException\"}", MTR_ERR_AUTH,
         MTR_EMIT_ACTION_DEFER, "MissingAuthenticationTokenException"},
        {400, NULL, "{\"__type\":\"DisabledApiException\"}", MTR_ERR_REJECTED,
         MTR_EMIT_ACTION_DEFER, "DisabledApiException"},
        /* Garbage without a type: outcome unknown, retried. */
        {400, NULL, "not json at all", MTR_ERR_TRANSPORT, MTR_EMIT_ACTION_RETRY, ""},
        {400, NULL, "{\"message\":\"ThrottlingException\"}", MTR_ERR_TRANSPORT,
         MTR_EMIT_ACTION_RETRY, ""},
        /* The header wins over the body. */
        {400, "InvalidProductCodeException", "{\"__type\":\"ThrottlingException\"}",
         MTR_ERR_REJECTED, MTR_EMIT_ACTION_BISECT, "InvalidProductCodeException"},
        {400, NULL, "{\"__type\":\"SomethingNewException\"}", MTR_ERR_REJECTED,
         MTR_EMIT_ACTION_BISECT, "SomethingNewException"},
        {500, NULL, "{\"__type\":\"SomethingNewException\"}", MTR_ERR_SERVER, MTR_EMIT_ACTION_RETRY,
         "SomethingNewException"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mtr_emit_error_t e;
        mtr_emit_codec_classify(cases[i].status, cases[i].header, cases[i].body,
                                strlen(cases[i].body), &e);
        if (e.err != cases[i].err || e.action != cases[i].action ||
            strcmp(e.type, cases[i].type) != 0)
            fail_msg("case %zu (%ld %s): got %s/%s/\"%s\", want %s/%s/\"%s\"", i, cases[i].status,
                     cases[i].body, mtr_err_name(e.err), mtr_emit_action_name(e.action), e.type,
                     mtr_err_name(cases[i].err), mtr_emit_action_name(cases[i].action),
                     cases[i].type);
    }
    mtr_emit_error_t e;
    const char *with_message = "{\"__type\":\"InternalServiceErrorException\","
                               "\"message\":\"try again\"}";
    mtr_emit_codec_classify(500, NULL, with_message, strlen(with_message), &e);
    assert_string_equal(e.message, "try again");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_body_has_exactly_the_aws_fields),
        cmocka_unit_test(test_license_arn_scope_sends_license_and_account_id_without_product_code),
        cmocka_unit_test(test_record_check_refuses_what_aws_would_refuse),
        cmocka_unit_test(test_answers_match_records_by_identity_not_position),
        cmocka_unit_test(test_unknown_status_and_success_without_id_are_not_accepted),
        cmocka_unit_test(test_unreadable_responses_are_parse_errors),
        cmocka_unit_test(test_error_type_drops_namespace_and_suffix),
        cmocka_unit_test(test_error_classification_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
