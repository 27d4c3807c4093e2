/* `meterbench consume`: librdkafka's raw consume rate of a topic, the
 * baseline of the end-to-end figure (DESIGN.md section 7). It assigns every
 * partition from the beginning, reads N messages in batches without looking
 * at them, and prints the rate from the first message to the last (start-up
 * and metadata excluded). */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 1024

int bench_consume_main(int argc, char **argv);

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(void)
{
    fprintf(stderr, "usage: meterbench consume BOOTSTRAP TOPIC MESSAGES\n"
                    "  reads MESSAGES messages of every partition of TOPIC from the beginning\n"
                    "  and prints librdkafka's consume rate\n");
    return 2;
}

int bench_consume_main(int argc, char **argv)
{
    if (argc != 4)
        return usage();
    long long want = atoll(argv[3]);
    if (want <= 0)
        return usage();
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "group.id", "meterbench-consume", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr)) {
        fprintf(stderr, "meterbench consume: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        fprintf(stderr, "meterbench consume: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return 1;
    }
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, argv[2], NULL);
    const struct rd_kafka_metadata *md;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 10000) || md->topic_cnt != 1 ||
        md->topics[0].partition_cnt < 1) {
        fprintf(stderr, "meterbench consume: no metadata for topic \"%s\"\n", argv[2]);
        rd_kafka_topic_destroy(rkt);
        rd_kafka_destroy(rk);
        return 1;
    }
    rd_kafka_topic_partition_list_t *parts =
        rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
    for (int i = 0; i < md->topics[0].partition_cnt; i++)
        rd_kafka_topic_partition_list_add(parts, argv[2], md->topics[0].partitions[i].id)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);

    rd_kafka_queue_t *q = rd_kafka_queue_get_consumer(rk);
    rd_kafka_message_t *msgs[BATCH];
    long long got = 0, bytes = 0;
    double first = 0, last = 0, deadline = now_s() + 300;
    while (got < want && now_s() < deadline) {
        ssize_t n = rd_kafka_consume_batch_queue(q, 100, msgs, BATCH);
        for (ssize_t i = 0; i < n; i++) {
            if (!msgs[i]->err) {
                if (!got)
                    first = now_s();
                got++;
                bytes += (long long)msgs[i]->len;
            }
            rd_kafka_message_destroy(msgs[i]);
        }
        if (n > 0)
            last = now_s();
    }
    rd_kafka_queue_destroy(q);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (got < want) {
        fprintf(stderr, "meterbench consume: read %lld of %lld messages in 300 s\n", got, want);
        return 1;
    }
    double secs = last > first ? last - first : 1e-9;
    printf("consumed %lld messages (%lld bytes) in %.3f s: %.0f messages/s\n", got, bytes, secs,
           (double)got / secs);
    return 0;
}
