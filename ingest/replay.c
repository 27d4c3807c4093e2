/* `meterd replay --hours`: planning each partition's offsets from the
 * ledger's close history, reading them with the range reader (no group,
 * nothing to commit with; ingest/reader.h), and counting every event by the pipeline's rules into
 * per-partition hour tables, which become the recomputed contributions. */
#include "ingest/replay.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <string.h>

#include "aggregate/shard.h"
#include "aggregate/window.h"
#include "core/mem.h"
#include "ingest/commit_meta.h"
#include "ingest/reader.h"
#include "ingest/message.h"
#include "ingest/scopes.h"
#include "ledger/ledger_audit.h"

static const char *const coverage_names[] = {"complete", "gap", "unbounded", "shared",
                                             "not closed"};

const char *mtr_replay_coverage_name(mtr_replay_coverage_t c)
{
    return (unsigned)c < sizeof coverage_names / sizeof coverage_names[0] ? coverage_names[c]
                                                                          : "unknown";
}

/* One partition being replayed (the same index in mtr_replay_t.parts). */
typedef struct part_state {
    mtr_agg_closelog_t log; /* the full confirmed close log */
    mtr_agg_shard_t *hours; /* recomputed hour tables */
} part_state_t;

typedef struct replay_run {
    const mtr_config_t *config;
    const mtr_replay_request_t *req;
    mtr_replay_t *out;
    rd_kafka_t *rk;
    mtr_event_decoder_t *decoder;
    mtr_ingest_scopes_t scopes;
    part_state_t *states;
    size_t n_states;
} replay_run_t;

/* Names another ledger that closed one of the hours the replay relies on
 * (first_ms on), as the commit metadata of our own closes saw it. */
static const char *foreign_writer(const mtr_ledger_closed_hour_t *h, size_t n, const char *self,
                                  int64_t first_ms, int64_t to_ms, char *buf, size_t size)
{
    for (size_t i = 0; i < n; i++) {
        if (!h[i].close_log_tail ||
            (i && h[i - 1].close_log_tail && !strcmp(h[i].close_log_tail, h[i - 1].close_log_tail)))
            continue;
        mtr_commit_meta_t m;
        const char *found = NULL;
        if (mtr_commit_meta_parse(h[i].close_log_tail, strlen(h[i].close_log_tail), &m, NULL, 0) ==
            MTR_OK)
            for (size_t e = 0; e < m.log.n && !found; e++)
                if (m.log.items[e].hour_ms >= first_ms && m.log.items[e].hour_ms <= to_ms &&
                    strcmp(m.writers[e], "-") && strcmp(m.writers[e], self)) {
                    snprintf(buf, size, "%s", m.writers[e]);
                    found = buf;
                }
        mtr_commit_meta_free(&m);
        if (found)
            return found;
    }
    return NULL;
}

/* Decides which offsets of the partition fed the request's hours. */
static mtr_err_t plan(replay_run_t *run, mtr_ledger_t *ledger, part_state_t *s, int64_t log_start,
                      int64_t log_end, char *errstr, size_t errstr_size)
{
    mtr_replay_partition_t *p = &run->out->parts[s - run->states];
    const mtr_replay_request_t *req = run->req;
    mtr_ledger_closed_hour_t *h;
    size_t n;
    mtr_err_t err =
        mtr_ledger_closed_hours(ledger, p->topic, p->partition, &h, &n, errstr, errstr_size);
    if (err)
        return err;
    p->log_start = log_start;
    p->through_ms = INT64_MIN;
    p->coverage = MTR_REPLAY_NOT_CLOSED;
    for (size_t i = 0; i < n && !err; i++)
        err =
            mtr_agg_closelog_append(&s->log, h[i].hour_ms, h[i].close_offset, errstr, errstr_size);
    int64_t last = mtr_agg_closelog_last_hour(&s->log);
    if (err || last == MTR_AGG_NO_HOUR || last < req->from_ms) {
        mtr_ledger_closed_hours_free(h, n);
        return err;
    }
    p->through_ms = last < req->to_ms ? last : req->to_ms;
    for (size_t i = 0; i < s->log.n; i++)
        if (s->log.items[i].hour_ms >= p->through_ms) {
            p->end = s->log.items[i].offset;
            break;
        }
    /* The commit offset of the last close before the range: every event of
     * an hour still open then lies at or after it. */
    int64_t first_close = INT64_MAX, prior_hour = req->from_ms;
    bool bounded = false;
    for (size_t i = 0; i < n; i++)
        if (h[i].hour_ms >= req->from_ms && h[i].close_offset < first_close)
            first_close = h[i].close_offset;
    for (size_t i = n; i-- > 0;)
        if (h[i].hour_ms < req->from_ms && h[i].close_offset < first_close) {
            p->start = h[i].commit_offset;
            prior_hour = h[i].hour_ms;
            bounded = true;
            break;
        }
    if (!bounded)
        p->start = 0;
    p->coverage = MTR_REPLAY_COMPLETE;
    char writer[MTR_WRITER_ID_MAX + 1];
    const char *other = foreign_writer(h, n, mtr_ledger_writer_id(ledger), prior_hour,
                                       p->through_ms, writer, sizeof writer);
    if (other) {
        p->coverage = MTR_REPLAY_SHARED;
        p->shared_with = mtr_strdup(other);
    }
    if (p->end > log_end)
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_STATE,
                          "%s[%" PRId32 "] ends at offset %" PRId64 " but the ledger closed hours "
                          "at offset %" PRId64 ": the topic was deleted and created again, or "
                          "this ledger belongs to another cluster (check kafka.\"bootstrap."
                          "servers\" and ledger.path)",
                          p->topic, p->partition, log_end, p->end);
    if (p->start < log_start) {
        /* Retention deleted offsets that fed the hours. */
        p->missing = (p->end < log_start ? p->end : log_start) - p->start;
        if (p->missing > 0)
            p->coverage = bounded ? MTR_REPLAY_GAP
                          : other ? MTR_REPLAY_SHARED
                                  : MTR_REPLAY_UNBOUNDED;
        p->start = log_start;
        if (p->end < p->start)
            p->end = p->start;
    }
    mtr_ledger_closed_hours_free(h, n);
    return err;
}

/* Adds a state per selected partition of topic, and checks that every
 * requested partition exists. */
static mtr_err_t add_topic(replay_run_t *run, mtr_ledger_t *ledger, const char *topic, char *errstr,
                           size_t errstr_size)
{
    const mtr_replay_request_t *req = run->req;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(run->rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t kerr = rd_kafka_metadata(run->rk, 0, rkt, &md, req->timeout_ms);
    if (kerr) {
        rd_kafka_topic_destroy(rkt);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_IO,
                           "cannot read the metadata of topic %s: %s (is kafka.\"bootstrap."
                           "servers\" right and the cluster up?)",
                           topic, rd_kafka_err2str(kerr));
    }
    mtr_err_t err = MTR_OK;
    const struct rd_kafka_metadata_topic *t = md->topic_cnt == 1 ? &md->topics[0] : NULL;
    if (!t || t->err || t->partition_cnt == 0)
        err =
            mtr_err_set(errstr, errstr_size, MTR_ERR_NOT_FOUND, "topic %s: %s (check kafka.topics)",
                        topic, t && t->err ? rd_kafka_err2str(t->err) : "no partitions");
    for (size_t i = 0; !err && req->partitions && i < req->n_partitions; i++)
        if (req->partitions[i] < 0 || req->partitions[i] >= t->partition_cnt)
            err =
                mtr_err_set(errstr, errstr_size, MTR_ERR_NOT_FOUND,
                            "--partitions: topic %s has no partition %" PRId32 " (it has 0 to %d)",
                            topic, req->partitions[i], t->partition_cnt - 1);
    for (int i = 0; !err && i < t->partition_cnt; i++) {
        int32_t part = t->partitions[i].id;
        if (!mtr_reader_selected(req->partitions, req->n_partitions, part))
            continue;
        int64_t lo, hi;
        kerr = rd_kafka_query_watermark_offsets(run->rk, topic, part, &lo, &hi, req->timeout_ms);
        if (kerr) {
            err = mtr_err_set(errstr, errstr_size, MTR_ERR_IO,
                              "cannot read the offsets of %s[%" PRId32 "]: %s", topic, part,
                              rd_kafka_err2str(kerr));
            break;
        }
        mtr_replay_t *out = run->out;
        out->parts = mtr_realloc(out->parts, (out->n_parts + 1) * sizeof *out->parts);
        out->parts[out->n_parts] =
            (mtr_replay_partition_t){.topic = mtr_strdup(topic), .partition = part};
        out->n_parts++;
        run->states = mtr_realloc(run->states, (run->n_states + 1) * sizeof *run->states);
        part_state_t *s = &run->states[run->n_states++];
        mtr_agg_closelog_init(&s->log);
        s->hours = mtr_agg_shard_new(0, 0);
        err = plan(run, ledger, s, lo, hi, errstr, errstr_size);
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return err;
}

/* Counts one valid event by the pipeline's rules. */
static void count_event(replay_run_t *run, part_state_t *s, const mtr_event_t *ev, int64_t offset)
{
    mtr_replay_partition_t *p = &run->out->parts[s - run->states];
    int64_t hour = mtr_agg_effective_hour(&s->log, ev->time_ms, offset);
    if (hour < run->req->from_ms || hour > p->through_ms)
        return; /* an event of an hour outside the range */
    uint64_t id_hash;
    if (run->config->events.dedupe && mtr_ingest_dedupe_identity(ev, hour, &id_hash) &&
        mtr_agg_shard_check_id(s->hours, hour, id_hash,
                               run->config->events.dedupe_max_ids_per_hour) == MTR_AGG_REPEAT) {
        p->duplicates++;
        return;
    }
    /* After the dedupe: its id budget counts every customer's events. */
    if (run->req->customer && (strlen(run->req->customer) != ev->customer.len ||
                               memcmp(run->req->customer, ev->customer.ptr, ev->customer.len)))
        return;
    mtr_agg_update_t u;
    uint32_t scope =
        mtr_ingest_scopes_id(&run->scopes, ev->product, ev->license_arn.ptr, ev->license_arn.len);
    mtr_ingest_update_of(ev, scope, p->partition, &u);
    mtr_agg_shard_update_batch(s->hours, &hour, &u, 1);
    p->counted++;
}

static void on_message(void *opaque, size_t range, const rd_kafka_message_t *msg)
{
    replay_run_t *run = opaque;
    mtr_replay_partition_t *p = &run->out->parts[range];
    p->messages++;
    mtr_event_t ev;
    if (mtr_ingest_decode_message(run->decoder, msg, &ev, NULL, 0) != MTR_EVENT_OK) {
        p->invalid++;
        return;
    }
    count_event(run, &run->states[range], &ev, msg->offset);
}

static mtr_err_t read_all(replay_run_t *run, char *errstr, size_t errstr_size)
{
    mtr_replay_t *out = run->out;
    mtr_reader_range_t *ranges = mtr_calloc(out->n_parts ? out->n_parts : 1, sizeof *ranges);
    for (size_t i = 0; i < out->n_parts; i++)
        ranges[i] = (mtr_reader_range_t){out->parts[i].topic, out->parts[i].partition,
                                         out->parts[i].start, out->parts[i].end, 0};
    mtr_err_t err =
        mtr_reader_read(run->rk, ranges, out->n_parts, run->req->timeout_ms, on_message, run,
                        run->req->progress, run->req->progress_opaque, errstr, errstr_size);
    mtr_free(ranges);
    return err;
}

/* The recomputed hour tables as contributions, named as a close names them. */
static void collect(replay_run_t *run)
{
    const mtr_config_t *cfg = run->config;
    mtr_replay_t *out = run->out;
    size_t cap = 0;
    for (size_t i = 0; i < run->n_states; i++) {
        part_state_t *s = &run->states[i];
        const mtr_replay_partition_t *p = &out->parts[i];
        int64_t hours[64];
        size_t n_hours;
        while ((n_hours = mtr_agg_shard_hours(s->hours, hours, 64)) > 0) {
            for (size_t h = 0; h < n_hours; h++) {
                mtr_agg_table_t *t = mtr_agg_shard_take(s->hours, hours[h]);
                if (!t)
                    continue;
                size_t n_keys = mtr_agg_table_count(t);
                for (size_t k = 0; k < n_keys; k++) {
                    mtr_agg_key_t key;
                    mtr_agg_table_key(t, k, &key);
                    if (key.overflowed || !key.count)
                        continue; /* the pipeline bills neither */
                    mtr_ingest_scope_t scope = mtr_ingest_scopes_get(&run->scopes, key.scope);
                    const mtr_product_conf_t *prod = &cfg->products[scope.product];
                    if (out->n_recomputed == cap) {
                        cap = cap ? cap * 2 : 1024;
                        out->recomputed =
                            mtr_realloc(out->recomputed, cap * sizeof *out->recomputed);
                    }
                    out->recomputed[out->n_recomputed++] = (mtr_ledger_contribution_t){
                        .key = {scope.license_arn ? MTR_LEDGER_SCOPE_LICENSE
                                                  : MTR_LEDGER_SCOPE_PRODUCT,
                                /* a license ARN lives in the scope table, which
                                 * the run frees */
                                scope.license_arn ? mtr_strpool_copy(&out->pool, scope.license_arn,
                                                                     strlen(scope.license_arn))
                                                  : prod->product_code,
                                key.customer_is_account ? MTR_LEDGER_CUSTOMER_ACCOUNT
                                                        : MTR_LEDGER_CUSTOMER_IDENTIFIER,
                                mtr_strpool_copy(&out->pool, key.customer, key.customer_len),
                                prod->dimensions[key.dimension].name},
                        .hour_ms = hours[h],
                        .topic = p->topic,
                        .partition = p->partition,
                        .quantity_micro = key.value,
                        .rounding = prod->dimensions[key.dimension].rounding,
                        .aggregation = key.aggregation,
                        .time_ms = key.time_ms,
                    };
                }
                mtr_agg_table_free(t);
            }
        }
    }
}

mtr_err_t mtr_replay_hours(const mtr_config_t *config, mtr_ledger_t *ledger,
                           const mtr_replay_request_t *req, mtr_replay_t *out, char *errstr,
                           size_t errstr_size)
{
    *out = (mtr_replay_t){0};
    replay_run_t run = {.config = config, .req = req, .out = out};
    mtr_err_t err = mtr_reader_new(config, &run.rk, errstr, errstr_size);
    if (err)
        return err;
    run.decoder = mtr_event_decoder_new(config, mtr_clock_system());
    mtr_ingest_scopes_init(&run.scopes, config->n_products);
    for (size_t i = 0; !err && i < config->kafka.n_topics; i++)
        err = add_topic(&run, ledger, config->kafka.topics[i], errstr, errstr_size);
    if (!err)
        err = read_all(&run, errstr, errstr_size);
    if (!err)
        collect(&run);
    for (size_t i = 0; i < run.n_states; i++) {
        part_state_t *s = &run.states[i];
        mtr_agg_closelog_free(&s->log);
        mtr_agg_shard_free(s->hours);
    }
    mtr_free(run.states);
    mtr_ingest_scopes_free(&run.scopes);
    mtr_event_decoder_free(run.decoder);
    rd_kafka_destroy_flags(run.rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    if (err)
        mtr_replay_free(out);
    return err;
}

void mtr_replay_free(mtr_replay_t *r)
{
    for (size_t i = 0; i < r->n_parts; i++) {
        mtr_free(r->parts[i].topic);
        mtr_free(r->parts[i].shared_with);
    }
    mtr_free(r->parts);
    mtr_free(r->recomputed);
    mtr_strpool_free(&r->pool);
    *r = (mtr_replay_t){0};
}
