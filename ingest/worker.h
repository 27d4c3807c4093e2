/* A shard worker: one thread that owns a disjoint set of partitions. Their
 * librdkafka partition queues are forwarded to the worker's queue, and the
 * worker consumes them in batches, decodes each event, applies the window
 * rules and folds it into the partition's hour tables, with no lock and no
 * shared write on the per-event path. Invalid events go to the dead-letter
 * producer.
 *
 * The coordinator (ingest.c) changes a worker's partitions and closes hours
 * only while the worker is parked: mtr_ingest_worker_park() returns once the
 * worker has finished its current batch and waits; everything in the worker
 * may then be read and changed by the parking thread until
 * mtr_ingest_worker_resume(). A park costs at most one batch of latency.
 *
 * Ownership: the worker owns its slots (partition state + open hour tables)
 * and its decoder. Threads: the worker thread, and the coordinator while
 * parked. */
#ifndef MTR_INGEST_WORKER_H
#define MTR_INGEST_WORKER_H

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "aggregate/shard.h"
#include "aggregate/window.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/event.h"
#include "ingest/commit_meta.h"
#include "ingest/dlq.h"
#include "ingest/scopes.h"

/* One owned partition. */
typedef struct mtr_ingest_slot {
    char *topic;
    int32_t partition;
    mtr_agg_partition_t window;  /* watermark, position, close log, open hours */
    mtr_agg_shard_t *hours;      /* the hour tables of this partition */
    mtr_commit_meta_t inherited; /* close log and writers found at assignment */
    uint64_t events;             /* counted */
    uint64_t replayed;           /* skipped: already counted before a restart */
    uint64_t rejected;           /* dead-lettered */
} mtr_ingest_slot_t;

typedef struct mtr_ingest_worker_stats {
    _Atomic uint64_t messages;
    _Atomic uint64_t counted;
    _Atomic uint64_t replayed;
    _Atomic uint64_t rejected;
    _Atomic uint64_t rejected_by_reason[MTR_EVENT_REASON__COUNT];
    _Atomic uint64_t duplicates;     /* dropped by events.dedupe */
    _Atomic uint64_t unchecked;      /* counted without a check: budget reached */
    _Atomic uint64_t budget_reached; /* (partition, hour)s that reached it */
} mtr_ingest_worker_stats_t;

typedef struct mtr_ingest_worker {
    int id;
    const mtr_config_t *config;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    mtr_event_decoder_t *decoder;
    mtr_ingest_dlq_t *dlq;
    mtr_ingest_scopes_t scopes;

    mtr_ingest_slot_t **slots;
    size_t n_slots;
    size_t cap_slots;

    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_bool park_requested;
    bool parked;
    atomic_bool stop;

    mtr_ingest_worker_stats_t stats;
} mtr_ingest_worker_t;

void mtr_ingest_worker_init(mtr_ingest_worker_t *w, int id, const mtr_config_t *config,
                            rd_kafka_t *rk, mtr_clock_t *clock, mtr_ingest_dlq_t *dlq);
mtr_err_t mtr_ingest_worker_start(mtr_ingest_worker_t *w, char *errstr, size_t errstr_size);
/* Stops and joins the thread, then frees every slot. */
void mtr_ingest_worker_destroy(mtr_ingest_worker_t *w);

void mtr_ingest_worker_park(mtr_ingest_worker_t *w);
void mtr_ingest_worker_resume(mtr_ingest_worker_t *w);
/* The same for each of n workers: all parked on return, or all resumed. */
void mtr_ingest_workers_park(mtr_ingest_worker_t *workers, int n);
void mtr_ingest_workers_resume(mtr_ingest_worker_t *workers, int n);

/* While parked: take ownership of a partition starting at start_offset with
 * the commit metadata found for it (ownership of *inherited passes to the
 * slot), forwarding its queue here. */
mtr_ingest_slot_t *mtr_ingest_worker_add(mtr_ingest_worker_t *w, const char *topic,
                                         int32_t partition, int64_t start_offset,
                                         mtr_commit_meta_t *inherited);
/* While parked: drop a partition and its open windows (the next owner
 * rebuilds them from the committed offset and close log). */
void mtr_ingest_worker_remove(mtr_ingest_worker_t *w, const char *topic, int32_t partition);
mtr_ingest_slot_t *mtr_ingest_worker_find(mtr_ingest_worker_t *w, const char *topic,
                                          int32_t partition);

#endif
