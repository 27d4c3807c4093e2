/* Describing the consumer group for `meterd offsets show`: topic metadata
 * for the partitions, the group's committed offsets with their metadata,
 * watermarks, and the group's live members with their assignments. A
 * broker that cannot describe groups leaves the owners unknown instead of
 * failing the rest. */
#include "ingest/offsets.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "ingest/commit_meta.h"
#include "ingest/kafka_conf.h"

/* Appends one row per partition of topic. */
static mtr_err_t add_topic(rd_kafka_t *rk, const char *topic, int timeout_ms, mtr_offsets_t *out,
                           char *errstr, size_t errstr_size)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t kerr = rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (kerr)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_IO,
                           "cannot read the metadata of topic %s: %s (is kafka.\"bootstrap."
                           "servers\" right and the cluster up?)",
                           topic, rd_kafka_err2str(kerr));
    mtr_err_t err = MTR_OK;
    if (md->topic_cnt != 1 || md->topics[0].err || md->topics[0].partition_cnt == 0) {
        err = mtr_err_set(
            errstr, errstr_size, MTR_ERR_NOT_FOUND, "topic %s: %s (check kafka.topics)", topic,
            md->topic_cnt == 1 && md->topics[0].err ? rd_kafka_err2str(md->topics[0].err)
                                                    : "no partitions");
    } else {
        const struct rd_kafka_metadata_topic *t = &md->topics[0];
        out->parts =
            mtr_realloc(out->parts, (out->n_parts + (size_t)t->partition_cnt) * sizeof *out->parts);
        for (int i = 0; i < t->partition_cnt; i++)
            out->parts[out->n_parts++] = (mtr_offsets_partition_t){
                .topic = mtr_strdup(topic),
                .partition = t->partitions[i].id,
                .committed = -1,
                .log_start = -1,
                .log_end = -1,
                .lag = -1,
                .closed_through_ms = INT64_MIN,
            };
    }
    rd_kafka_metadata_destroy(md);
    return err;
}

static mtr_offsets_partition_t *find(mtr_offsets_t *o, const char *topic, int32_t partition)
{
    for (size_t i = 0; i < o->n_parts; i++)
        if (o->parts[i].partition == partition && !strcmp(o->parts[i].topic, topic))
            return &o->parts[i];
    return NULL;
}

/* The close log in a commit's metadata: how far it reaches and who wrote
 * its last entry as of the committed offset. */
static void decode_metadata(mtr_offsets_partition_t *p, const void *meta, size_t len)
{
    if (!meta || len == 0) {
        p->meta = MTR_OFFSETS_META_NONE;
        return;
    }
    mtr_commit_meta_t m;
    char err[256];
    if (mtr_commit_meta_parse(meta, len, &m, err, sizeof err) != MTR_OK) {
        p->meta = MTR_OFFSETS_META_FOREIGN;
        mtr_commit_meta_free(&m);
        return;
    }
    p->meta = MTR_OFFSETS_META_METERD;
    p->closed_hours = m.log.n;
    p->closed_through_ms = mtr_agg_closelog_closed_through(&m.log, p->committed);
    for (size_t i = m.log.n; i-- > 0;)
        if (m.log.items[i].hour_ms == p->closed_through_ms) {
            p->writer = mtr_strdup(m.writers[i]);
            break;
        }
    mtr_commit_meta_free(&m);
}

static mtr_err_t read_committed(rd_kafka_t *rk, int timeout_ms, mtr_offsets_t *out, char *errstr,
                                size_t errstr_size)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new((int)out->n_parts);
    for (size_t i = 0; i < out->n_parts; i++)
        rd_kafka_topic_partition_list_add(list, out->parts[i].topic, out->parts[i].partition);
    rd_kafka_resp_err_t kerr = rd_kafka_committed(rk, list, timeout_ms);
    if (kerr) {
        rd_kafka_topic_partition_list_destroy(list);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_IO,
                           "cannot read the committed offsets of group %s: %s", out->group,
                           rd_kafka_err2str(kerr));
    }
    for (int i = 0; i < list->cnt; i++) {
        const rd_kafka_topic_partition_t *e = &list->elems[i];
        mtr_offsets_partition_t *p = find(out, e->topic, e->partition);
        if (!p)
            continue;
        p->committed = e->err || e->offset < 0 ? -1 : e->offset;
        decode_metadata(p, p->committed >= 0 ? e->metadata : NULL, e->metadata_size);
    }
    rd_kafka_topic_partition_list_destroy(list);
    return MTR_OK;
}

static void read_watermarks(rd_kafka_t *rk, int timeout_ms, mtr_offsets_t *out)
{
    for (size_t i = 0; i < out->n_parts; i++) {
        mtr_offsets_partition_t *p = &out->parts[i];
        int64_t lo, hi;
        if (rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi, timeout_ms))
            continue;
        p->log_start = lo;
        p->log_end = hi;
        /* Nothing committed: a new member starts at the log start (the
         * group's auto.offset.reset is earliest), so all of it is lag. */
        int64_t from = p->committed >= 0 ? p->committed : lo;
        p->lag = hi > from ? hi - from : 0;
    }
}

/* Live members and what each owns. ListGroups first: it fails at once on a
 * broker that cannot describe groups (the embedded mock cluster), where
 * librdkafka's DescribeConsumerGroups would leave the client unable to
 * shut down; the owners then stay unknown. */
static void read_members(rd_kafka_t *rk, int timeout_ms, mtr_offsets_t *out)
{
    const struct rd_kafka_group_list *groups_found = NULL;
    if (rd_kafka_list_groups(rk, out->group, &groups_found, timeout_ms) ||
        groups_found->group_cnt != 1) {
        out->state = mtr_strdup("Unknown");
        if (groups_found)
            rd_kafka_group_list_destroy(groups_found);
        return;
    }
    out->state = mtr_strdup(groups_found->groups[0].state);
    out->members = (size_t)groups_found->groups[0].member_cnt;
    rd_kafka_group_list_destroy(groups_found);
    if (out->members == 0)
        return;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_AdminOptions_t *opts =
        rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS);
    char err[256];
    rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, err, sizeof err);
    const char *groups[] = {out->group};
    rd_kafka_DescribeConsumerGroups(rk, groups, 1, opts, q);
    /* The result, past any other event the queue may carry. */
    rd_kafka_event_t *ev;
    const rd_kafka_DescribeConsumerGroups_result_t *res = NULL;
    while ((ev = rd_kafka_queue_poll(q, timeout_ms + 1000)) &&
           !(res = rd_kafka_event_DescribeConsumerGroups_result(ev))) {
        rd_kafka_event_destroy(ev);
    }
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t **descs =
        res && !rd_kafka_event_error(ev) ? rd_kafka_DescribeConsumerGroups_result_groups(res, &n)
                                         : NULL;
    for (size_t g = 0; g < n; g++) {
        const rd_kafka_ConsumerGroupDescription_t *d = descs[g];
        if (rd_kafka_ConsumerGroupDescription_error(d))
            continue;
        size_t n_members = rd_kafka_ConsumerGroupDescription_member_count(d);
        for (size_t m = 0; m < n_members; m++) {
            const rd_kafka_MemberDescription_t *md = rd_kafka_ConsumerGroupDescription_member(d, m);
            const rd_kafka_topic_partition_list_t *a =
                rd_kafka_MemberAssignment_partitions(rd_kafka_MemberDescription_assignment(md));
            char who[256];
            snprintf(who, sizeof who, "%s@%s", rd_kafka_MemberDescription_client_id(md),
                     rd_kafka_MemberDescription_host(md));
            for (int i = 0; a && i < a->cnt; i++) {
                mtr_offsets_partition_t *p = find(out, a->elems[i].topic, a->elems[i].partition);
                if (p && !p->member)
                    p->member = mtr_strdup(who);
            }
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_queue_destroy(q);
}

mtr_err_t mtr_offsets_describe(const mtr_config_t *config, int timeout_ms, mtr_offsets_t *out,
                               char *errstr, size_t errstr_size)
{
    *out = (mtr_offsets_t){.group = mtr_strdup(config->kafka.group_id)};
    rd_kafka_conf_t *conf;
    mtr_err_t err = mtr_ingest_consumer_conf(config, &conf, errstr, errstr_size);
    if (err)
        return err;
    rd_kafka_conf_set_log_cb(conf, mtr_ingest_kafka_log);
    char kerrstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerrstr, sizeof kerrstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_IO, "cannot create a Kafka client: %s",
                           kerrstr);
    }
    for (size_t i = 0; !err && i < config->kafka.n_topics; i++)
        err = add_topic(rk, config->kafka.topics[i], timeout_ms, out, errstr, errstr_size);
    if (!err)
        err = read_committed(rk, timeout_ms, out, errstr, errstr_size);
    if (!err)
        read_watermarks(rk, timeout_ms, out);
    if (!err)
        read_members(rk, timeout_ms, out);
    /* It never joined the group: nothing to leave or commit. */
    rd_kafka_destroy_flags(rk, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    return err;
}

void mtr_offsets_free(mtr_offsets_t *o)
{
    for (size_t i = 0; i < o->n_parts; i++) {
        mtr_free(o->parts[i].topic);
        mtr_free(o->parts[i].member);
        mtr_free(o->parts[i].writer);
    }
    mtr_free(o->parts);
    mtr_free(o->group);
    mtr_free(o->state);
    *o = (mtr_offsets_t){0};
}
