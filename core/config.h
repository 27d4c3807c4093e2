/* meterd's configuration: a JSON file, declared once as a table of
 * properties (config_table.c, `meterd config --list` prints it), loaded into the
 * plain struct below. Every module reads its settings from this struct; no
 * module calls getenv or parses numbers from the environment itself.
 *
 * Environment overrides (applied after the file, before validation):
 *   METERD_KAFKA_BOOTSTRAP_SERVERS  kafka."bootstrap.servers"
 *   METERD_KAFKA_SASL_USERNAME      kafka.properties."sasl.username"
 *   METERD_KAFKA_SASL_PASSWORD      kafka.properties."sasl.password"
 *   METERD_AWS_REGION               aws.region
 *   METERD_AWS_ENDPOINT             aws.endpoint
 *   METERD_AWS_PROFILE              aws.profile
 *   METERD_LEDGER_PATH              ledger.path
 *
 * Ownership: mtr_config_load() returns a config the caller frees with
 * mtr_config_free(); it is read-only afterwards and may be shared by all
 * threads. */
#ifndef MTR_CONFIG_H
#define MTR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

typedef enum mtr_aggregation {
    MTR_AGG_SUM,   /* add quantities (default) */
    MTR_AGG_COUNT, /* count events, ignoring quantity */
    MTR_AGG_MAX,   /* the largest quantity of the hour */
    MTR_AGG_LATEST /* the quantity of the latest event time (gauges: seats) */
} mtr_aggregation_t;

typedef enum mtr_rounding {
    MTR_ROUND_UP,     /* ceil: never under-bill (default) */
    MTR_ROUND_DOWN,   /* floor */
    MTR_ROUND_NEAREST /* half up */
} mtr_rounding_t;

typedef struct mtr_kv {
    char *key;
    char *value;
} mtr_kv_t;

typedef struct mtr_dimension_conf {
    char *name; /* AWS dimension API name */
    mtr_aggregation_t aggregation;
    mtr_rounding_t rounding;
    char *event_type; /* CloudEvents `type` mapped here, or NULL */
} mtr_dimension_conf_t;

typedef struct mtr_product_conf {
    char *product_code;
    mtr_dimension_conf_t *dimensions;
    size_t n_dimensions;
} mtr_product_conf_t;

typedef struct mtr_emulator_credential {
    char *access_key_id;
    char *secret_access_key;
} mtr_emulator_credential_t;

typedef struct mtr_config {
    struct {
        char *bootstrap_servers;
        char *group_id;
        char **topics;
        size_t n_topics;
        char *dead_letter_topic; /* NULL: invalid events are counted and dropped */
        mtr_kv_t *properties;    /* passed to librdkafka unchanged */
        size_t n_properties;
    } kafka;
    struct {
        char *region;
        char *endpoint; /* NULL: the regional AWS endpoint */
        char *profile;  /* shared credentials/config profile */
    } aws;
    mtr_product_conf_t *products;
    size_t n_products;
    struct {
        char *customer_field;
        char *customer_account_field; /* CustomerAWSAccountId field */
        char *dimension_field;
        char *quantity_field;
        char *timestamp_field;
        char *id_field;
        char *tags_field;
        char *license_arn_field;
        char *product_code_field;
        size_t max_message_bytes;       /* larger messages are rejected */
        bool dedupe;                    /* drop repeated event ids (README, Duplicate events) */
        size_t dedupe_max_ids_per_hour; /* per (partition, hour); past it: not checked */
    } events;
    struct {
        int64_t lateness_ms;
        int64_t max_future_skew_ms;
        int64_t max_record_age_ms;
        int64_t max_event_age_ms; /* older event times are rejected as ancient */
    } window;
    struct {
        char *path;
    } ledger;
    int shards;
    struct {
        double calls_per_second; /* token bucket; 0 disables pacing */
        int max_in_flight;
        int64_t request_timeout_ms;
        int max_attempts;
    } emit;
    struct {
        mtr_emulator_credential_t *credentials;
        size_t n_credentials; /* 0: accept AWS_ACCESS_KEY_ID/SECRET from env */
        char **customers;
        size_t n_customers; /* 0: every customer is subscribed */
        char *region;
    } emulator;
    struct {
        char *listen; /* "host:port" of /metrics and /healthz; NULL: off */
    } metrics;
} mtr_config_t;

/* One problem found while loading: the JSON path ("products[0].dimensions[2]
 * .aggregation") and a message that says what is wrong and how to fix it. */
typedef struct mtr_config_problem {
    char *path;
    char *message;
} mtr_config_problem_t;

typedef struct mtr_config_problems {
    mtr_config_problem_t *items;
    size_t count;
} mtr_config_problems_t;

/* Loads and validates a JSON config file, applying defaults and environment
 * overrides. On failure returns MTR_ERR_CONFIG (or MTR_ERR_IO/PARSE) with
 * every problem in *problems (caller frees with mtr_config_problems_free) and
 * *out NULL. problems may be NULL when the caller only needs errstr, which
 * receives the first problem. */
mtr_err_t mtr_config_load(const char *path, mtr_config_t **out, mtr_config_problems_t *problems,
                          char *errstr, size_t errstr_size);
/* The same from a JSON text in memory (tests, embedded defaults). */
mtr_err_t mtr_config_load_string(const char *json, mtr_config_t **out,
                                 mtr_config_problems_t *problems, char *errstr, size_t errstr_size);
/* A config holding only defaults (no products): for the demo and tests. */
mtr_config_t *mtr_config_defaults(void);
void mtr_config_free(mtr_config_t *config);
void mtr_config_problems_free(mtr_config_problems_t *problems);

/* Prints the property table (name, type, default, bounds, description). */
void mtr_config_print_table(FILE *out);
/* Logs a one-line summary of the config with secrets redacted. */
void mtr_config_log_summary(const mtr_config_t *config);

/* Lookups used on hot paths are done once at start-up by the callers; these
 * are for set-up code. */
const mtr_product_conf_t *mtr_config_product(const mtr_config_t *config, const char *code);
const mtr_dimension_conf_t *mtr_config_dimension(const mtr_product_conf_t *product,
                                                 const char *name);

/* "5m", "90s", "6h", "250ms", "1h30m" -> milliseconds. */
mtr_err_t mtr_config_parse_duration(const char *text, int64_t *out_ms);

#endif
