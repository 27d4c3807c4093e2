/* librdkafka configuration for the consumer and the dead-letter producer. */
#include "ingest/kafka_conf.h"

#include <stdbool.h>
#include <string.h>

#include "core/log.h"

typedef struct setting {
    const char *name;
    const char *value;
} setting_t;

/* Settings the exactly-once protocol relies on: offsets are committed only
 * by meterd after a durable close, never automatically. */
static const setting_t consumer_forced[] = {
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
};

/* Defaults that properties may override. */
static const setting_t consumer_defaults[] = {
    {"partition.assignment.strategy", "cooperative-sticky"},
    {"auto.offset.reset", "earliest"},
    {"enable.partition.eof", "false"},
    {"client.id", "meterd"},
    {"log_level", "5"},
};

static const setting_t producer_forced[] = {
    {"enable.idempotence", "true"},
    {"acks", "all"},
};

static const setting_t producer_defaults[] = {
    {"client.id", "meterd-dlq"},
    {"linger.ms", "50"},
    {"log_level", "5"},
};

/* kafka.properties apply to both clients; these only mean something to a
 * consumer, and librdkafka warns when a producer is given them. */
static const char *const consumer_only_prefixes[] = {"group.",
                                                     "fetch.",
                                                     "session.timeout.ms",
                                                     "heartbeat.interval.ms",
                                                     "max.poll.interval.ms",
                                                     "auto.offset.reset",
                                                     "partition.assignment.strategy",
                                                     "isolation.level",
                                                     "enable.partition.eof",
                                                     "enable.auto.",
                                                     "auto.commit.",
                                                     "queued.",
                                                     "check.crcs",
                                                     "coordinator.query.interval.ms",
                                                     "consume.callback.max.messages",
                                                     "offset.store."};

static bool consumer_only(const char *name)
{
    for (size_t i = 0; i < sizeof consumer_only_prefixes / sizeof consumer_only_prefixes[0]; i++)
        if (!strncmp(name, consumer_only_prefixes[i], strlen(consumer_only_prefixes[i])))
            return true;
    return false;
}

static mtr_err_t set(rd_kafka_conf_t *conf, const char *origin, const char *name, const char *value,
                     char *errstr, size_t errstr_size)
{
    char kerr[512];
    if (rd_kafka_conf_set(conf, name, value, kerr, sizeof kerr) != RD_KAFKA_CONF_OK)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG, "%s\"%s\": %s", origin, name, kerr);
    return MTR_OK;
}

/* Who the configuration is for: which of kafka.properties apply. */
typedef enum role {
    ROLE_GROUP_MEMBER, /* every property */
    ROLE_READER,       /* consumer properties, but none of the group's */
    ROLE_PRODUCER      /* no consumer property */
} role_t;

static bool applies(role_t role, const char *name)
{
    switch (role) {
    case ROLE_GROUP_MEMBER:
        return true;
    case ROLE_READER:
        return strncmp(name, "group.", 6) != 0;
    case ROLE_PRODUCER:
    default:
        return !consumer_only(name);
    }
}

static mtr_err_t build(const mtr_config_t *config, const setting_t *defaults, size_t n_defaults,
                       const setting_t *forced, size_t n_forced, role_t role, rd_kafka_conf_t **out,
                       char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    mtr_err_t err = MTR_OK;
    for (size_t i = 0; i < n_defaults && !err; i++)
        err = set(conf, "", defaults[i].name, defaults[i].value, errstr, errstr_size);
    if (!err)
        err = set(conf, "kafka.", "bootstrap.servers", config->kafka.bootstrap_servers, errstr,
                  errstr_size);
    if (!err && role == ROLE_GROUP_MEMBER)
        err = set(conf, "kafka.", "group.id", config->kafka.group_id, errstr, errstr_size);
    for (size_t i = 0; i < config->kafka.n_properties && !err; i++) {
        const mtr_kv_t *kv = &config->kafka.properties[i];
        if (!applies(role, kv->key))
            continue;
        for (size_t f = 0; f < n_forced; f++)
            if (!strcmp(kv->key, forced[f].name) && strcmp(kv->value, forced[f].value)) {
                err = mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                                  "kafka.properties.\"%s\": meterd needs \"%s\" here (its "
                                  "exactly-once protocol depends on it); remove the property",
                                  kv->key, forced[f].value);
                break;
            }
        if (!err)
            err = set(conf, "kafka.properties.", kv->key, kv->value, errstr, errstr_size);
    }
    for (size_t i = 0; i < n_forced && !err; i++)
        err = set(conf, "", forced[i].name, forced[i].value, errstr, errstr_size);
    if (err) {
        rd_kafka_conf_destroy(conf);
        return err;
    }
    *out = conf;
    return MTR_OK;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

mtr_err_t mtr_ingest_consumer_conf(const mtr_config_t *config, rd_kafka_conf_t **out, char *errstr,
                                   size_t errstr_size)
{
    return build(config, consumer_defaults, N(consumer_defaults), consumer_forced,
                 N(consumer_forced), ROLE_GROUP_MEMBER, out, errstr, errstr_size);
}

mtr_err_t mtr_ingest_reader_conf(const mtr_config_t *config, rd_kafka_conf_t **out, char *errstr,
                                 size_t errstr_size)
{
    return build(config, consumer_defaults, N(consumer_defaults), consumer_forced,
                 N(consumer_forced), ROLE_READER, out, errstr, errstr_size);
}

mtr_err_t mtr_ingest_producer_conf(const mtr_config_t *config, rd_kafka_conf_t **out, char *errstr,
                                   size_t errstr_size)
{
    return build(config, producer_defaults, N(producer_defaults), producer_forced,
                 N(producer_forced), ROLE_PRODUCER, out, errstr, errstr_size);
}

void mtr_ingest_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    mtr_log_level_t l = level <= 3   ? MTR_LOG_ERROR
                        : level <= 4 ? MTR_LOG_WARN
                        : level <= 6 ? MTR_LOG_INFO
                                     : MTR_LOG_DEBUG;
    mtr_log(l, "kafka", "%s: %s", fac, buf);
}
