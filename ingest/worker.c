/* The shard worker's consume loop and its parking protocol. */
#include "ingest/worker.h"

#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/tagset.h"
#include "ingest/message.h"

#define CONSUME_BATCH   512
#define CONSUME_WAIT_MS 100
#define UPDATE_BATCH    256
#define SCRATCH_BYTES   (256 * 1024)

/* Updates waiting to be applied to one slot's tables. Customer and tag bytes
 * are copied into scratch because the decoder reuses its memory per event. */
typedef struct pending {
    mtr_ingest_slot_t *slot;
    mtr_agg_update_t updates[UPDATE_BATCH];
    int64_t hours[UPDATE_BATCH];
    size_t n;
    char scratch[SCRATCH_BYTES];
    size_t used;
    /* Counted here and published once per consume batch, so the per-event
     * path does no atomic read-modify-write. */
    uint64_t messages, counted, replayed, duplicates, unchecked, budget_reached;
} pending_t;

static mtr_log_limiter_t kafka_error_limiter = MTR_LOG_LIMITER_INIT(10, 10000);

static void flush(pending_t *p)
{
    if (p->n)
        mtr_agg_shard_update_batch(p->slot->hours, p->hours, p->updates, p->n);
    p->n = 0;
    p->used = 0;
}

static const char *keep(pending_t *p, const char *bytes, size_t len)
{
    char *dst = p->scratch + p->used;
    memcpy(dst, bytes, len);
    p->used += len;
    return dst;
}

static void add_update(mtr_ingest_worker_t *w, pending_t *p, mtr_ingest_slot_t *slot,
                       const mtr_event_t *ev, int64_t hour_ms)
{
    if (p->slot != slot || p->n == UPDATE_BATCH ||
        p->used + MTR_EVENT_MAX_CUSTOMER_BYTES + MTR_TAGSET_MAX_BYTES > SCRATCH_BYTES) {
        flush(p);
        p->slot = slot;
    }
    mtr_agg_update_t *u = &p->updates[p->n];
    p->hours[p->n] = hour_ms;
    p->n++;
    mtr_ingest_update_of(
        ev, mtr_ingest_scopes_id(&w->scopes, ev->product, ev->license_arn.ptr, ev->license_arn.len),
        slot->partition, u);
    u->customer = keep(p, ev->customer.ptr, ev->customer.len);
    if (ev->n_tags == 0)
        return;
    mtr_tag_view_t tags[MTR_EVENT_MAX_TAGS];
    for (size_t i = 0; i < ev->n_tags; i++)
        tags[i] = (mtr_tag_view_t){ev->tags[i].key.ptr, ev->tags[i].key.len, ev->tags[i].value.ptr,
                                   ev->tags[i].value.len};
    size_t len = mtr_tagset_build(tags, ev->n_tags, p->scratch + p->used);
    u->tagset = p->scratch + p->used;
    u->tagset_len = (uint16_t)len;
    p->used += len;
}

static mtr_ingest_slot_t *lookup(mtr_ingest_worker_t *w, const rd_kafka_message_t *msg)
{
    const char *topic = rd_kafka_topic_name(msg->rkt);
    return mtr_ingest_worker_find(w, topic, msg->partition);
}

static void reject(mtr_ingest_worker_t *w, mtr_ingest_slot_t *slot, const rd_kafka_message_t *msg,
                   mtr_event_reason_t reason, const char *why)
{
    slot->rejected++;
    w->stats.rejected++;
    w->stats.rejected_by_reason[reason]++;
    mtr_ingest_dlq_send(w->dlq, msg, mtr_event_reason_name(reason), why);
    mtr_agg_partition_skip_message(&slot->window, msg->offset);
}

/* events.dedupe: true for a copy of an event this (partition, hour) has
 * already counted (which events are checked: ingest/message.h). */
static bool is_repeat(mtr_ingest_worker_t *w, pending_t *p, mtr_ingest_slot_t *slot,
                      const mtr_event_t *ev, int64_t hour_ms)
{
    uint64_t h;
    if (!mtr_ingest_dedupe_identity(ev, hour_ms, &h))
        return false;
    size_t budget = w->config->events.dedupe_max_ids_per_hour;
    switch (mtr_agg_shard_check_id(slot->hours, hour_ms, h, budget)) {
    case MTR_AGG_REPEAT:
        p->duplicates++;
        return true;
    case MTR_AGG_UNCHECKED:
        p->unchecked++;
        return false;
    case MTR_AGG_BUDGET: {
        p->budget_reached++;
        p->unchecked++;
        time_t start = (time_t)(hour_ms / 1000);
        struct tm tm;
        char hour[32];
        strftime(hour, sizeof hour, "%Y-%m-%dT%H:00Z", gmtime_r(&start, &tm));
        mtr_warn("ingest",
                 "%s[%" PRId32 "] hour %s: events.\"dedupe.max_ids_per_hour\" (%zu) reached; "
                 "the rest of this hour is counted without a duplicate check (raise the "
                 "budget, about 11 bytes an id, or spread the events over more partitions)",
                 slot->topic, slot->partition, hour, budget);
        return false;
    }
    case MTR_AGG_FIRST:
    default:
        return false;
    }
}

static void handle_message(mtr_ingest_worker_t *w, pending_t *p, mtr_ingest_slot_t **cached,
                           rd_kafka_message_t *msg)
{
    if (msg->err) {
        if (msg->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
            mtr_log_limited(&kafka_error_limiter, MTR_LOG_WARN, "ingest",
                            "consume error on %s[%" PRId32 "]: %s",
                            msg->rkt ? rd_kafka_topic_name(msg->rkt) : "-", msg->partition,
                            rd_kafka_message_errstr(msg));
        return;
    }
    mtr_ingest_slot_t *slot = *cached;
    if (!slot || slot->partition != msg->partition ||
        strcmp(slot->topic, rd_kafka_topic_name(msg->rkt)) != 0)
        slot = *cached = lookup(w, msg);
    /* A message of a partition no longer owned, or one already consumed
     * before a re-assignment: the window state knows nothing of it. */
    if (!slot || msg->offset < slot->window.position)
        return;
    p->messages++;

    mtr_event_t ev;
    char why[512];
    mtr_event_reason_t reason = mtr_ingest_decode_message(w->decoder, msg, &ev, why, sizeof why);
    if (reason != MTR_EVENT_OK) {
        reject(w, slot, msg, reason, why);
        return;
    }
    int64_t hour_ms;
    if (mtr_agg_partition_observe(&slot->window, ev.time_ms, msg->offset, &hour_ms) ==
        MTR_AGG_SKIP) {
        slot->replayed++;
        p->replayed++;
        return;
    }
    if (w->config->events.dedupe && is_repeat(w, p, slot, &ev, hour_ms))
        return;
    slot->events++;
    p->counted++;
    add_update(w, p, slot, &ev, hour_ms);
}

static void publish_counts(mtr_ingest_worker_t *w, pending_t *p)
{
    atomic_fetch_add_explicit(&w->stats.messages, p->messages, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->stats.counted, p->counted, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->stats.replayed, p->replayed, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->stats.duplicates, p->duplicates, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->stats.unchecked, p->unchecked, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->stats.budget_reached, p->budget_reached, memory_order_relaxed);
    p->messages = p->counted = p->replayed = 0;
    p->duplicates = p->unchecked = p->budget_reached = 0;
}

static void park_here(mtr_ingest_worker_t *w)
{
    pthread_mutex_lock(&w->mu);
    w->parked = true;
    pthread_cond_broadcast(&w->cv);
    while (atomic_load(&w->park_requested))
        pthread_cond_wait(&w->cv, &w->mu);
    w->parked = false;
    pthread_mutex_unlock(&w->mu);
}

static void *worker_main(void *arg)
{
    mtr_ingest_worker_t *w = arg;
    rd_kafka_message_t *msgs[CONSUME_BATCH];
    pending_t *p = mtr_calloc(1, sizeof *p);
    while (!atomic_load(&w->stop)) {
        if (atomic_load(&w->park_requested)) {
            park_here(w);
            continue;
        }
        ssize_t n = rd_kafka_consume_batch_queue(w->queue, CONSUME_WAIT_MS, msgs, CONSUME_BATCH);
        mtr_ingest_slot_t *cached = NULL;
        for (ssize_t i = 0; i < n; i++) {
            handle_message(w, p, &cached, msgs[i]);
            rd_kafka_message_destroy(msgs[i]);
        }
        flush(p);
        p->slot = NULL;
        publish_counts(w, p);
    }
    mtr_free(p);
    return NULL;
}

void mtr_ingest_worker_init(mtr_ingest_worker_t *w, int id, const mtr_config_t *config,
                            rd_kafka_t *rk, mtr_clock_t *clock, mtr_ingest_dlq_t *dlq)
{
    memset(w, 0, sizeof *w);
    w->id = id;
    w->config = config;
    w->rk = rk;
    w->queue = rd_kafka_queue_new(rk);
    w->decoder = mtr_event_decoder_new(config, clock);
    w->dlq = dlq;
    mtr_ingest_scopes_init(&w->scopes, config->n_products);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

mtr_err_t mtr_ingest_worker_start(mtr_ingest_worker_t *w, char *errstr, size_t errstr_size)
{
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_STATE,
                           "cannot start shard worker %d thread", w->id);
    return MTR_OK;
}

static void slot_free(mtr_ingest_slot_t *slot)
{
    mtr_agg_partition_free(&slot->window);
    mtr_agg_shard_free(slot->hours);
    mtr_commit_meta_free(&slot->inherited);
    mtr_free(slot->topic);
    mtr_free(slot);
}

void mtr_ingest_worker_destroy(mtr_ingest_worker_t *w)
{
    atomic_store(&w->stop, true);
    rd_kafka_queue_yield(w->queue);
    pthread_join(w->thread, NULL);
    for (size_t i = 0; i < w->n_slots; i++)
        slot_free(w->slots[i]);
    mtr_free(w->slots);
    mtr_ingest_scopes_free(&w->scopes);
    mtr_event_decoder_free(w->decoder);
    rd_kafka_queue_destroy(w->queue);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

void mtr_ingest_worker_park(mtr_ingest_worker_t *w)
{
    atomic_store(&w->park_requested, true);
    rd_kafka_queue_yield(w->queue);
    pthread_mutex_lock(&w->mu);
    while (!w->parked)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

void mtr_ingest_worker_resume(mtr_ingest_worker_t *w)
{
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->park_requested, false);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void mtr_ingest_workers_park(mtr_ingest_worker_t *workers, int n)
{
    for (int i = 0; i < n; i++)
        mtr_ingest_worker_park(&workers[i]);
}

void mtr_ingest_workers_resume(mtr_ingest_worker_t *workers, int n)
{
    for (int i = 0; i < n; i++)
        mtr_ingest_worker_resume(&workers[i]);
}

mtr_ingest_slot_t *mtr_ingest_worker_find(mtr_ingest_worker_t *w, const char *topic,
                                          int32_t partition)
{
    for (size_t i = 0; i < w->n_slots; i++)
        if (w->slots[i]->partition == partition && !strcmp(w->slots[i]->topic, topic))
            return w->slots[i];
    return NULL;
}

mtr_ingest_slot_t *mtr_ingest_worker_add(mtr_ingest_worker_t *w, const char *topic,
                                         int32_t partition, int64_t start_offset,
                                         mtr_commit_meta_t *inherited)
{
    mtr_ingest_slot_t *slot = mtr_calloc(1, sizeof *slot);
    slot->topic = mtr_strdup(topic);
    slot->partition = partition;
    mtr_agg_partition_init(&slot->window, partition, start_offset, &inherited->log);
    slot->inherited = *inherited;
    memset(inherited, 0, sizeof *inherited);
    slot->hours = mtr_agg_shard_new(w->id, 0);
    if (w->n_slots == w->cap_slots) {
        w->cap_slots = w->cap_slots ? w->cap_slots * 2 : 8;
        w->slots = mtr_realloc(w->slots, w->cap_slots * sizeof *w->slots);
    }
    w->slots[w->n_slots++] = slot;
    rd_kafka_queue_t *pq = rd_kafka_queue_get_partition(w->rk, topic, partition);
    if (pq) {
        rd_kafka_queue_forward(pq, w->queue);
        rd_kafka_queue_destroy(pq);
    }
    return slot;
}

void mtr_ingest_worker_remove(mtr_ingest_worker_t *w, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < w->n_slots; i++) {
        if (w->slots[i]->partition != partition || strcmp(w->slots[i]->topic, topic))
            continue;
        rd_kafka_queue_t *pq = rd_kafka_queue_get_partition(w->rk, topic, partition);
        if (pq) {
            rd_kafka_queue_forward(pq, NULL);
            rd_kafka_queue_destroy(pq);
        }
        slot_free(w->slots[i]);
        w->slots[i] = w->slots[--w->n_slots];
        return;
    }
}
