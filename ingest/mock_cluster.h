/* An embedded Kafka cluster for the demo, the sandbox and tests: librdkafka's
 * mock cluster, which speaks the real Kafka protocol on loopback (producers,
 * consumer groups, offset commits with metadata; no transactions). It lives
 * as long as the mtr_mock_cluster_t; run it in its own process when a test
 * must kill meterd while the cluster keeps its data.
 *
 * Not thread-safe: one thread creates, controls and destroys it. */
#ifndef MTR_INGEST_MOCK_CLUSTER_H
#define MTR_INGEST_MOCK_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct mtr_mock_cluster mtr_mock_cluster_t;

mtr_err_t mtr_mock_cluster_new(int brokers, mtr_mock_cluster_t **out, char *errstr,
                               size_t errstr_size);
void mtr_mock_cluster_destroy(mtr_mock_cluster_t *mc);

/* "127.0.0.1:port,..." for bootstrap.servers; owned by the cluster. */
const char *mtr_mock_cluster_bootstraps(const mtr_mock_cluster_t *mc);

mtr_err_t mtr_mock_cluster_create_topic(mtr_mock_cluster_t *mc, const char *topic, int partitions,
                                        char *errstr, size_t errstr_size);

mtr_err_t mtr_mock_cluster_set_broker_up(mtr_mock_cluster_t *mc, int32_t broker_id, int up,
                                         char *errstr, size_t errstr_size);

/* The next `count` requests of the named API ("OffsetCommit", "Fetch",
 * "Produce", "JoinGroup", "Heartbeat", "SyncGroup", "OffsetFetch") fail with
 * the named Kafka error ("NOT_COORDINATOR", "REQUEST_TIMED_OUT", ...). */
mtr_err_t mtr_mock_cluster_push_errors(mtr_mock_cluster_t *mc, const char *api, int count,
                                       const char *error_name, char *errstr, size_t errstr_size);

/* Executes one control line, as read by `meterd mock-kafka` on stdin:
 *   topic NAME PARTITIONS | broker-down ID | broker-up ID |
 *   errors API COUNT ERROR_NAME
 * Returns MTR_ERR_PARSE with a usage hint for anything else. */
mtr_err_t mtr_mock_cluster_control(mtr_mock_cluster_t *mc, const char *line, char *errstr,
                                   size_t errstr_size);

#endif
