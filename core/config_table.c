/* The configuration property table: every key meterd reads, declared once
 * with its type, default, bounds, environment override and description, plus
 * the validators it names and the two printed forms of the configuration:
 * `meterd config --list` (the table) and the logged summary (the values,
 * secrets redacted). */
#include "core/config_int.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/metrics.h"

#define S(x)        "\"" x "\""
#define MS_S        1000.0
#define MS_M        (60 * MS_S)
#define MS_H        (60 * MS_M)
#define MS_D        (24 * MS_H)
#define FIELD(T, m) .offset = offsetof(T, m), .size = sizeof(((T *)0)->m)
#define COUNT(T, m) .count_offset = offsetof(T, m)

/* ---- validators -------------------------------------------------------- */

static void check_product_code(mtr_conf_ctx_t *ctx, const char *path, const void *field)
{
    const char *v = *(char *const *)field;
    /* AWS's ProductCode pattern: ^[-a-zA-Z0-9/=:_.@]*$ */
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-/=:_.@", *p)) {
            mtr_conf_problem(ctx, path,
                             "invalid product code \"%s\" (use only letters, digits and "
                             "- / = : _ . @, as shown in the AWS Marketplace Management Portal)",
                             v);
            return;
        }
}

static bool is_region(const char *v)
{
    /* Region codes: two letters, an optional partition marker, a
     * geography and a number, e.g. us-east-1, us-gov-west-1, us-isob-east-1. */
    const char *p = v;
    if (!islower((unsigned char)p[0]) || !islower((unsigned char)p[1]) || p[2] != '-')
        return false;
    p += 3;
    int words = 0;
    for (;;) {
        const char *start = p;
        while (islower((unsigned char)*p))
            p++;
        if (p == start)
            break;
        words++;
        if (*p != '-')
            return false;
        p++;
    }
    if (words < 1 || words > 2 || !isdigit((unsigned char)*p))
        return false;
    while (isdigit((unsigned char)*p))
        p++;
    return *p == '\0';
}

static void check_region(mtr_conf_ctx_t *ctx, const char *path, const void *field)
{
    const char *v = *(char *const *)field;
    if (v && !is_region(v))
        mtr_conf_problem(ctx, path,
                         "invalid region \"%s\" (expected a region code such as us-east-1)", v);
}

static void check_endpoint(mtr_conf_ctx_t *ctx, const char *path, const void *field)
{
    const char *v = *(char *const *)field;
    if (!v)
        return;
    const char *host = NULL;
    if (!strncmp(v, "http://", 7))
        host = v + 7;
    else if (!strncmp(v, "https://", 8))
        host = v + 8;
    bool ok = host && *host && *host != '/' && *host != ':';
    for (const char *p = v; ok && *p; p++)
        if (isspace((unsigned char)*p) || iscntrl((unsigned char)*p))
            ok = false;
    if (!ok)
        mtr_conf_problem(ctx, path,
                         "must be an http:// or https:// URL such as "
                         "https://metering.marketplace.us-east-1.amazonaws.com, got \"%s\"",
                         v);
}

static void check_topic(mtr_conf_ctx_t *ctx, const char *path, const void *field)
{
    const char *v = *(char *const *)field;
    if (!v)
        return;
    /* Kafka's legal topic characters. */
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("._-", *p)) {
            mtr_conf_problem(ctx, path,
                             "invalid topic name \"%s\" (use only letters, digits, '.', '_' "
                             "and '-')",
                             v);
            return;
        }
}

static void check_listen(mtr_conf_ctx_t *ctx, const char *path, const void *field)
{
    const char *v = *(char *const *)field;
    char host[256], err[256];
    uint16_t port;
    if (v && mtr_metrics_parse_listen(v, host, sizeof host, &port, err, sizeof err))
        mtr_conf_problem(ctx, path, "%s", err);
}

/* Keys meterd sets on the consumer itself: a second value here would either
 * be ignored or silently break the offset protocol. */
static const struct {
    const char *key;
    const char *why;
} reserved_kafka[] = {
    {"bootstrap.servers", "set kafka.\"bootstrap.servers\" instead"},
    {"group.id", "set kafka.\"group.id\" instead"},
    {"enable.auto.commit", "meterd commits offsets itself, after each window close"},
    {"enable.auto.offset.store", "meterd stores offsets itself, after each window close"},
};

static void check_kafka_property(mtr_conf_ctx_t *ctx, const char *path, const void *field)
{
    const mtr_kv_t *kv = field;
    for (size_t r = 0; r < sizeof reserved_kafka / sizeof reserved_kafka[0]; r++)
        if (!strcmp(kv->key, reserved_kafka[r].key))
            mtr_conf_problem(ctx, path, "not allowed here (%s)", reserved_kafka[r].why);
}

/* ---- the table ------------------------------------------------------------ */

static const char *const aggregation_names[] = {"sum", "count", "max", "latest", NULL};
static const char *const rounding_names[] = {"up", "down", "nearest", NULL};

static const mtr_conf_prop_t dimension_props[] = {
    {NULL, "name", MTR_CONF_STRING, .min_len = 1, .max_len = 255, .flags = MTR_CONF_REQUIRED,
     FIELD(mtr_dimension_conf_t, name),
     .desc = "AWS dimension API name as listed for the product (1-255 characters)."},
    {NULL, "aggregation", MTR_CONF_ENUM, S("sum"), .names = aggregation_names,
     FIELD(mtr_dimension_conf_t, aggregation),
     .desc = "How an hour's events combine: sum quantities, count events, max quantity, or "
             "the latest event's quantity (gauges such as seats)."},
    {NULL, "rounding", MTR_CONF_ENUM, S("up"), .names = rounding_names,
     FIELD(mtr_dimension_conf_t, rounding),
     .desc = "How a decimal hourly total becomes AWS's integer: up, down or nearest; the "
             "remainder carries to the next hour."},
    {NULL, "event_type", MTR_CONF_STRING, .min_len = 1, .max_len = 255, .flags = MTR_CONF_NULLABLE,
     FIELD(mtr_dimension_conf_t, event_type),
     .desc = "CloudEvents `type` counted as this dimension; null: none."},
};

static const mtr_conf_table_t dimension_table = {"products[].dimensions[]", dimension_props,
                                                 sizeof dimension_props / sizeof dimension_props[0],
                                                 sizeof(mtr_dimension_conf_t)};

static const mtr_conf_prop_t product_props[] = {
    {NULL, "product_code", MTR_CONF_STRING, .min_len = 1, .max_len = 255,
     .flags = MTR_CONF_REQUIRED, .validate = check_product_code,
     FIELD(mtr_product_conf_t, product_code),
     .desc = "AWS Marketplace product code (1-255 of letters, digits, -/=:_.@)."},
    {NULL, "dimensions", MTR_CONF_OBJECT_ARRAY, .min_count = 1, .flags = MTR_CONF_REQUIRED,
     .sub = &dimension_table, .unique = "name", FIELD(mtr_product_conf_t, dimensions),
     COUNT(mtr_product_conf_t, n_dimensions),
     .desc = "The product's billed dimensions; each name once."},
};

static const mtr_conf_table_t product_table = {"products[]", product_props,
                                               sizeof product_props / sizeof product_props[0],
                                               sizeof(mtr_product_conf_t)};

static const mtr_conf_prop_t credential_props[] = {
    {NULL, "access_key_id", MTR_CONF_STRING, .min_len = 1, .max_len = 128,
     .flags = MTR_CONF_REQUIRED, FIELD(mtr_emulator_credential_t, access_key_id),
     .desc = "Access key id the emulator accepts."},
    {NULL, "secret_access_key", MTR_CONF_STRING, .min_len = 1, .max_len = 128,
     .flags = MTR_CONF_REQUIRED | MTR_CONF_SECRET,
     FIELD(mtr_emulator_credential_t, secret_access_key),
     .desc = "Its secret key, used to verify SigV4 signatures; never printed."},
};

static const mtr_conf_table_t credential_table = {
    "emulator.credentials[]", credential_props,
    sizeof credential_props / sizeof credential_props[0], sizeof(mtr_emulator_credential_t)};

static const mtr_conf_map_env_t kafka_property_env[] = {
    {"sasl.username", "METERD_KAFKA_SASL_USERNAME"},
    {"sasl.password", "METERD_KAFKA_SASL_PASSWORD"},
    {NULL, NULL},
};

#define EVENT_FIELD(key_, member, def_, what)                                                      \
    {                                                                                              \
        "events", key_, MTR_CONF_STRING, S(def_), .min_len = 1, .max_len = 255,                    \
                                                  FIELD(mtr_config_t, events.member),              \
                                                  .desc = "Event field holding " what "."          \
    }

static const mtr_conf_prop_t root_props[] = {
    {"kafka", "bootstrap.servers", MTR_CONF_STRING, S("localhost:9092"), .min_len = 1,
     .max_len = 4096, .env = "METERD_KAFKA_BOOTSTRAP_SERVERS",
     FIELD(mtr_config_t, kafka.bootstrap_servers),
     .desc = "Kafka brokers to start from, host:port[,host:port...]."},
    {"kafka", "group.id", MTR_CONF_STRING, S("meterd"), .min_len = 1, .max_len = 255,
     FIELD(mtr_config_t, kafka.group_id),
     .desc = "Consumer group; every instance billing the same topics uses the same one."},
    {"kafka", "topics", MTR_CONF_STRING_LIST, "[\"usage\"]", .min_len = 1, .max_len = 249,
     .min_count = 1, .validate = check_topic, FIELD(mtr_config_t, kafka.topics),
     COUNT(mtr_config_t, kafka.n_topics), .desc = "Topics holding usage events."},
    {"kafka", "dead_letter_topic", MTR_CONF_STRING, .min_len = 1, .max_len = 249,
     .flags = MTR_CONF_NULLABLE, .validate = check_topic,
     FIELD(mtr_config_t, kafka.dead_letter_topic),
     .desc = "Topic receiving invalid events with the reason in a header; null: invalid "
             "events are counted and dropped."},
    {"kafka", "properties", MTR_CONF_STRING_MAP, "{}", .max_len = 65536,
     .map_env = kafka_property_env, .validate = check_kafka_property,
     FIELD(mtr_config_t, kafka.properties), COUNT(mtr_config_t, kafka.n_properties),
     .desc = "librdkafka properties passed unchanged, in order (security.protocol, sasl.*, "
             "ssl.*); values of keys containing password, secret, token or key are never "
             "logged."},

    {"aws", "region", MTR_CONF_STRING, S("us-east-1"), .min_len = 1, .max_len = 64,
     .env = "METERD_AWS_REGION", .validate = check_region, FIELD(mtr_config_t, aws.region),
     .desc = "Region of the Metering Service endpoint and of the SigV4 scope."},
    {"aws", "endpoint", MTR_CONF_STRING, .min_len = 1, .max_len = 2048, .flags = MTR_CONF_NULLABLE,
     .env = "METERD_AWS_ENDPOINT", .validate = check_endpoint, FIELD(mtr_config_t, aws.endpoint),
     .desc = "Metering endpoint URL (http:// or https://); null: "
             "https://metering.marketplace.<region>.amazonaws.com."},
    {"aws", "profile", MTR_CONF_STRING, S("default"), .min_len = 1, .max_len = 255,
     .env = "METERD_AWS_PROFILE", FIELD(mtr_config_t, aws.profile),
     .desc = "Profile of the shared credentials and config files."},

    {NULL, "products", MTR_CONF_OBJECT_ARRAY, .min_count = 1, .flags = MTR_CONF_REQUIRED,
     .sub = &product_table, .unique = "product_code", FIELD(mtr_config_t, products),
     COUNT(mtr_config_t, n_products),
     .desc = "Products billed by this deployment, each with its dimensions; each product "
             "code once."},

    EVENT_FIELD("customer_field", customer_field, "customer",
                "the CustomerIdentifier (from ResolveCustomer)"),
    EVENT_FIELD("customer_account_field", customer_account_field, "customer_aws_account_id",
                "the CustomerAWSAccountId (used instead of customer_field)"),
    EVENT_FIELD("dimension_field", dimension_field, "dimension", "the dimension name"),
    EVENT_FIELD("quantity_field", quantity_field, "quantity", "the quantity (may be decimal)"),
    EVENT_FIELD("timestamp_field", timestamp_field, "timestamp",
                "the event time (RFC 3339 or epoch s/ms; missing: the Kafka timestamp)"),
    EVENT_FIELD("id_field", id_field, "id", "the event id"),
    EVENT_FIELD("tags_field", tags_field, "tags", "the usage allocation tags"),
    EVENT_FIELD("license_arn_field", license_arn_field, "license_arn", "the LicenseArn"),
    EVENT_FIELD("product_code_field", product_code_field, "product_code", "the product code"),
    {"events", "max_message_bytes", MTR_CONF_INT, "1048576", .min = 1024, .max = 67108864,
     FIELD(mtr_config_t, events.max_message_bytes),
     .desc = "Larger Kafka messages go to the dead-letter topic."},
    {"events", "dedupe", MTR_CONF_BOOL, "false", FIELD(mtr_config_t, events.dedupe),
     .desc = "Drop an event whose id (CloudEvents: id and source) was already seen for the same "
             "customer, dimension and hour in the same partition."},
    {"events", "dedupe.max_ids_per_hour", MTR_CONF_INT, "1500000", .min = 1, .max = 1e9,
     FIELD(mtr_config_t, events.dedupe_max_ids_per_hour),
     .desc = "Event ids kept per partition and hour (about 11 to 22 bytes each); past it that "
             "hour is not deduplicated."},

    {"window", "lateness", MTR_CONF_DURATION, S("5m"), .min = 0, .max = 24 * MS_H,
     FIELD(mtr_config_t, window.lateness_ms),
     .desc = "How far behind the newest event time an hour stays open for late events."},
    {"window", "max_future_skew", MTR_CONF_DURATION, S("5m"), .min = 0, .max = 24 * MS_H,
     FIELD(mtr_config_t, window.max_future_skew_ms),
     .desc = "Event times further ahead of the wall clock are rejected."},
    {"window", "max_record_age", MTR_CONF_DURATION, S("6h"), .min = MS_H, .max = 24 * MS_H,
     FIELD(mtr_config_t, window.max_record_age_ms),
     .desc = "Oldest hour AWS still accepts (6h classic, 24h newest); older unsent records "
             "fold into the next unsent hour."},
    {"window", "max_event_age", MTR_CONF_DURATION, S("7d"), .min = MS_H, .max = 90 * MS_D,
     FIELD(mtr_config_t, window.max_event_age_ms),
     .desc = "Events older than this are rejected as ancient."},

    {"ledger", "path", MTR_CONF_STRING, S("meterd-ledger.db"), .min_len = 1, .max_len = 4096,
     .env = "METERD_LEDGER_PATH", FIELD(mtr_config_t, ledger.path),
     .desc = "SQLite ledger file (created with mode 0600)."},

    {NULL, "shards", MTR_CONF_INT, "2", .min = 1, .max = 64, FIELD(mtr_config_t, shards),
     .desc = "Aggregation threads; partitions are spread over them."},

    {"emit", "calls_per_second", MTR_CONF_DOUBLE, "10", .min = 0, .max = 1000,
     FIELD(mtr_config_t, emit.calls_per_second),
     .desc = "BatchMeterUsage calls per second (AWS allows about 10 per account and region); "
             "0: unpaced."},
    {"emit", "max_in_flight", MTR_CONF_INT, "4", .min = 1, .max = 64,
     FIELD(mtr_config_t, emit.max_in_flight), .desc = "Concurrent BatchMeterUsage requests."},
    {"emit", "request_timeout", MTR_CONF_DURATION, S("10s"), .min = 100, .max = 10 * MS_M,
     FIELD(mtr_config_t, emit.request_timeout_ms),
     .desc = "Time allowed for one request; then its outcome is unknown and it is retried."},
    {"emit", "max_attempts", MTR_CONF_INT, "8", .min = 1, .max = 100,
     FIELD(mtr_config_t, emit.max_attempts),
     .desc = "Attempts per request before its records wait for the next round."},

    {"emulator", "credentials", MTR_CONF_OBJECT_ARRAY, .sub = &credential_table,
     .unique = "access_key_id", FIELD(mtr_config_t, emulator.credentials),
     COUNT(mtr_config_t, emulator.n_credentials),
     .desc = "Key pairs the emulator accepts; empty: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY "
             "from its environment."},
    {"emulator", "customers", MTR_CONF_STRING_LIST, "[]", .min_len = 1, .max_len = 255,
     FIELD(mtr_config_t, emulator.customers), COUNT(mtr_config_t, emulator.n_customers),
     .desc = "Subscribed customer identifiers; empty: every customer is subscribed."},
    {"emulator", "region", MTR_CONF_STRING, .min_len = 1, .max_len = 64, .flags = MTR_CONF_NULLABLE,
     .validate = check_region, FIELD(mtr_config_t, emulator.region),
     .desc = "Region the emulator signs for; null: aws.region."},

    {"metrics", "listen", MTR_CONF_STRING, .min_len = 1, .max_len = 300, .flags = MTR_CONF_NULLABLE,
     .validate = check_listen, FIELD(mtr_config_t, metrics.listen),
     .desc = "host:port where `meterd run` serves Prometheus metrics (GET /metrics) and its "
             "health (GET /healthz), e.g. 127.0.0.1:9464 or [::1]:9464; 0.0.0.0:PORT listens "
             "on every interface. null: no endpoint."},
};

const mtr_conf_table_t mtr_conf_root = {"", root_props, sizeof root_props / sizeof root_props[0],
                                        sizeof(mtr_config_t)};

/* ---- whole-config checks ------------------------------------------------------ */

void mtr_conf_check_whole(mtr_conf_ctx_t *ctx, const mtr_config_t *config)
{
    const char *dlq = config->kafka.dead_letter_topic;
    for (size_t i = 0; dlq && i < config->kafka.n_topics; i++)
        if (!strcmp(dlq, config->kafka.topics[i]))
            mtr_conf_problem(ctx, "kafka.dead_letter_topic",
                             "\"%s\" is also kafka.topics[%zu]; invalid events would be read "
                             "again (use a separate topic)",
                             dlq, i);
}

void mtr_conf_derive(mtr_config_t *config)
{
    if (!config->emulator.region && config->aws.region)
        config->emulator.region = mtr_strdup(config->aws.region);
}

/* ---- `meterd config --list` ---------------------------------------------------- */

static const char *type_name(const mtr_conf_prop_t *p)
{
    switch (p->type) {
    case MTR_CONF_STRING:
        return "string";
    case MTR_CONF_INT:
        return "integer";
    case MTR_CONF_DOUBLE:
        return "number";
    case MTR_CONF_BOOL:
        return "boolean";
    case MTR_CONF_DURATION:
        return "duration";
    case MTR_CONF_STRING_LIST:
        return "string list";
    case MTR_CONF_STRING_MAP:
        return "string map";
    case MTR_CONF_ENUM:
        return "enum";
    case MTR_CONF_OBJECT_ARRAY:
        return "object list";
    }
    return "?";
}

static void bounds_text(const mtr_conf_prop_t *p, char *out, size_t size)
{
    out[0] = '\0';
    if (p->type == MTR_CONF_ENUM) {
        size_t n = 0;
        for (size_t i = 0; p->names[i] && n < size; i++)
            n += (size_t)snprintf(out + n, size - n, "%s%s", i ? "|" : "", p->names[i]);
    } else if (p->type == MTR_CONF_DURATION && (p->min || p->max)) {
        char lo[32], hi[32];
        mtr_conf_format_duration((int64_t)p->min, lo, sizeof lo);
        mtr_conf_format_duration((int64_t)p->max, hi, sizeof hi);
        snprintf(out, size, "%s..%s", lo, hi);
    } else if ((p->type == MTR_CONF_INT || p->type == MTR_CONF_DOUBLE) && (p->min || p->max)) {
        snprintf(out, size, "%.15g..%.15g", p->min, p->max);
    } else if (p->type == MTR_CONF_STRING && p->max_len) {
        snprintf(out, size, "%zu..%zu chars", p->min_len, p->max_len);
    } else if ((p->type == MTR_CONF_STRING_LIST || p->type == MTR_CONF_OBJECT_ARRAY) &&
               p->min_count) {
        snprintf(out, size, "at least %zu entr%s", p->min_count, p->min_count == 1 ? "y" : "ies");
    }
}

static void default_text(const mtr_conf_prop_t *p, char *out, size_t size)
{
    if (p->flags & MTR_CONF_REQUIRED)
        snprintf(out, size, "(required)");
    else if (!p->def)
        snprintf(out, size, p->type == MTR_CONF_OBJECT_ARRAY ? "[]" : "null");
    else if (p->def[0] == '"') /* a JSON string: show it bare */
        snprintf(out, size, "%.*s", (int)(strlen(p->def) - 2), p->def + 1);
    else
        snprintf(out, size, "%s", p->def);
}

/* Prints `text` wrapped at `width` columns, each line indented. */
static void print_wrapped(FILE *out, const char *text, int indent, int width)
{
    const char *p = text;
    while (*p) {
        int room = width - indent;
        int len = (int)strlen(p);
        int cut = len;
        if (len > room) {
            cut = room;
            while (cut > 0 && p[cut] != ' ')
                cut--;
            if (cut == 0)
                cut = room;
        }
        fprintf(out, "%*s%.*s\n", indent, "", cut, p);
        p += cut;
        while (*p == ' ')
            p++;
    }
}

static void print_props(FILE *out, const mtr_conf_table_t *t)
{
    for (size_t i = 0; i < t->n_props; i++) {
        const mtr_conf_prop_t *p = &t->props[i];
        char path[256], def[128], bounds[128];
        mtr_conf_path(path, sizeof path, t->path, p->section, p->key);
        default_text(p, def, sizeof def);
        bounds_text(p, bounds, sizeof bounds);
        fprintf(out, "%s\n    %s, default: %s", path, type_name(p), def);
        if (bounds[0])
            fprintf(out, ", range: %s", bounds);
        if (p->flags & MTR_CONF_SECRET)
            fprintf(out, " (secret: never printed)");
        fputc('\n', out);
        if (p->env)
            fprintf(out, "    env: %s\n", p->env);
        for (const mtr_conf_map_env_t *me = p->map_env; me && me->env; me++)
            fprintf(out, "    env: %s sets \"%s\"\n", me->env, me->map_key);
        print_wrapped(out, p->desc, 4, 80);
        if (p->type == MTR_CONF_OBJECT_ARRAY)
            print_props(out, p->sub);
    }
}

void mtr_config_print_table(FILE *out)
{
    fprintf(out, "meterd configuration properties\n"
                 "  A JSON file; keys starting with \"//\" are comments. Durations: 250ms, 90s,\n"
                 "  5m, 6h, 7d, 1h30m. Environment overrides apply after the file.\n\n");
    print_props(out, &mtr_conf_root);
}

/* ---- summary ---------------------------------------------------------------- */

static void cat(char *buf, size_t size, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void cat(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
    if (*n >= size)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + *n, size - *n, fmt, ap);
    va_end(ap);
    if (w > 0)
        *n += (size_t)w;
}

void mtr_config_log_summary(const mtr_config_t *c)
{
    static const char *const agg[] = {"sum", "count", "max", "latest"};
    static const char *const rnd[] = {"up", "down", "nearest"};
    char line[1536];
    size_t n = 0;
    cat(line, sizeof line, &n, "kafka %s group %s topics ", c->kafka.bootstrap_servers,
        c->kafka.group_id);
    for (size_t i = 0; i < c->kafka.n_topics; i++)
        cat(line, sizeof line, &n, "%s%s", i ? "," : "", c->kafka.topics[i]);
    cat(line, sizeof line, &n, " dead-letter %s properties {",
        c->kafka.dead_letter_topic ? c->kafka.dead_letter_topic : "(none)");
    for (size_t i = 0; i < c->kafka.n_properties; i++) {
        const mtr_kv_t *kv = &c->kafka.properties[i];
        cat(line, sizeof line, &n, "%s%s=%s", i ? " " : "", kv->key,
            mtr_conf_key_is_secret(kv->key) ? "****" : kv->value);
    }
    cat(line, sizeof line, &n, "}; aws region %s endpoint %s profile %s; ledger %s", c->aws.region,
        c->aws.endpoint ? c->aws.endpoint : "(regional)", c->aws.profile, c->ledger.path);
    mtr_info("config", "%s", line);

    char lat[32], skew[32], rec[32], ev[32], to[32];
    mtr_conf_format_duration(c->window.lateness_ms, lat, sizeof lat);
    mtr_conf_format_duration(c->window.max_future_skew_ms, skew, sizeof skew);
    mtr_conf_format_duration(c->window.max_record_age_ms, rec, sizeof rec);
    mtr_conf_format_duration(c->window.max_event_age_ms, ev, sizeof ev);
    mtr_conf_format_duration(c->emit.request_timeout_ms, to, sizeof to);
    n = 0;
    cat(line, sizeof line, &n, "products");
    for (size_t i = 0; i < c->n_products; i++) {
        const mtr_product_conf_t *p = &c->products[i];
        cat(line, sizeof line, &n, "%s %s (", i ? "," : "", p->product_code);
        for (size_t d = 0; d < p->n_dimensions; d++)
            cat(line, sizeof line, &n, "%s%s %s/%s", d ? ", " : "", p->dimensions[d].name,
                agg[p->dimensions[d].aggregation], rnd[p->dimensions[d].rounding]);
        cat(line, sizeof line, &n, ")");
    }
    if (!c->n_products)
        cat(line, sizeof line, &n, " (none)");
    cat(line, sizeof line, &n,
        "; shards %d; window lateness %s skew %s record-age %s event-age %s; emit %g calls/s "
        "%d in flight timeout %s attempts %d; emulator %zu credential(s) %zu customer(s); "
        "metrics %s",
        c->shards, lat, skew, rec, ev, c->emit.calls_per_second, c->emit.max_in_flight, to,
        c->emit.max_attempts, c->emulator.n_credentials, c->emulator.n_customers,
        c->metrics.listen ? c->metrics.listen : "off");
    mtr_info("config", "%s", line);
}
