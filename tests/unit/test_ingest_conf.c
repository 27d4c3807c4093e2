/* librdkafka configuration built from meterd's config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "ingest/kafka_conf.h"

static mtr_kv_t props[4];

static mtr_config_t base_config(size_t n_props)
{
    mtr_config_t c;
    memset(&c, 0, sizeof c);
    c.kafka.bootstrap_servers = "127.0.0.1:9092";
    c.kafka.group_id = "billing";
    c.kafka.properties = props;
    c.kafka.n_properties = n_props;
    return c;
}

static void assert_conf_value(rd_kafka_conf_t *conf, const char *name, const char *want)
{
    char value[512];
    size_t size = sizeof value;
    assert_int_equal(rd_kafka_conf_get(conf, name, value, &size), RD_KAFKA_CONF_OK);
    assert_string_equal(value, want);
}

static void test_properties_pass_through_to_librdkafka_unchanged(void **state)
{
    (void)state;
    props[0] = (mtr_kv_t){"security.protocol", "SASL_SSL"};
    props[1] = (mtr_kv_t){"sasl.mechanism", "SCRAM-SHA-512"};
    props[2] = (mtr_kv_t){"partition.assignment.strategy", "range"};
    mtr_config_t c = base_config(3);
    rd_kafka_conf_t *conf;
    char err[512];
    assert_int_equal(mtr_ingest_consumer_conf(&c, &conf, err, sizeof err), MTR_OK);
    /* librdkafka reports enum values in its own lower-case spelling. */
    assert_conf_value(conf, "security.protocol", "sasl_ssl");
    assert_conf_value(conf, "sasl.mechanism", "SCRAM-SHA-512");
    assert_conf_value(conf, "partition.assignment.strategy", "range");
    assert_conf_value(conf, "group.id", "billing");
    assert_conf_value(conf, "bootstrap.servers", "127.0.0.1:9092");
    assert_conf_value(conf, "enable.auto.commit", "false");
    rd_kafka_conf_destroy(conf);
}

static void test_consumer_defaults_to_cooperative_sticky_without_auto_commit(void **state)
{
    (void)state;
    mtr_config_t c = base_config(0);
    rd_kafka_conf_t *conf;
    assert_int_equal(mtr_ingest_consumer_conf(&c, &conf, NULL, 0), MTR_OK);
    assert_conf_value(conf, "partition.assignment.strategy", "cooperative-sticky");
    assert_conf_value(conf, "enable.auto.commit", "false");
    assert_conf_value(conf, "enable.auto.offset.store", "false");
    rd_kafka_conf_destroy(conf);
}

static void test_unknown_property_names_the_key(void **state)
{
    (void)state;
    props[0] = (mtr_kv_t){"securty.protocol", "SSL"};
    mtr_config_t c = base_config(1);
    rd_kafka_conf_t *conf = NULL;
    char err[512];
    assert_int_equal(mtr_ingest_consumer_conf(&c, &conf, err, sizeof err), MTR_ERR_CONFIG);
    assert_null(conf);
    assert_non_null(strstr(err, "kafka.properties.\"securty.protocol\""));
}

static void test_property_that_would_enable_auto_commit_is_refused(void **state)
{
    (void)state;
    props[0] = (mtr_kv_t){"enable.auto.commit", "true"};
    mtr_config_t c = base_config(1);
    rd_kafka_conf_t *conf = NULL;
    char err[512];
    assert_int_equal(mtr_ingest_consumer_conf(&c, &conf, err, sizeof err), MTR_ERR_CONFIG);
    assert_non_null(strstr(err, "enable.auto.commit"));
    assert_non_null(strstr(err, "remove the property"));
}

static void test_dead_letter_producer_is_idempotent(void **state)
{
    (void)state;
    props[0] = (mtr_kv_t){"security.protocol", "SSL"};
    mtr_config_t c = base_config(1);
    rd_kafka_conf_t *conf;
    assert_int_equal(mtr_ingest_producer_conf(&c, &conf, NULL, 0), MTR_OK);
    assert_conf_value(conf, "enable.idempotence", "true");
    assert_conf_value(conf, "security.protocol", "ssl");
    rd_kafka_conf_destroy(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_properties_pass_through_to_librdkafka_unchanged),
        cmocka_unit_test(test_consumer_defaults_to_cooperative_sticky_without_auto_commit),
        cmocka_unit_test(test_unknown_property_names_the_key),
        cmocka_unit_test(test_property_that_would_enable_auto_commit_is_refused),
        cmocka_unit_test(test_dead_letter_producer_is_idempotent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
