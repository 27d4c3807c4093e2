/* Internals shared by ingest.c (lifecycle, main loop), rebalance.c
 * (assignment, reconciliation) and close.c (closing hours). */
#ifndef MTR_INGEST_INT_H
#define MTR_INGEST_INT_H

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>

#include "ingest/dlq.h"
#include "ingest/ingest.h"
#include "ingest/worker.h"

struct mtr_ingest {
    const mtr_config_t *config;
    mtr_clock_t *clock;
    mtr_ingest_options_t opts;
    rd_kafka_t *rk;
    mtr_ledger_t *ledger;
    mtr_ingest_dlq_t *dlq;
    mtr_ingest_worker_t *workers;
    int n_workers;
    atomic_bool stop;
    bool fatal; /* a ledger failure: stop and exit non-zero */
    char fatal_msg[512];

    int64_t *pending_closes; /* written to the ledger, Kafka commit unknown */
    size_t n_pending;
    size_t cap_pending;

    /* Written by the ingest thread, read by mtr_ingest_get_stats from any. */
    _Atomic uint64_t closes;
    _Atomic uint64_t records_written;
    _Atomic uint64_t commit_failures;
    _Atomic uint64_t customers_split;
    _Atomic int partitions;
};

/* librdkafka's rebalance callback (rebalance.c). */
void mtr_ingest_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *partitions, void *opaque);

/* Closes every due hour (close.c). */
void mtr_ingest_close_due(mtr_ingest_t *ing);

#endif
