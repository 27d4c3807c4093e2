/* The ingest pipeline's lifecycle and main loop. */
#include "ingest/ingest.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "ingest/ingest_int.h"
#include "ingest/kafka_conf.h"

/* Served on the ingest thread (rd_kafka_consumer_poll). */
static void on_kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
    mtr_ingest_t *ing = opaque;
    mtr_warn("kafka", "%s: %s", rd_kafka_err2name((rd_kafka_resp_err_t)err), reason);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        /* The consumer cannot go on; a restart starts a new one. */
        char fatal[400];
        rd_kafka_fatal_error(rk, fatal, sizeof fatal);
        snprintf(ing->fatal_msg, sizeof ing->fatal_msg, "fatal Kafka consumer error: %s", fatal);
        mtr_error("kafka", "%s; stopping", ing->fatal_msg);
        ing->fatal = true;
    }
}

mtr_err_t mtr_ingest_new(const mtr_config_t *config, mtr_ledger_t *ledger,
                         const mtr_ingest_options_t *opts, mtr_ingest_t **out, char *errstr,
                         size_t errstr_size)
{
    mtr_ingest_t *ing = mtr_calloc(1, sizeof *ing);
    ing->config = config;
    ing->ledger = ledger;
    if (opts)
        ing->opts = *opts;
    ing->clock = ing->opts.clock ? ing->opts.clock : mtr_clock_system();
    if (ing->opts.close_check_ms <= 0)
        ing->opts.close_check_ms = 250;

    rd_kafka_conf_t *conf;
    mtr_err_t err = mtr_ingest_consumer_conf(config, &conf, errstr, errstr_size);
    if (err) {
        mtr_free(ing);
        return err;
    }
    rd_kafka_conf_set_opaque(conf, ing);
    rd_kafka_conf_set_rebalance_cb(conf, mtr_ingest_on_rebalance);
    rd_kafka_conf_set_error_cb(conf, on_kafka_error);
    rd_kafka_conf_set_log_cb(conf, mtr_ingest_kafka_log);
    char kerr[512];
    ing->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, kerr, sizeof kerr);
    if (!ing->rk) {
        rd_kafka_conf_destroy(conf);
        mtr_free(ing);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_KAFKA, "Kafka consumer: %s", kerr);
    }
    rd_kafka_poll_set_consumer(ing->rk);

    err = mtr_ingest_dlq_new(config, &ing->dlq, errstr, errstr_size);
    if (err) {
        rd_kafka_destroy(ing->rk);
        mtr_free(ing);
        return err;
    }
    ing->n_workers = config->shards > 0 ? config->shards : 1;
    ing->workers = mtr_calloc((size_t)ing->n_workers, sizeof *ing->workers);
    for (int i = 0; i < ing->n_workers; i++) {
        mtr_ingest_worker_init(&ing->workers[i], i, config, ing->rk, ing->clock, ing->dlq);
        err = mtr_ingest_worker_start(&ing->workers[i], errstr, errstr_size);
        if (err) {
            ing->n_workers = i;
            mtr_ingest_free(ing);
            return err;
        }
    }
    *out = ing;
    return MTR_OK;
}

mtr_err_t mtr_ingest_run(mtr_ingest_t *ing, char *errstr, size_t errstr_size)
{
    const mtr_config_t *c = ing->config;
    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new((int)c->kafka.n_topics);
    for (size_t i = 0; i < c->kafka.n_topics; i++)
        rd_kafka_topic_partition_list_add(topics, c->kafka.topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t kerr = rd_kafka_subscribe(ing->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (kerr)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_KAFKA, "cannot subscribe to %s: %s",
                           c->kafka.topics[0], rd_kafka_err2str(kerr));
    mtr_info("ingest", "joined group \"%s\" on %s (%zu topic(s), %d shard(s))", c->kafka.group_id,
             c->kafka.bootstrap_servers, c->kafka.n_topics, ing->n_workers);

    int64_t next_check = mtr_clock_monotonic_ms(ing->clock);
    while (!atomic_load(&ing->stop) && !ing->fatal) {
        /* Serves rebalances and errors; messages flow to the workers. */
        rd_kafka_message_t *m = rd_kafka_consumer_poll(ing->rk, 50);
        if (m) {
            if (m->err)
                mtr_warn("ingest", "consumer: %s", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
        }
        int64_t now = mtr_clock_monotonic_ms(ing->clock);
        if (now >= next_check) {
            mtr_ingest_close_due(ing);
            next_check = now + ing->opts.close_check_ms;
        }
    }
    mtr_info("ingest", "leaving the consumer group");
    rd_kafka_consumer_close(ing->rk);
    if (ing->fatal)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_DB, "%s", ing->fatal_msg);
    return MTR_OK;
}

void mtr_ingest_stop(mtr_ingest_t *ing)
{
    atomic_store(&ing->stop, true);
}

void mtr_ingest_get_stats(mtr_ingest_t *ing, mtr_ingest_stats_t *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < ing->n_workers; i++) {
        mtr_ingest_worker_stats_t *s = &ing->workers[i].stats;
        out->messages += s->messages;
        out->counted += s->counted;
        out->replayed += s->replayed;
        out->rejected += s->rejected;
        out->duplicates += s->duplicates;
        out->dedupe_unchecked += s->unchecked;
        out->dedupe_budget_reached += s->budget_reached;
        for (int r = 0; r < MTR_EVENT_REASON__COUNT && r < 32; r++)
            out->rejected_by_reason[r] += s->rejected_by_reason[r];
    }
    out->partitions = ing->partitions;
    out->closes = ing->closes;
    out->records_written = ing->records_written;
    out->commit_failures = ing->commit_failures;
    out->customers_split = ing->customers_split;
}

void mtr_ingest_free(mtr_ingest_t *ing)
{
    if (!ing)
        return;
    for (int i = 0; i < ing->n_workers; i++)
        mtr_ingest_worker_destroy(&ing->workers[i]);
    mtr_free(ing->workers);
    mtr_ingest_dlq_free(ing->dlq);
    rd_kafka_destroy(ing->rk);
    mtr_free(ing->pending_closes);
    mtr_free(ing);
}
