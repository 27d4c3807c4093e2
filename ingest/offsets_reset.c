/* Planning and committing an offset reset: the group's view from
 * mtr_offsets_describe, the committed metadata, the targets, a read of what
 * a forward move skips, and a commit from a client that never joins the
 * group (a simple commit, as kafka-consumer-groups makes). */
#include "ingest/offsets_reset.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <string.h>

#include "aggregate/window.h"
#include "core/mem.h"
#include "ingest/commit_meta.h"
#include "ingest/kafka_conf.h"
#include "ingest/message.h"
#include "ingest/offsets.h"

static int64_t clamp(int64_t v, int64_t lo, int64_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static mtr_err_t group_client(const mtr_config_t *config, rd_kafka_t **out, char *errstr,
                              size_t errstr_size)
{
    rd_kafka_conf_t *conf;
    mtr_err_t err = mtr_ingest_consumer_conf(config, &conf, errstr, errstr_size);
    if (err)
        return err;
    rd_kafka_conf_set_log_cb(conf, mtr_ingest_kafka_log);
    char kerr[512];
    *out = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof kerr);
    if (!*out) {
        rd_kafka_conf_destroy(conf);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_IO, "cannot create a Kafka client: %s",
                           kerr);
    }
    return MTR_OK;
}

static rd_kafka_topic_partition_list_t *list_of(const mtr_reset_plan_t *plan)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)plan->n_parts);
    for (size_t i = 0; i < plan->n_parts; i++)
        rd_kafka_topic_partition_list_add(l, plan->parts[i].topic, plan->parts[i].partition);
    return l;
}

/* The committed metadata of every partition, and the close log to keep:
 * Kafka's when it is meterd's, else the ledger's checkpoint. */
static mtr_err_t read_metadata(rd_kafka_t *rk, mtr_ledger_t *ledger, mtr_reset_plan_t *plan,
                               int timeout_ms, char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = list_of(plan);
    rd_kafka_resp_err_t kerr = rd_kafka_committed(rk, l, timeout_ms);
    mtr_err_t err = MTR_OK;
    if (kerr)
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_IO,
                          "cannot read the committed offsets of group %s: %s", plan->group,
                          rd_kafka_err2str(kerr));
    for (int i = 0; !err && i < l->cnt; i++) {
        mtr_reset_partition_t *p = &plan->parts[i];
        const rd_kafka_topic_partition_t *e = &l->elems[i];
        mtr_commit_meta_t m;
        bool committed = e->offset >= 0 && e->metadata_size > 0;
        bool ours =
            mtr_commit_meta_parse(committed ? e->metadata : NULL, committed ? e->metadata_size : 0,
                                  &m, NULL, 0) == MTR_OK &&
            m.log.n > 0;
        if (ours)
            p->metadata = mtr_strndup(e->metadata, e->metadata_size);
        else if (ledger) {
            mtr_ledger_checkpoint_t cp;
            if (mtr_ledger_checkpoint_get(ledger, p->topic, p->partition, &cp, NULL, 0) == MTR_OK)
                p->metadata = cp.close_log_tail;
        }
        mtr_commit_meta_free(&m);
    }
    rd_kafka_topic_partition_list_destroy(l);
    return err;
}

static mtr_err_t targets_at_time(rd_kafka_t *rk, mtr_reset_plan_t *plan, int64_t ms, int timeout_ms,
                                 char *errstr, size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *l = list_of(plan);
    for (int i = 0; i < l->cnt; i++)
        l->elems[i].offset = ms;
    rd_kafka_resp_err_t kerr = rd_kafka_offsets_for_times(rk, l, timeout_ms);
    mtr_err_t err = MTR_OK;
    if (kerr)
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_IO, "cannot look up offsets by time: %s",
                          rd_kafka_err2str(kerr));
    for (int i = 0; !err && i < l->cnt; i++) {
        mtr_reset_partition_t *p = &plan->parts[i];
        /* No message at or after the time: the log end. */
        int64_t o = l->elems[i].err || l->elems[i].offset < 0 ? p->log_end : l->elems[i].offset;
        p->after = clamp(o, p->log_start, p->log_end);
    }
    rd_kafka_topic_partition_list_destroy(l);
    return err;
}

static void set_targets(mtr_reset_plan_t *plan, const mtr_reset_spec_t *spec)
{
    for (size_t i = 0; i < plan->n_parts; i++) {
        mtr_reset_partition_t *p = &plan->parts[i];
        int64_t from = p->before >= 0 ? p->before : p->log_start;
        switch (spec->to) {
        case MTR_RESET_EARLIEST:
            p->after = p->log_start;
            break;
        case MTR_RESET_LATEST:
            p->after = p->log_end;
            break;
        case MTR_RESET_OFFSET:
            p->after = clamp(spec->value, p->log_start, p->log_end);
            break;
        case MTR_RESET_SHIFT:
            p->after = clamp(from + spec->value, p->log_start, p->log_end);
            break;
        case MTR_RESET_DATETIME:
        default:
            break; /* targets_at_time */
        }
    }
}

/* ---- what a forward move skips ---- */

typedef struct skip_scan {
    const mtr_config_t *config;
    mtr_reset_plan_t *plan;
    mtr_event_decoder_t *decoder;
    mtr_agg_closelog_t *logs; /* per partition */
} skip_scan_t;

static void count_unbilled(mtr_reset_plan_t *plan, const mtr_config_t *cfg, const mtr_event_t *ev)
{
    const mtr_dimension_conf_t *d = &cfg->products[ev->product].dimensions[ev->dimension];
    size_t i = 0;
    while (i < plan->n_unbilled && strcmp(plan->unbilled[i].dimension, d->name))
        i++;
    if (i == plan->n_unbilled) {
        plan->unbilled =
            mtr_realloc(plan->unbilled, (plan->n_unbilled + 1) * sizeof *plan->unbilled);
        plan->unbilled[plan->n_unbilled++] = (mtr_reset_unbilled_t){d->name, 0, 0};
    }
    plan->unbilled[i].events++;
    plan->unbilled[i].micro += d->aggregation == MTR_AGG_COUNT ? 1000000 : ev->quantity;
}

static void on_skipped(void *opaque, size_t range, const rd_kafka_message_t *msg)
{
    skip_scan_t *s = opaque;
    mtr_reset_partition_t *p = &s->plan->parts[range];
    mtr_event_t ev;
    if (mtr_ingest_decode_message(s->decoder, msg, &ev, NULL, 0) != MTR_EVENT_OK) {
        p->skipped_invalid++;
        return;
    }
    const mtr_agg_closelog_t *log = &s->logs[range];
    int64_t hour = mtr_agg_effective_hour(log, ev.time_ms, msg->offset);
    int64_t last = mtr_agg_closelog_last_hour(log);
    if (last != MTR_AGG_NO_HOUR && hour <= last) {
        p->skipped_closed++;
        return;
    }
    p->skipped_open++;
    count_unbilled(s->plan, s->config, &ev);
}

static mtr_err_t scan_skipped(const mtr_config_t *config, mtr_reset_plan_t *plan,
                              const mtr_reset_spec_t *spec, char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk;
    mtr_err_t err = mtr_reader_new(config, &rk, errstr, errstr_size);
    if (err)
        return err;
    skip_scan_t s = {config, plan, mtr_event_decoder_new(config, mtr_clock_system()),
                     mtr_calloc(plan->n_parts ? plan->n_parts : 1, sizeof *s.logs)};
    mtr_reader_range_t *ranges = mtr_calloc(plan->n_parts ? plan->n_parts : 1, sizeof *ranges);
    for (size_t i = 0; i < plan->n_parts; i++) {
        const mtr_reset_partition_t *p = &plan->parts[i];
        int64_t from = p->before >= 0 ? p->before : p->log_start;
        ranges[i] = (mtr_reader_range_t){p->topic, p->partition, from, from, 0};
        if (p->after > from)
            ranges[i].end = p->after;
        mtr_commit_meta_t m;
        const char *meta = p->metadata ? p->metadata : "";
        mtr_commit_meta_parse(meta, strlen(meta), &m, NULL, 0);
        mtr_agg_closelog_copy(&s.logs[i], &m.log);
        mtr_commit_meta_free(&m);
        plan->parts[i].closed_through_ms = mtr_agg_closelog_last_hour(&s.logs[i]);
    }
    err = mtr_reader_read(rk, ranges, plan->n_parts, spec->timeout_ms, on_skipped, &s,
                          spec->progress, spec->progress_opaque, errstr, errstr_size);
    for (size_t i = 0; i < plan->n_parts; i++)
        mtr_agg_closelog_free(&s.logs[i]);
    mtr_free(s.logs);
    mtr_free(ranges);
    mtr_event_decoder_free(s.decoder);
    rd_kafka_destroy(rk);
    return err;
}

mtr_err_t mtr_offsets_reset_plan(const mtr_config_t *config, mtr_ledger_t *ledger,
                                 const mtr_reset_spec_t *spec, mtr_reset_plan_t *plan, char *errstr,
                                 size_t errstr_size)
{
    *plan = (mtr_reset_plan_t){0};
    mtr_offsets_t o;
    mtr_err_t err = mtr_offsets_describe(config, spec->timeout_ms, &o, errstr, errstr_size);
    if (err) {
        mtr_offsets_free(&o);
        return err;
    }
    plan->group = mtr_strdup(o.group);
    plan->state = mtr_strdup(o.state ? o.state : "Unknown");
    plan->members = o.members;
    for (size_t i = 0; spec->partitions && i < spec->n_partitions && !err; i++) {
        bool found = false;
        for (size_t j = 0; j < o.n_parts; j++)
            found |= o.parts[j].partition == spec->partitions[i];
        if (!found)
            err = mtr_err_set(errstr, errstr_size, MTR_ERR_NOT_FOUND,
                              "--partitions: no partition %" PRId32 " in kafka.topics",
                              spec->partitions[i]);
    }
    plan->parts = mtr_calloc(o.n_parts ? o.n_parts : 1, sizeof *plan->parts);
    for (size_t i = 0; !err && i < o.n_parts; i++) {
        const mtr_offsets_partition_t *x = &o.parts[i];
        if (!mtr_reader_selected(spec->partitions, spec->n_partitions, x->partition))
            continue;
        if (x->log_start < 0 || x->log_end < 0) {
            err = mtr_err_set(errstr, errstr_size, MTR_ERR_IO,
                              "cannot read the log start and end of %s[%" PRId32 "]", x->topic,
                              x->partition);
            break;
        }
        plan->parts[plan->n_parts++] = (mtr_reset_partition_t){
            .topic = mtr_strdup(x->topic),
            .partition = x->partition,
            .before = x->committed,
            .log_start = x->log_start,
            .log_end = x->log_end,
            .closed_through_ms = INT64_MIN,
        };
    }
    mtr_offsets_free(&o);
    rd_kafka_t *rk = NULL;
    if (!err)
        err = group_client(config, &rk, errstr, errstr_size);
    if (!err)
        err = read_metadata(rk, ledger, plan, spec->timeout_ms, errstr, errstr_size);
    if (!err) {
        set_targets(plan, spec);
        if (spec->to == MTR_RESET_DATETIME)
            err = targets_at_time(rk, plan, spec->value, spec->timeout_ms, errstr, errstr_size);
    }
    if (rk)
        rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    if (!err)
        err = scan_skipped(config, plan, spec, errstr, errstr_size);
    if (err)
        mtr_offsets_reset_free(plan);
    return err;
}

/* Joins the (memberless) group, so that the coordinator takes the commit
 * from a member: brokers that refuse simple commits while a group exists
 * (the embedded mock cluster) accept it, and no meterd can join meanwhile
 * and commit over it. Messages fetched meanwhile are dropped unread. */
static mtr_err_t join(rd_kafka_t *rk, const mtr_config_t *config, int timeout_ms, char *errstr,
                      size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new((int)config->kafka.n_topics);
    for (size_t i = 0; i < config->kafka.n_topics; i++)
        rd_kafka_topic_partition_list_add(topics, config->kafka.topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t kerr = rd_kafka_subscribe(rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (kerr)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_IO, "cannot join group %s: %s",
                           config->kafka.group_id, rd_kafka_err2str(kerr));
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (m)
            rd_kafka_message_destroy(m);
        rd_kafka_topic_partition_list_t *a = NULL;
        bool assigned = rd_kafka_assignment(rk, &a) == RD_KAFKA_RESP_ERR_NO_ERROR && a->cnt > 0;
        if (a)
            rd_kafka_topic_partition_list_destroy(a);
        if (assigned)
            return MTR_OK;
    }
    return mtr_err_set(errstr, errstr_size, MTR_ERR_IO,
                       "joining group %s took more than %d ms (a member still in it? "
                       "--timeout waits longer)",
                       config->kafka.group_id, timeout_ms);
}

mtr_err_t mtr_offsets_reset_execute(const mtr_config_t *config, const mtr_reset_plan_t *plan,
                                    int timeout_ms, char *errstr, size_t errstr_size)
{
    rd_kafka_t *rk;
    mtr_err_t err = group_client(config, &rk, errstr, errstr_size);
    if (err)
        return err;
    if ((err = join(rk, config, timeout_ms, errstr, errstr_size))) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return err;
    }
    rd_kafka_topic_partition_list_t *l = list_of(plan);
    for (int i = 0; i < l->cnt; i++) {
        l->elems[i].offset = plan->parts[i].after;
        if (plan->parts[i].metadata) {
            l->elems[i].metadata = strdup(plan->parts[i].metadata);
            l->elems[i].metadata_size = strlen(plan->parts[i].metadata);
        }
    }
    rd_kafka_resp_err_t kerr = rd_kafka_commit(rk, l, 0);
    for (int i = 0; !kerr && i < l->cnt; i++)
        kerr = l->elems[i].err;
    if (kerr)
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_IO,
                          "committing the new offsets of group %s failed: %s (nothing or only "
                          "some partitions moved: run `meterd offsets show` and retry)",
                          plan->group, rd_kafka_err2str(kerr));
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_consumer_close(rk); /* leaves the group; commits nothing more */
    rd_kafka_destroy(rk);
    return err;
}

void mtr_offsets_reset_free(mtr_reset_plan_t *plan)
{
    for (size_t i = 0; i < plan->n_parts; i++) {
        mtr_free(plan->parts[i].topic);
        mtr_free(plan->parts[i].metadata);
    }
    mtr_free(plan->parts);
    mtr_free(plan->unbilled);
    mtr_free(plan->group);
    mtr_free(plan->state);
    *plan = (mtr_reset_plan_t){0};
}
