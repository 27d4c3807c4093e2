/* The embedded Kafka mock cluster and its control commands. */
#include "ingest/mock_cluster.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"

struct mtr_mock_cluster {
    rd_kafka_t *rk; /* owns the cluster's threads */
    rd_kafka_mock_cluster_t *cluster;
};

/* Kafka protocol API keys (the protocol's own numbers). */
static const struct {
    const char *name;
    int16_t key;
} api_keys[] = {
    {"Produce", 0},      {"Fetch", 1},       {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8}, {"OffsetFetch", 9}, {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},   {"LeaveGroup", 13}, {"SyncGroup", 14},
};

mtr_err_t mtr_mock_cluster_new(int brokers, mtr_mock_cluster_t **out, char *errstr,
                               size_t errstr_size)
{
    char kerr[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    /* The handle only hosts the cluster; keep its own logging quiet. */
    rd_kafka_conf_set(conf, "log_level", "3", NULL, 0);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, kerr, sizeof kerr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_KAFKA,
                           "mock cluster: cannot create its Kafka handle: %s", kerr);
    }
    rd_kafka_mock_cluster_t *cluster = rd_kafka_mock_cluster_new(rk, brokers);
    if (!cluster) {
        rd_kafka_destroy(rk);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_KAFKA,
                           "mock cluster: cannot start %d brokers on loopback", brokers);
    }
    mtr_mock_cluster_t *mc = mtr_calloc(1, sizeof *mc);
    mc->rk = rk;
    mc->cluster = cluster;
    *out = mc;
    return MTR_OK;
}

void mtr_mock_cluster_destroy(mtr_mock_cluster_t *mc)
{
    if (!mc)
        return;
    rd_kafka_mock_cluster_destroy(mc->cluster);
    rd_kafka_destroy(mc->rk);
    mtr_free(mc);
}

const char *mtr_mock_cluster_bootstraps(const mtr_mock_cluster_t *mc)
{
    return rd_kafka_mock_cluster_bootstraps(mc->cluster);
}

mtr_err_t mtr_mock_cluster_create_topic(mtr_mock_cluster_t *mc, const char *topic, int partitions,
                                        char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t err = rd_kafka_mock_topic_create(mc->cluster, topic, partitions, 1);
    if (err)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_KAFKA,
                           "mock cluster: cannot create topic \"%s\" with %d partitions: %s", topic,
                           partitions, rd_kafka_err2str(err));
    return MTR_OK;
}

mtr_err_t mtr_mock_cluster_set_broker_up(mtr_mock_cluster_t *mc, int32_t broker_id, int up,
                                         char *errstr, size_t errstr_size)
{
    rd_kafka_resp_err_t err = up ? rd_kafka_mock_broker_set_up(mc->cluster, broker_id)
                                 : rd_kafka_mock_broker_set_down(mc->cluster, broker_id);
    if (err)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_KAFKA, "mock cluster: broker %d: %s",
                           (int)broker_id, rd_kafka_err2str(err));
    return MTR_OK;
}

static int lookup_error(const char *name, rd_kafka_resp_err_t *out)
{
    const struct rd_kafka_err_desc *descs;
    size_t n;
    rd_kafka_get_err_descs(&descs, &n);
    for (size_t i = 0; i < n; i++) {
        if (descs[i].name && !strcmp(descs[i].name, name)) {
            *out = descs[i].code;
            return 1;
        }
    }
    return 0;
}

mtr_err_t mtr_mock_cluster_push_errors(mtr_mock_cluster_t *mc, const char *api, int count,
                                       const char *error_name, char *errstr, size_t errstr_size)
{
    int16_t key = -1;
    for (size_t i = 0; i < sizeof api_keys / sizeof api_keys[0]; i++)
        if (!strcmp(api_keys[i].name, api))
            key = api_keys[i].key;
    if (key < 0)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "mock cluster: unknown API \"%s\" (expected Produce, Fetch, "
                           "OffsetCommit, OffsetFetch, JoinGroup, SyncGroup, Heartbeat, ...)",
                           api);
    rd_kafka_resp_err_t err;
    if (!lookup_error(error_name, &err))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "mock cluster: unknown Kafka error \"%s\" (use librdkafka's names "
                           "without the RD_KAFKA_RESP_ERR_ prefix, e.g. NOT_COORDINATOR)",
                           error_name);
    if (count < 1 || count > 10000)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "mock cluster: error count must be 1..10000, got %d", count);
    rd_kafka_resp_err_t *errs = mtr_malloc(sizeof *errs * (size_t)count);
    for (int i = 0; i < count; i++)
        errs[i] = err;
    rd_kafka_mock_push_request_errors_array(mc->cluster, key, (size_t)count, errs);
    mtr_free(errs);
    return MTR_OK;
}

mtr_err_t mtr_mock_cluster_control(mtr_mock_cluster_t *mc, const char *line, char *errstr,
                                   size_t errstr_size)
{
    char word[32], name[256], error_name[64];
    int n, id;
    if (sscanf(line, "topic %255s %d", name, &n) == 2)
        return mtr_mock_cluster_create_topic(mc, name, n, errstr, errstr_size);
    if (sscanf(line, "broker-down %d", &id) == 1)
        return mtr_mock_cluster_set_broker_up(mc, id, 0, errstr, errstr_size);
    if (sscanf(line, "broker-up %d", &id) == 1)
        return mtr_mock_cluster_set_broker_up(mc, id, 1, errstr, errstr_size);
    if (sscanf(line, "errors %31s %d %63s", word, &n, error_name) == 3)
        return mtr_mock_cluster_push_errors(mc, word, n, error_name, errstr, errstr_size);
    return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                       "unknown control line \"%.80s\" (expected: topic NAME PARTITIONS | "
                       "broker-down ID | broker-up ID | errors API COUNT ERROR_NAME)",
                       line);
}
