/* meterbench decode: raw JSON usage events → mtr_event_decode (decode only)
 * and → decode + aggregate into a shard's hour tables (the ingest worker's
 * path without Kafka), single thread. The events: 100k customers, 5
 * dimensions, time-ordered with jitter over two hours, timestamps mixed
 * between RFC 3339 (Z, offsets, fractions) and
 * epoch seconds/milliseconds, quantities as integers, decimals and decimal
 * strings, a fifth of them with tags. Each run prints events/s; the summary
 * gives the median and best, and the peak RSS. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aggregate/shard.h"
#include "bench/bench.h"
#include "bench/bench_util.h"
#include "core/clock.h"
#include "core/event.h"
#include "core/json_arena.h"
#include "core/mem.h"
#include "core/tagset.h"

#define CUSTOMERS 100000
#define BATCH     256
#define START_MS  1795690800000LL /* 2026-11-26T11:00:00Z */
#define SPAN_MS   (2 * 3600 * 1000LL)

static mtr_dimension_conf_t bench_dims[] = {
    {"api_calls", MTR_AGG_SUM, MTR_ROUND_UP, NULL},
    {"storage_gb", MTR_AGG_MAX, MTR_ROUND_UP, NULL},
    {"requests", MTR_AGG_COUNT, MTR_ROUND_UP, NULL},
    {"seats", MTR_AGG_LATEST, MTR_ROUND_UP, NULL},
    {"data_gb", MTR_AGG_SUM, MTR_ROUND_NEAREST, NULL},
};
static mtr_product_conf_t bench_products[] = {{"prod-bench", bench_dims, 5}};

typedef struct corpus {
    char *bytes;
    size_t *off;
    size_t *len;
    size_t n;
} corpus_t;

static void format_time(char *out, size_t size, int64_t t_ms, int style)
{
    int64_t secs = t_ms / 1000, ms = t_ms % 1000;
    switch (style) {
    case 0: /* RFC 3339, Z, milliseconds */
    case 1: /* RFC 3339, +02:00 offset, no fraction */
    case 2: /* RFC 3339, -05:00 offset, microseconds */
    {
        static const int offsets[] = {0, 120, -300};
        time_t local = (time_t)(secs + offsets[style] * 60);
        struct tm tm;
        gmtime_r(&local, &tm);
        char base[32];
        strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
        if (style == 0)
            snprintf(out, size, "\"%s.%03dZ\"", base, (int)ms);
        else if (style == 1)
            snprintf(out, size, "\"%s+02:00\"", base);
        else
            snprintf(out, size, "\"%s.%03d417-05:00\"", base, (int)ms);
        break;
    }
    case 3:
        snprintf(out, size, "%lld", (long long)t_ms);
        break;
    default:
        snprintf(out, size, "%lld", (long long)secs);
        break;
    }
}

static void make_corpus(corpus_t *c, size_t n)
{
    mtr_bench_rng_t rng = {7};
    size_t cap = n * 240;
    c->bytes = mtr_malloc(cap);
    c->off = mtr_malloc(n * sizeof *c->off);
    c->len = mtr_malloc(n * sizeof *c->len);
    c->n = n;
    size_t used = 0;
    static const char *const quantities[] = {"1", "3", "0.5", "\"1.25\"", "12.000001", "250"};
    static const char *const teams[] = {"search", "ads", "infra", "ml"};
    for (size_t i = 0; i < n; i++) {
        char ts[64], tags[96] = "";
        unsigned cust = (unsigned)mtr_bench_uniform(&rng, CUSTOMERS);
        unsigned dim = (unsigned)mtr_bench_uniform(&rng, 5);
        /* Roughly time-ordered, as a topic is: +-30 s of jitter. */
        int64_t t = START_MS + (int64_t)((double)i / (double)n * (double)SPAN_MS) - 30000 +
                    (int64_t)mtr_bench_uniform(&rng, 60000);
        format_time(ts, sizeof ts, t, (int)mtr_bench_uniform(&rng, 5));
        if (mtr_bench_uniform(&rng, 5) == 0)
            snprintf(tags, sizeof tags, ",\"tags\":{\"team\":\"%s\",\"env\":\"prod\"}",
                     teams[mtr_bench_uniform(&rng, 4)]);
        int w = snprintf(c->bytes + used, cap - used,
                         "{\"id\":\"evt-%08zx\",\"customer\":\"cust-%06u\",\"dimension\":\"%s\","
                         "\"quantity\":%s,\"timestamp\":%s%s}",
                         i, cust, bench_dims[dim].name, quantities[mtr_bench_uniform(&rng, 6)], ts,
                         tags);
        c->off[i] = used;
        c->len[i] = (size_t)w;
        used += (size_t)w;
    }
}

static void corpus_free(corpus_t *c)
{
    mtr_free(c->bytes);
    mtr_free(c->off);
    mtr_free(c->len);
}

/* The baseline: cJSON's parse alone, into the same kind of arena. */
static double run_parse_only(const corpus_t *c)
{
    mtr_json_arena_t *arena = mtr_json_arena_new(0, 0);
    mtr_json_arena_t *prev = mtr_json_arena_activate(arena);
    size_t ok = 0;
    uint64_t t0 = mtr_bench_now_ns();
    for (size_t i = 0; i < c->n; i++) {
        mtr_json_arena_reset(arena);
        ok += cJSON_ParseWithLengthOpts(c->bytes + c->off[i], c->len[i], NULL, 0) != NULL;
    }
    uint64_t dt = mtr_bench_now_ns() - t0;
    mtr_json_arena_activate(prev);
    mtr_json_arena_free(arena);
    if (ok != c->n)
        fprintf(stderr, "decode: cJSON rejected %zu events\n", c->n - ok);
    return (double)c->n * 1e9 / (double)dt;
}

/* Decode only. Returns events/s; counts rejections (must be 0). */
static double run_decode(mtr_event_decoder_t *dec, const corpus_t *c, size_t *rejected)
{
    mtr_event_t ev;
    int64_t checksum = 0;
    *rejected = 0;
    uint64_t t0 = mtr_bench_now_ns();
    for (size_t i = 0; i < c->n; i++) {
        if (mtr_event_decode(dec, c->bytes + c->off[i], c->len[i], NULL, &ev, NULL, 0) ==
            MTR_EVENT_OK)
            checksum += ev.quantity + (int64_t)ev.customer.len;
        else
            (*rejected)++;
    }
    uint64_t dt = mtr_bench_now_ns() - t0;
    if (checksum == 42)
        fputs("", stderr); /* keeps the loop's work observable */
    return (double)c->n * 1e9 / (double)dt;
}

/* Decode + aggregate: the ingest worker's batching (customer and tag-set
 * bytes copied to a scratch area, since event strings live only until the
 * next decode), applied to one shard. */
typedef struct batch {
    mtr_agg_update_t updates[BATCH];
    int64_t hours[BATCH];
    char scratch[BATCH * (MTR_EVENT_MAX_CUSTOMER_BYTES + MTR_TAGSET_MAX_BYTES)];
    size_t n, used;
} batch_t;

static double run_decode_aggregate(mtr_event_decoder_t *dec, const corpus_t *c, size_t *keys)
{
    mtr_agg_shard_t *shard = mtr_agg_shard_new(0, 2 * CUSTOMERS * 5 / 2);
    batch_t *b = mtr_calloc(1, sizeof *b);
    mtr_event_t ev;
    uint64_t t0 = mtr_bench_now_ns();
    for (size_t i = 0; i < c->n; i++) {
        if (mtr_event_decode(dec, c->bytes + c->off[i], c->len[i], NULL, &ev, NULL, 0) !=
            MTR_EVENT_OK)
            continue;
        mtr_agg_update_t *u = &b->updates[b->n];
        char *cust = b->scratch + b->used;
        memcpy(cust, ev.customer.ptr, ev.customer.len);
        b->used += ev.customer.len;
        *u = (mtr_agg_update_t){.customer = cust,
                                .customer_len = (uint16_t)ev.customer.len,
                                .customer_is_account = ev.is_account_id,
                                .quantity = ev.quantity,
                                .time_ms = ev.time_ms,
                                .scope = ev.product,
                                .dimension = (uint16_t)ev.dimension,
                                .aggregation = (uint8_t)ev.aggregation};
        if (ev.n_tags) {
            mtr_tag_view_t tv[MTR_EVENT_MAX_TAGS];
            for (size_t k = 0; k < ev.n_tags; k++)
                tv[k] = (mtr_tag_view_t){ev.tags[k].key.ptr, ev.tags[k].key.len,
                                         ev.tags[k].value.ptr, ev.tags[k].value.len};
            u->tagset = b->scratch + b->used;
            u->tagset_len = (uint16_t)mtr_tagset_build(tv, ev.n_tags, b->scratch + b->used);
            b->used += u->tagset_len;
        }
        b->hours[b->n++] = mtr_hour_floor_ms(ev.time_ms);
        if (b->n == BATCH) {
            mtr_agg_shard_update_batch(shard, b->hours, b->updates, b->n);
            b->n = b->used = 0;
        }
    }
    if (b->n)
        mtr_agg_shard_update_batch(shard, b->hours, b->updates, b->n);
    uint64_t dt = mtr_bench_now_ns() - t0;
    int64_t hours[8];
    size_t nh = mtr_agg_shard_hours(shard, hours, 8);
    *keys = 0;
    for (size_t h = 0; h < nh; h++)
        *keys += mtr_agg_table_count(mtr_agg_shard_table(shard, hours[h]));
    mtr_free(b);
    mtr_agg_shard_free(shard);
    return (double)c->n * 1e9 / (double)dt;
}

static int usage(FILE *out)
{
    fprintf(out, "usage: meterbench decode [--events N] [--runs R]\n"
                 "  --events N  events in the corpus (default 1000000)\n"
                 "  --runs R    timed runs of each benchmark (default 5)\n");
    return out == stdout ? 0 : 2;
}

int bench_decode_main(int argc, char **argv)
{
    size_t n = 1000000;
    int runs = 5;
    static const struct option opts[] = {{"events", required_argument, NULL, 'n'},
                                         {"runs", required_argument, NULL, 'r'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    for (int ch; (ch = getopt_long(argc, argv, "n:r:h", opts, NULL)) != -1;) {
        switch (ch) {
        case 'n':
            n = strtoull(optarg, NULL, 10);
            break;
        case 'r':
            runs = atoi(optarg);
            break;
        case 'h':
            return usage(stdout);
        default:
            return usage(stderr);
        }
    }
    if (n == 0 || runs < 1 || runs > 100)
        return usage(stderr);

    mtr_config_t cfg = {0};
    cfg.products = bench_products;
    cfg.n_products = 1;
    cfg.events.max_message_bytes = 1 << 20;
    cfg.window.max_future_skew_ms = 5 * 60 * 1000;
    cfg.window.max_event_age_ms = 6 * MTR_MS_PER_HOUR;
    mtr_clock_t clock;
    mtr_clock_manual_init(&clock, START_MS + SPAN_MS);
    mtr_event_decoder_t *dec = mtr_event_decoder_new(&cfg, &clock);

    corpus_t c;
    make_corpus(&c, n);
    size_t total = c.off[n - 1] + c.len[n - 1];
    printf("decode: %zu events, %.0f bytes/event, 100k customers x 5 dimensions\n", n,
           (double)total / (double)n);

    double *rates = mtr_calloc((size_t)runs, sizeof *rates);
    size_t rejected = 0, keys = 0;
    run_decode(dec, &c, &rejected); /* warm-up */
    for (int r = 0; r < runs; r++) {
        rates[r] = run_parse_only(&c);
        printf("  cJSON parse only   run %d: %.2f M events/s\n", r + 1, rates[r] / 1e6);
    }
    double parse_med = mtr_bench_median(rates, (size_t)runs);
    for (int r = 0; r < runs; r++) {
        rates[r] = run_decode(dec, &c, &rejected);
        printf("  decode only        run %d: %.2f M events/s\n", r + 1, rates[r] / 1e6);
    }
    double dec_med = mtr_bench_median(rates, (size_t)runs),
           dec_best = mtr_bench_best(rates, (size_t)runs);
    for (int r = 0; r < runs; r++) {
        rates[r] = run_decode_aggregate(dec, &c, &keys);
        printf("  decode + aggregate run %d: %.2f M events/s (%zu keys)\n", r + 1, rates[r] / 1e6,
               keys);
    }
    double agg_med = mtr_bench_median(rates, (size_t)runs),
           agg_best = mtr_bench_best(rates, (size_t)runs);
    printf("cJSON parse only:   median %.2f M events/s\n", parse_med / 1e6);
    printf("decode only:        median %.2f M events/s, best %.2f\n", dec_med / 1e6,
           dec_best / 1e6);
    printf("decode + aggregate: median %.2f M events/s, best %.2f (target >= 1.5)\n", agg_med / 1e6,
           agg_best / 1e6);
    printf("rejected: %zu, peak RSS %ld KiB\n", rejected, mtr_bench_peak_rss_kb());
    mtr_free(rates);
    corpus_free(&c);
    mtr_event_decoder_free(dec);
    return rejected ? 1 : 0;
}
