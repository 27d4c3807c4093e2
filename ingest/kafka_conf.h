/* Builds librdkafka configurations from meterd's config: the consumer (group
 * member) and the dead-letter producer. Every kafka.properties entry is
 * passed through unchanged, after meterd's own settings, so SASL/SSL for MSK
 * and Confluent Cloud need no code; the few settings the exactly-once
 * protocol depends on are then forced back, and a property that tries to
 * change one of them is reported as a config error. */
#ifndef MTR_INGEST_KAFKA_CONF_H
#define MTR_INGEST_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>

#include "core/config.h"
#include "core/err.h"

/* A new rd_kafka_conf_t for the consumer group (caller owns it, usually by
 * handing it to rd_kafka_new). */
mtr_err_t mtr_ingest_consumer_conf(const mtr_config_t *config, rd_kafka_conf_t **out, char *errstr,
                                   size_t errstr_size);

/* A consumer that is no group member (`meterd replay`): it assigns
 * partitions itself and cannot commit, having no group.id. kafka.properties
 * apply except group.* ones. */
mtr_err_t mtr_ingest_reader_conf(const mtr_config_t *config, rd_kafka_conf_t **out, char *errstr,
                                 size_t errstr_size);

/* The same for the dead-letter producer (idempotent, acks=all). */
mtr_err_t mtr_ingest_producer_conf(const mtr_config_t *config, rd_kafka_conf_t **out, char *errstr,
                                   size_t errstr_size);

/* librdkafka's log lines, routed into meterd's log with matching levels
 * (for rd_kafka_conf_set_log_cb). */
void mtr_ingest_kafka_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf);

#endif
