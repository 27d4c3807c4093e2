/* The configuration module: every bad key, type and bound is reported with
 * its path and an exact message, all problems at once; defaults, property
 * passthrough, environment overrides, the example files, and that nothing
 * printed or logged carries a secret. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"
#include "core/log.h"

/* One valid product, so each case below has exactly the problem it names. */
#define PRODUCTS                                                                                   \
    "\"products\":[{\"product_code\":\"prod-abc\",\"dimensions\":[{\"name\":\"api_calls\"}]}]"

static const char *const env_vars[] = {
    "METERD_KAFKA_BOOTSTRAP_SERVERS",
    "METERD_KAFKA_SASL_USERNAME",
    "METERD_KAFKA_SASL_PASSWORD",
    "METERD_AWS_REGION",
    "METERD_AWS_ENDPOINT",
    "METERD_AWS_PROFILE",
    "METERD_LEDGER_PATH",
};

static int clear_env(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof env_vars / sizeof env_vars[0]; i++)
        unsetenv(env_vars[i]);
    return 0;
}

static const struct bad_case {
    const char *json;
    const char *path;
    const char *message;
} bad_cases[] = {
    /* wrong type, per type */
    {"{\"kafka\":{\"bootstrap.servers\":5}," PRODUCTS "}", "kafka.\"bootstrap.servers\"",
     "expected a string, got number"},
    {"{\"aws\":{\"region\":null}," PRODUCTS "}", "aws.region", "expected a string, got null"},
    {"{\"aws\":{\"endpoint\":[]}," PRODUCTS "}", "aws.endpoint",
     "expected a string or null, got array"},
    {"{\"shards\":\"2\"," PRODUCTS "}", "shards", "expected an integer, got string"},
    {"{\"shards\":1.5," PRODUCTS "}", "shards", "expected an integer, got 1.5"},
    {"{\"emit\":{\"calls_per_second\":true}," PRODUCTS "}", "emit.calls_per_second",
     "expected a number, got boolean"},
    {"{\"window\":{\"lateness\":300}," PRODUCTS "}", "window.lateness",
     "expected a duration string such as \"5m\", got number"},
    {"{\"kafka\":{\"topics\":\"usage\"}," PRODUCTS "}", "kafka.topics",
     "expected a list of strings, got string"},
    {"{\"kafka\":{\"topics\":[\"usage\",1]}," PRODUCTS "}", "kafka.topics[1]",
     "expected a string, got number"},
    {"{\"kafka\":{\"properties\":[]}," PRODUCTS "}", "kafka.properties",
     "expected an object of string values, got array"},
    {"{\"kafka\":{\"properties\":{\"ssl.ca.location\":{}}}," PRODUCTS "}",
     "kafka.properties.\"ssl.ca.location\"", "expected a string, number or boolean, got object"},
    {"{\"products\":[{\"product_code\":\"p\",\"dimensions\":[{\"name\":\"a\",\"rounding\":1}]}]}",
     "products[0].dimensions[0].rounding", "expected a string (up, down, nearest), got number"},
    {"{\"products\":{}}", "products", "expected a list of objects, got object"},
    {"{\"products\":[5]}", "products[0]", "expected an object, got number"},
    {"{\"window\":5," PRODUCTS "}", "window", "expected an object, got number"},
    {"[1,2]", "", "expected a JSON object at the top level, got array"},
    /* bounds */
    {"{\"shards\":100," PRODUCTS "}", "shards", "must be between 1 and 64, got 100"},
    {"{\"shards\":0," PRODUCTS "}", "shards", "must be between 1 and 64, got 0"},
    {"{\"events\":{\"max_message_bytes\":100}," PRODUCTS "}", "events.max_message_bytes",
     "must be between 1024 and 67108864, got 100"},
    {"{\"emit\":{\"calls_per_second\":1500.5}," PRODUCTS "}", "emit.calls_per_second",
     "must be between 0 and 1000, got 1500.5"},
    {"{\"emit\":{\"max_in_flight\":65}," PRODUCTS "}", "emit.max_in_flight",
     "must be between 1 and 64, got 65"},
    {"{\"window\":{\"max_record_age\":\"48h\"}," PRODUCTS "}", "window.max_record_age",
     "must be between 1h and 24h, got 48h"},
    {"{\"window\":{\"max_record_age\":\"30m\"}," PRODUCTS "}", "window.max_record_age",
     "must be between 1h and 24h, got 30m"},
    {"{\"window\":{\"lateness\":\"1d1ms\"}," PRODUCTS "}", "window.lateness",
     "must be between 0s and 24h, got 1d1ms"},
    {"{\"emit\":{\"request_timeout\":\"20m\"}," PRODUCTS "}", "emit.request_timeout",
     "must be between 100ms and 10m, got 20m"},
    {"{\"kafka\":{\"group.id\":\"\"}," PRODUCTS "}", "kafka.\"group.id\"", "must not be empty"},
    /* duration syntax */
    {"{\"window\":{\"lateness\":\"5x\"}," PRODUCTS "}", "window.lateness",
     "invalid duration \"5x\" (use whole numbers with units ms, s, m, h, d: 250ms, 90s, 5m, 6h, "
     "7d, 1h30m)"},
    {"{\"window\":{\"lateness\":\"1.5h\"}," PRODUCTS "}", "window.lateness",
     "invalid duration \"1.5h\" (use whole numbers with units ms, s, m, h, d: 250ms, 90s, 5m, "
     "6h, 7d, 1h30m)"},
    {"{\"window\":{\"lateness\":\"-5m\"}," PRODUCTS "}", "window.lateness",
     "invalid duration \"-5m\" (use whole numbers with units ms, s, m, h, d: 250ms, 90s, 5m, "
     "6h, 7d, 1h30m)"},
    {"{\"window\":{\"lateness\":\"99999999999999999999d\"}," PRODUCTS "}", "window.lateness",
     "duration \"99999999999999999999d\" is too large"},
    /* enums */
    {"{\"products\":[{\"product_code\":\"p\",\"dimensions\":[{\"name\":\"a\"},{\"name\":\"b\"},"
     "{\"name\":\"c\",\"aggregation\":\"avg\"}]}]}",
     "products[0].dimensions[2].aggregation",
     "unknown aggregation \"avg\" (expected sum, count, max, latest)"},
    {"{\"products\":[{\"product_code\":\"p\",\"dimensions\":[{\"name\":\"a\",\"rounding\":"
     "\"ceil\"}]}]}",
     "products[0].dimensions[0].rounding",
     "unknown rounding \"ceil\" (expected up, down, nearest)"},
    /* unknown keys */
    {"{\"window\":{\"lateneess\":\"5m\"}," PRODUCTS "}", "window.lateneess",
     "unknown key \"lateneess\" (did you mean \"lateness\"?)"},
    {"{\"kafak\":{}," PRODUCTS "}", "kafak", "unknown key \"kafak\" (did you mean \"kafka\"?)"},
    {"{\"lateness\":\"5m\"," PRODUCTS "}", "lateness",
     "unknown key \"lateness\" (did you mean \"window.lateness\"?)"},
    {"{\"window\":{\"colour\":1}," PRODUCTS "}", "window.colour",
     "unknown key \"colour\" (expected one of: lateness, max_future_skew, max_record_age, "
     "max_event_age)"},
    {"{\"products\":[{\"product_code\":\"p\",\"dimensions\":[{\"nmae\":\"a\",\"name\":\"a\"}]}]}",
     "products[0].dimensions[0].nmae", "unknown key \"nmae\" (did you mean \"name\"?)"},
    {"{\"shards\":2,\"shards\":3," PRODUCTS "}", "shards", "key appears more than once (keep one)"},
    /* required keys and lists */
    {"{}", "products",
     "required key is missing: Products billed by this deployment, each with its dimensions; "
     "each product code once."},
    {"{\"products\":[]}", "products", "must have at least 1 entry, got 0"},
    {"{\"products\":[{\"dimensions\":[{\"name\":\"a\"}]}]}", "products[0].product_code",
     "required key is missing: AWS Marketplace product code (1-255 of letters, digits, "
     "-/=:_.@)."},
    {"{\"products\":[{\"product_code\":\"p\",\"dimensions\":[]}]}", "products[0].dimensions",
     "must have at least 1 entry, got 0"},
    {"{\"kafka\":{\"topics\":[]}," PRODUCTS "}", "kafka.topics",
     "must have at least 1 entry, got 0"},
    {"{\"kafka\":{\"topics\":[\"\"]}," PRODUCTS "}", "kafka.topics[0]", "must not be empty"},
    {"{\"emulator\":{\"credentials\":[{\"access_key_id\":\"AKID\"}]}," PRODUCTS "}",
     "emulator.credentials[0].secret_access_key",
     "required key is missing: Its secret key, used to verify SigV4 signatures; never printed."},
    /* duplicates */
    {"{\"products\":[{\"product_code\":\"p\",\"dimensions\":[{\"name\":\"a\"}]},"
     "{\"product_code\":\"p\",\"dimensions\":[{\"name\":\"a\"}]}]}",
     "products[1].product_code",
     "duplicate product_code \"p\" (already used by products[0]; each must appear once)"},
    {"{\"products\":[{\"product_code\":\"p\",\"dimensions\":[{\"name\":\"a\"},{\"name\":\"b\"},"
     "{\"name\":\"a\"}]}]}",
     "products[0].dimensions[2].name",
     "duplicate name \"a\" (already used by products[0].dimensions[0]; each must appear once)"},
    {"{\"kafka\":{\"topics\":[\"usage\",\"usage\"]}," PRODUCTS "}", "kafka.topics[1]",
     "duplicate entry \"usage\" (remove one)"},
    /* patterns and validators */
    {"{\"products\":[{\"product_code\":\"prod abc\",\"dimensions\":[{\"name\":\"a\"}]}]}",
     "products[0].product_code",
     "invalid product code \"prod abc\" (use only letters, digits and - / = : _ . @, as shown in "
     "the AWS Marketplace Management Portal)"},
    {"{\"products\":[{\"product_code\":\"p\",\"dimensions\":[{\"name\":\"\"}]}]}",
     "products[0].dimensions[0].name", "must not be empty"},
    {"{\"aws\":{\"endpoint\":\"ftp://example.com\"}," PRODUCTS "}", "aws.endpoint",
     "must be an http:// or https:// URL such as "
     "https://metering.marketplace.us-east-1.amazonaws.com, got \"ftp://example.com\""},
    {"{\"aws\":{\"endpoint\":\"http://\"}," PRODUCTS "}", "aws.endpoint",
     "must be an http:// or https:// URL such as "
     "https://metering.marketplace.us-east-1.amazonaws.com, got \"http://\""},
    {"{\"aws\":{\"region\":\"US East\"}," PRODUCTS "}", "aws.region",
     "invalid region \"US East\" (expected a region code such as us-east-1)"},
    {"{\"aws\":{\"region\":\"us-east\"}," PRODUCTS "}", "aws.region",
     "invalid region \"us-east\" (expected a region code such as us-east-1)"},
    {"{\"kafka\":{\"topics\":[\"usage events\"]}," PRODUCTS "}", "kafka.topics[0]",
     "invalid topic name \"usage events\" (use only letters, digits, '.', '_' and '-')"},
    {"{\"kafka\":{\"dead_letter_topic\":\"usage\"}," PRODUCTS "}", "kafka.dead_letter_topic",
     "\"usage\" is also kafka.topics[0]; invalid events would be read again (use a separate "
     "topic)"},
    {"{\"kafka\":{\"properties\":{\"group.id\":\"x\"}}," PRODUCTS "}",
     "kafka.properties.\"group.id\"", "not allowed here (set kafka.\"group.id\" instead)"},
    {"{\"kafka\":{\"properties\":{\"enable.auto.commit\":true}}," PRODUCTS "}",
     "kafka.properties.\"enable.auto.commit\"",
     "not allowed here (meterd commits offsets itself, after each window close)"},
    /* not JSON: the position of the mistake */
    {"{\"shards\": 2,\n \"kafka\": {}\n \"aws\": {}}", "",
     "not valid JSON: syntax error at line 3, column 2, before: \"aws\": {}} (check for a "
     "missing comma or quote, or a trailing comma)"},
    {"{\"shards\": [1,\n", "",
     "not valid JSON: unexpected end of the file at line 2, column 1 (a closing brace, bracket "
     "or quote is missing)"},
    {"", "",
     "not valid JSON: unexpected end of the file at line 1, column 1 (a closing brace, bracket "
     "or quote is missing)"},
};

static void test_each_bad_key_type_and_bound_gets_its_path_and_exact_message(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        mtr_config_t *config = (mtr_config_t *)1;
        mtr_config_problems_t pr = {0};
        char errstr[512];
        mtr_err_t err = mtr_config_load_string(c->json, &config, &pr, errstr, sizeof errstr);
        if (pr.count != 1 || strcmp(pr.items[0].path, c->path) ||
            strcmp(pr.items[0].message, c->message)) {
            print_error("case %zu (%s): %zu problem(s)\n", i, c->json, pr.count);
            for (size_t k = 0; k < pr.count; k++)
                print_error("  got      %s: %s\n", pr.items[k].path, pr.items[k].message);
            print_error("  expected %s: %s\n", c->path, c->message);
            fail();
        }
        assert_int_equal(err, *c->path || strncmp(c->message, "not valid JSON", 14)
                                  ? MTR_ERR_CONFIG
                                  : MTR_ERR_PARSE);
        assert_null(config);
        assert_non_null(strstr(errstr, c->message));
        mtr_config_problems_free(&pr);
    }
}

static void test_every_problem_in_a_file_is_reported_at_once(void **state)
{
    (void)state;
    const char *json =
        "{\"kafka\": {\"bootstrap.servers\": 5, \"topics\": []},\n"
        " \"aws\": {\"region\": \"US East\", \"endpoint\": \"ftp://x\"},\n"
        " \"window\": {\"lateneess\": \"5m\", \"max_record_age\": \"48h\"},\n"
        " \"shards\": 100,\n"
        " \"products\": [{\"product_code\": \"prod abc\",\n"
        "                \"dimensions\": [{\"name\": \"a\", \"aggregation\": \"avg\"}]}]}";
    static const char *const expected[][2] = {
        {"kafka.\"bootstrap.servers\"", "expected a string, got number"},
        {"kafka.topics", "must have at least 1 entry, got 0"},
        {"aws.region", "invalid region \"US East\" (expected a region code such as us-east-1)"},
        {"aws.endpoint", NULL},
        {"window.lateneess", "unknown key \"lateneess\" (did you mean \"lateness\"?)"},
        {"window.max_record_age", "must be between 1h and 24h, got 48h"},
        {"shards", "must be between 1 and 64, got 100"},
        {"products[0].product_code", NULL},
        {"products[0].dimensions[0].aggregation",
         "unknown aggregation \"avg\" (expected sum, count, max, latest)"},
    };
    mtr_config_t *config;
    mtr_config_problems_t pr;
    char errstr[256];
    assert_int_equal(mtr_config_load_string(json, &config, &pr, errstr, sizeof errstr),
                     MTR_ERR_CONFIG);
    assert_null(config);
    assert_int_equal(pr.count, sizeof expected / sizeof expected[0]);
    for (size_t i = 0; i < pr.count; i++) {
        assert_string_equal(pr.items[i].path, expected[i][0]);
        if (expected[i][1])
            assert_string_equal(pr.items[i].message, expected[i][1]);
    }
    assert_non_null(strstr(errstr, "(and 8 more problems)"));
    mtr_config_problems_free(&pr);
}

static void test_defaults_fill_every_key_the_file_leaves_out(void **state)
{
    (void)state;
    mtr_config_t *c;
    char errstr[256];
    assert_int_equal(mtr_config_load_string("{" PRODUCTS "}", &c, NULL, errstr, sizeof errstr),
                     MTR_OK);
    assert_string_equal(c->kafka.bootstrap_servers, "localhost:9092");
    assert_string_equal(c->kafka.group_id, "meterd");
    assert_int_equal(c->kafka.n_topics, 1);
    assert_string_equal(c->kafka.topics[0], "usage");
    assert_null(c->kafka.dead_letter_topic);
    assert_int_equal(c->kafka.n_properties, 0);
    assert_string_equal(c->aws.region, "us-east-1");
    assert_null(c->aws.endpoint);
    assert_string_equal(c->aws.profile, "default");
    assert_string_equal(c->events.customer_field, "customer");
    assert_string_equal(c->events.customer_account_field, "customer_aws_account_id");
    assert_string_equal(c->events.dimension_field, "dimension");
    assert_string_equal(c->events.quantity_field, "quantity");
    assert_string_equal(c->events.timestamp_field, "timestamp");
    assert_string_equal(c->events.id_field, "id");
    assert_string_equal(c->events.tags_field, "tags");
    assert_string_equal(c->events.license_arn_field, "license_arn");
    assert_string_equal(c->events.product_code_field, "product_code");
    assert_int_equal(c->events.max_message_bytes, 1024 * 1024);
    assert_int_equal(c->window.lateness_ms, 5 * 60000);
    assert_int_equal(c->window.max_future_skew_ms, 5 * 60000);
    assert_int_equal(c->window.max_record_age_ms, 6 * 3600000LL);
    assert_int_equal(c->window.max_event_age_ms, 7 * 86400000LL);
    assert_string_equal(c->ledger.path, "meterd-ledger.db");
    assert_int_equal(c->shards, 2);
    assert_true(c->emit.calls_per_second == 10.0);
    assert_int_equal(c->emit.max_in_flight, 4);
    assert_int_equal(c->emit.request_timeout_ms, 10000);
    assert_int_equal(c->emit.max_attempts, 8);
    assert_int_equal(c->emulator.n_credentials, 0);
    assert_int_equal(c->emulator.n_customers, 0);
    assert_string_equal(c->emulator.region, "us-east-1");
    assert_int_equal(c->n_products, 1);
    assert_string_equal(c->products[0].product_code, "prod-abc");
    assert_int_equal(c->products[0].n_dimensions, 1);
    assert_int_equal(c->products[0].dimensions[0].aggregation, MTR_AGG_SUM);
    assert_int_equal(c->products[0].dimensions[0].rounding, MTR_ROUND_UP);
    assert_null(c->products[0].dimensions[0].event_type);
    mtr_config_free(c);

    mtr_config_t *d = mtr_config_defaults();
    assert_int_equal(d->n_products, 0);
    assert_int_equal(d->shards, 2);
    assert_string_equal(d->kafka.topics[0], "usage");
    assert_string_equal(d->emulator.region, "us-east-1");
    mtr_config_free(d);
}

static void test_file_values_replace_defaults_and_lookups_find_them(void **state)
{
    (void)state;
    const char *json =
        "{\"aws\": {\"region\": \"eu-central-1\", \"endpoint\": \"http://127.0.0.1:8089\"},"
        " \"window\": {\"lateness\": \"1h30m\", \"max_record_age\": \"24h\"},"
        " \"emit\": {\"calls_per_second\": 0, \"request_timeout\": \"250ms\"},"
        " \"events\": {\"max_message_bytes\": 2048},"
        " \"emulator\": {\"credentials\": [{\"access_key_id\": \"AKID1\", \"secret_access_key\": "
        "\"s1\"}], \"customers\": [\"c1\", \"c2\"]},"
        " \"products\": [{\"product_code\": \"prod-a\", \"dimensions\": [{\"name\": \"seats\", "
        "\"aggregation\": \"latest\", \"rounding\": \"nearest\", \"event_type\": "
        "\"com.x.seats\"}]},"
        "               {\"product_code\": \"prod-b/=:_.@\", \"dimensions\": [{\"name\": \"gb "
        "hours\", \"aggregation\": \"max\", \"rounding\": \"down\"}]}]}";
    mtr_config_t *c;
    char errstr[256] = "";
    assert_int_equal(mtr_config_load_string(json, &c, NULL, errstr, sizeof errstr), MTR_OK);
    assert_string_equal(c->aws.region, "eu-central-1");
    assert_string_equal(c->emulator.region, "eu-central-1");
    assert_string_equal(c->aws.endpoint, "http://127.0.0.1:8089");
    assert_int_equal(c->window.lateness_ms, 90 * 60000);
    assert_int_equal(c->window.max_record_age_ms, 24 * 3600000LL);
    assert_true(c->emit.calls_per_second == 0.0);
    assert_int_equal(c->emit.request_timeout_ms, 250);
    assert_int_equal(c->events.max_message_bytes, 2048);
    assert_int_equal(c->emulator.n_credentials, 1);
    assert_string_equal(c->emulator.credentials[0].secret_access_key, "s1");
    assert_int_equal(c->emulator.n_customers, 2);
    assert_string_equal(c->emulator.customers[1], "c2");
    const mtr_product_conf_t *a = mtr_config_product(c, "prod-a");
    assert_non_null(a);
    const mtr_dimension_conf_t *seats = mtr_config_dimension(a, "seats");
    assert_non_null(seats);
    assert_int_equal(seats->aggregation, MTR_AGG_LATEST);
    assert_int_equal(seats->rounding, MTR_ROUND_NEAREST);
    assert_string_equal(seats->event_type, "com.x.seats");
    const mtr_product_conf_t *b = mtr_config_product(c, "prod-b/=:_.@");
    assert_non_null(b);
    assert_int_equal(mtr_config_dimension(b, "gb hours")->aggregation, MTR_AGG_MAX);
    assert_int_equal(mtr_config_dimension(b, "gb hours")->rounding, MTR_ROUND_DOWN);
    assert_null(mtr_config_product(c, "prod-c"));
    assert_null(mtr_config_dimension(a, "api_calls"));
    mtr_config_free(c);
}

static void test_kafka_properties_pass_through_in_file_order(void **state)
{
    (void)state;
    const char *json = "{\"kafka\": {\"properties\": {\"security.protocol\": \"SASL_SSL\","
                       " \"// why\": \"comments are skipped\","
                       " \"session.timeout.ms\": 45000, \"enable.idempotence\": false,"
                       " \"sasl.mechanism\": \"SCRAM-SHA-512\", \"statistics.interval.ms\": 0.5}},"
                       " " PRODUCTS "}";
    mtr_config_t *c;
    char errstr[256] = "";
    assert_int_equal(mtr_config_load_string(json, &c, NULL, errstr, sizeof errstr), MTR_OK);
    static const char *const want[][2] = {
        {"security.protocol", "SASL_SSL"}, {"session.timeout.ms", "45000"},
        {"enable.idempotence", "false"},   {"sasl.mechanism", "SCRAM-SHA-512"},
        {"statistics.interval.ms", "0.5"},
    };
    assert_int_equal(c->kafka.n_properties, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_string_equal(c->kafka.properties[i].key, want[i][0]);
        assert_string_equal(c->kafka.properties[i].value, want[i][1]);
    }
    mtr_config_free(c);
}

static void test_environment_overrides_win_over_the_file(void **state)
{
    (void)state;
    const char *json = "{\"kafka\": {\"bootstrap.servers\": \"file:9092\", \"properties\": "
                       "{\"sasl.username\": \"file-user\", \"security.protocol\": \"SASL_SSL\"}},"
                       " \"aws\": {\"region\": \"us-west-2\", \"profile\": \"file\"},"
                       " \"ledger\": {\"path\": \"/file.db\"}, " PRODUCTS "}";
    setenv("METERD_KAFKA_BOOTSTRAP_SERVERS", "env:9092", 1);
    setenv("METERD_KAFKA_SASL_USERNAME", "env-user", 1);
    setenv("METERD_KAFKA_SASL_PASSWORD", "env-pass", 1);
    setenv("METERD_AWS_REGION", "ap-southeast-2", 1);
    setenv("METERD_AWS_ENDPOINT", "https://emulator.test:8443", 1);
    setenv("METERD_AWS_PROFILE", "", 1); /* empty: as if unset */
    setenv("METERD_LEDGER_PATH", "/env.db", 1);
    mtr_config_t *c;
    char errstr[256] = "";
    assert_int_equal(mtr_config_load_string(json, &c, NULL, errstr, sizeof errstr), MTR_OK);
    assert_string_equal(c->kafka.bootstrap_servers, "env:9092");
    assert_string_equal(c->aws.region, "ap-southeast-2");
    assert_string_equal(c->aws.endpoint, "https://emulator.test:8443");
    assert_string_equal(c->aws.profile, "file");
    assert_string_equal(c->ledger.path, "/env.db");
    /* The username replaces the file's entry in place; the password is added. */
    assert_int_equal(c->kafka.n_properties, 3);
    assert_string_equal(c->kafka.properties[0].key, "sasl.username");
    assert_string_equal(c->kafka.properties[0].value, "env-user");
    assert_string_equal(c->kafka.properties[1].key, "security.protocol");
    assert_string_equal(c->kafka.properties[2].key, "sasl.password");
    assert_string_equal(c->kafka.properties[2].value, "env-pass");
    mtr_config_free(c);
    clear_env(NULL);
}

static void test_a_bad_environment_value_names_the_variable(void **state)
{
    (void)state;
    setenv("METERD_AWS_ENDPOINT", "metering.local", 1);
    setenv("METERD_AWS_REGION", "Frankfurt", 1);
    mtr_config_t *c;
    mtr_config_problems_t pr;
    assert_int_equal(mtr_config_load_string("{" PRODUCTS "}", &c, &pr, NULL, 0), MTR_ERR_CONFIG);
    assert_int_equal(pr.count, 2);
    assert_string_equal(pr.items[0].path, "aws.region (from METERD_AWS_REGION)");
    assert_string_equal(pr.items[0].message,
                        "invalid region \"Frankfurt\" (expected a region code such as us-east-1)");
    assert_string_equal(pr.items[1].path, "aws.endpoint (from METERD_AWS_ENDPOINT)");
    mtr_config_problems_free(&pr);
    clear_env(NULL);
}

static void test_durations_parse_every_documented_form(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int64_t ms;
    } good[] = {{"250ms", 250},        {"90s", 90000},      {"5m", 300000}, {"6h", 21600000},
                {"7d", 604800000},     {"1h30m", 5400000},  {"0", 0},       {"0s", 0},
                {"1m30s500ms", 90500}, {"2d12h", 216000000}};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t ms = -1;
        assert_int_equal(mtr_config_parse_duration(good[i].text, &ms), MTR_OK);
        assert_int_equal(ms, good[i].ms);
    }
    static const char *const bad[] = {"",    "5",   "5x",  "1.5h", "-1m",  "m",
                                      "5 m", " 5m", "5m ", "5M",   "1h30", "ms"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = -1;
        assert_int_not_equal(mtr_config_parse_duration(bad[i], &ms), MTR_OK);
        assert_int_equal(ms, -1);
    }
    int64_t ms;
    assert_int_equal(mtr_config_parse_duration("9999999999999999999ms", &ms), MTR_ERR_OVERFLOW);
    assert_int_equal(mtr_config_parse_duration("999999999999d", &ms), MTR_ERR_OVERFLOW);
}

static void test_missing_file_is_an_io_error_naming_the_cause(void **state)
{
    (void)state;
    mtr_config_t *c;
    mtr_config_problems_t pr;
    char errstr[256];
    assert_int_equal(mtr_config_load("/nonexistent/meterd.json", &c, &pr, errstr, sizeof errstr),
                     MTR_ERR_IO);
    assert_null(c);
    assert_int_equal(pr.count, 1);
    assert_string_equal(pr.items[0].message,
                        "cannot read the config file: No such file or directory");
    mtr_config_problems_free(&pr);
    assert_int_equal(mtr_config_load("/", &c, NULL, errstr, sizeof errstr), MTR_ERR_IO);
    assert_string_equal(errstr, "config: cannot read the config file: not a regular file");
}

static void test_example_files_in_deploy_load_cleanly(void **state)
{
    (void)state;
    const char *src = getenv("MTR_SOURCE_DIR");
    if (!src)
        skip();
    static const char *const names[] = {"meterd.json", "minimal.json"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/deploy/examples/%s", src, names[i]);
        mtr_config_t *c = NULL;
        char errstr[512] = "";
        mtr_err_t err = mtr_config_load(path, &c, NULL, errstr, sizeof errstr);
        if (err)
            print_error("%s: %s\n", path, errstr);
        assert_int_equal(err, MTR_OK);
        assert_true(c->n_products >= 1);
        mtr_config_free(c);
    }
}

/* Every prefix of a real config, and the same with one byte changed, loads or
 * fails cleanly (the sanitizer build catches any bad access or leak). */
static void test_truncated_and_corrupted_files_fail_cleanly(void **state)
{
    (void)state;
    const char *src = getenv("MTR_SOURCE_DIR");
    if (!src)
        skip();
    char path[1024];
    snprintf(path, sizeof path, "%s/deploy/examples/meterd.json", src);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char text[65536], buf[65536];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    static const char junk[] = {'"', '}', ']', ',', ':', '0', '-', 'x', '\\', 0x01};
    size_t loaded = 0;
    for (size_t cut = 0; cut <= len; cut++) {
        for (size_t j = 0; j <= sizeof junk; j++) {
            memcpy(buf, text, len);
            buf[len] = '\0';
            if (j < sizeof junk && cut < len)
                buf[cut] = junk[j];
            else
                buf[cut] = '\0';
            mtr_config_t *c = NULL;
            mtr_config_problems_t pr;
            mtr_err_t err = mtr_config_load_string(buf, &c, &pr, NULL, 0);
            assert_true(err == MTR_OK ? c != NULL && pr.count == 0 : c == NULL && pr.count > 0);
            loaded += err == MTR_OK;
            mtr_config_free(c);
            mtr_config_problems_free(&pr);
        }
    }
    /* Changes inside comments and string values still load. */
    assert_true(loaded > 0);
}

/* Runs fn with stderr captured into buf. */
static void capture_stderr(void (*fn)(void *), void *arg, char *buf, size_t size)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    fn(arg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(buf, 1, size - 1, tmp);
    buf[n] = '\0';
    fclose(tmp);
}

static void log_summary(void *config)
{
    mtr_config_log_summary(config);
}

static void test_summary_and_list_never_show_a_secret(void **state)
{
    (void)state;
    const char *json =
        "{\"kafka\": {\"properties\": {\"sasl.username\": \"billing\", \"sasl.password\": "
        "\"hunter2-pw\", \"ssl.key.password\": \"keypass-xyz\", \"sasl.oauthbearer.token\": "
        "\"tok-abc\", \"ssl.keystore.location\": \"/etc/ks\", \"client.secret\": \"sec-123\"}},"
        " \"emulator\": {\"credentials\": [{\"access_key_id\": \"AKIDSUMMARY\", "
        "\"secret_access_key\": \"emu-secret-999\"}]}, " PRODUCTS "}";
    setenv("METERD_KAFKA_SASL_PASSWORD", "env-pass-777", 1);
    mtr_config_t *c;
    char errstr[256] = "";
    assert_int_equal(mtr_config_load_string(json, &c, NULL, errstr, sizeof errstr), MTR_OK);
    mtr_log_set_level(MTR_LOG_INFO);
    char out[8192];
    capture_stderr(log_summary, c, out, sizeof out);
    static const char *const secrets[] = {"hunter2-pw", "keypass-xyz",    "tok-abc",
                                          "sec-123",    "emu-secret-999", "env-pass-777"};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        assert_null(strstr(out, secrets[i]));
    assert_non_null(strstr(out, "sasl.password=****"));
    assert_non_null(strstr(out, "sasl.username=billing"));
    assert_non_null(strstr(out, "prod-abc"));

    FILE *tmp = tmpfile();
    mtr_config_print_table(tmp);
    rewind(tmp);
    size_t n = fread(out, 1, sizeof out - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        assert_null(strstr(out, secrets[i]));
    mtr_config_free(c);
    clear_env(NULL);
}

static void test_list_prints_every_key_with_default_bounds_and_env(void **state)
{
    (void)state;
    static char out[65536];
    FILE *tmp = tmpfile();
    mtr_config_print_table(tmp);
    rewind(tmp);
    size_t n = fread(out, 1, sizeof out - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    static const char *const want[] = {
        "kafka.\"bootstrap.servers\"\n",
        "env: METERD_KAFKA_BOOTSTRAP_SERVERS",
        "kafka.properties\n",
        "env: METERD_KAFKA_SASL_PASSWORD sets \"sasl.password\"",
        "products[].dimensions[].aggregation\n",
        "enum, default: sum, range: sum|count|max|latest",
        "emulator.credentials[].secret_access_key\n",
        "(secret: never printed)",
        "window.max_record_age\n",
        "duration, default: 6h, range: 1h..24h",
        "shards\n",
        "integer, default: 2, range: 1..64",
        "emit.calls_per_second\n",
        "window.max_event_age\n",
        "default: 7d",
        "ledger.path\n",
        "env: METERD_LEDGER_PATH",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(out, want[i]))
            print_error("missing from --list: %s\n", want[i]);
        assert_non_null(strstr(out, want[i]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_each_bad_key_type_and_bound_gets_its_path_and_exact_message,
                               clear_env),
        cmocka_unit_test_setup(test_every_problem_in_a_file_is_reported_at_once, clear_env),
        cmocka_unit_test_setup(test_defaults_fill_every_key_the_file_leaves_out, clear_env),
        cmocka_unit_test_setup(test_file_values_replace_defaults_and_lookups_find_them, clear_env),
        cmocka_unit_test_setup(test_kafka_properties_pass_through_in_file_order, clear_env),
        cmocka_unit_test_setup(test_environment_overrides_win_over_the_file, clear_env),
        cmocka_unit_test_setup(test_a_bad_environment_value_names_the_variable, clear_env),
        cmocka_unit_test(test_durations_parse_every_documented_form),
        cmocka_unit_test_setup(test_missing_file_is_an_io_error_naming_the_cause, clear_env),
        cmocka_unit_test_setup(test_example_files_in_deploy_load_cleanly, clear_env),
        cmocka_unit_test_setup(test_truncated_and_corrupted_files_fail_cleanly, clear_env),
        cmocka_unit_test_setup(test_summary_and_list_never_show_a_secret, clear_env),
        cmocka_unit_test(test_list_prints_every_key_with_default_bounds_and_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
