/* meterbench decode: raw JSON usage events → mtr_event_decode (decode only)
 * and → decode + aggregate into a shard's hour tables (the ingest worker's
 * path without Kafka), single thread, against cJSON's parse alone as the
 * baseline in the same run. Two key spaces with the same event shapes:
 * 100k customers x 5 dimensions (~1.6 events per key and hour, so nearly
 * every update creates a key: the worst case) and 2k customers x 5 (keys
 * mostly present, as in a busy hour). Events are time-ordered with jitter
 * over two hours, timestamps mixed between RFC 3339 (Z, offsets,
 * fractions) and epoch seconds/milliseconds, quantities as integers,
 * decimals and decimal strings, a fifth of them with tags. Each run prints
 * events/s per stage; the summary gives the median and best, each as a
 * ratio to the parse-only median, the load average and the peak RSS. */
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

#define BATCH    256
#define START_MS 1795690800000LL /* 2026-11-26T11:00:00Z */
#define SPAN_MS  (2 * 3600 * 1000LL)

static mtr_dimension_conf_t bench_dims[] = {
    {"api_calls", MTR_AGG_SUM, MTR_ROUND_UP, NULL},
    {"storage_gb", MTR_AGG_MAX, MTR_ROUND_UP, NULL},
    {"requests", MTR_AGG_COUNT, MTR_ROUND_UP, NULL},
    {"seats", MTR_AGG_LATEST, MTR_ROUND_UP, NULL},
    {"data_gb", MTR_AGG_SUM, MTR_ROUND_NEAREST, NULL},
};
static mtr_product_conf_t bench_products[] = {{"prod-bench", bench_dims, 5}};

/* Events/s of one timed pass by the wall clock and by the thread's CPU
 * time: on a machine shared with other work the two differ, and the CPU
 * figure is the per-core rate with the waits for the core left out. */
typedef struct rate {
    double wall;
    double cpu;
} rate_t;

static uint64_t cpu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

typedef struct stamp {
    uint64_t wall, cpu;
} stamp_t;

static stamp_t stamp_now(void)
{
    return (stamp_t){mtr_bench_now_ns(), cpu_now_ns()};
}

static rate_t rate_since(stamp_t t0, size_t events)
{
    stamp_t t1 = stamp_now();
    return (rate_t){(double)events * 1e9 / (double)(t1.wall - t0.wall),
                    (double)events * 1e9 / (double)(t1.cpu - t0.cpu)};
}

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

static void make_corpus(corpus_t *c, size_t n, unsigned customers)
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
        unsigned cust = (unsigned)mtr_bench_uniform(&rng, customers);
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
static rate_t run_parse_only(const corpus_t *c)
{
    mtr_json_arena_t *arena = mtr_json_arena_new(0, 0);
    mtr_json_arena_t *prev = mtr_json_arena_activate(arena);
    size_t ok = 0;
    stamp_t t0 = stamp_now();
    for (size_t i = 0; i < c->n; i++) {
        mtr_json_arena_reset(arena);
        ok += cJSON_ParseWithLengthOpts(c->bytes + c->off[i], c->len[i], NULL, 0) != NULL;
    }
    rate_t rate = rate_since(t0, c->n);
    mtr_json_arena_activate(prev);
    mtr_json_arena_free(arena);
    if (ok != c->n)
        fprintf(stderr, "decode: cJSON rejected %zu events\n", c->n - ok);
    return rate;
}

/* Decode only. Returns events/s; counts rejections (must be 0). */
static rate_t run_decode(mtr_event_decoder_t *dec, const corpus_t *c, size_t *rejected)
{
    mtr_event_t ev;
    int64_t checksum = 0;
    *rejected = 0;
    stamp_t t0 = stamp_now();
    for (size_t i = 0; i < c->n; i++) {
        if (mtr_event_decode(dec, c->bytes + c->off[i], c->len[i], NULL, &ev, NULL, 0) ==
            MTR_EVENT_OK)
            checksum += ev.quantity + (int64_t)ev.customer.len;
        else
            (*rejected)++;
    }
    rate_t rate = rate_since(t0, c->n);
    if (checksum == 42)
        fputs("", stderr); /* keeps the loop's work observable */
    return rate;
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

/* events."dedupe.max_ids_per_hour"'s default. */
#define DEDUPE_BUDGET 1500000

/* The shard sizes its hour tables as the ingest worker would for the key
 * space (customers x 5 dimensions). */
static rate_t run_decode_aggregate(mtr_event_decoder_t *dec, const corpus_t *c, unsigned customers,
                                   bool dedupe, size_t *keys)
{
    mtr_agg_shard_t *shard = mtr_agg_shard_new(0, (size_t)customers * 5);
    batch_t *b = mtr_calloc(1, sizeof *b);
    mtr_event_t ev;
    stamp_t t0 = stamp_now();
    for (size_t i = 0; i < c->n; i++) {
        if (mtr_event_decode(dec, c->bytes + c->off[i], c->len[i], NULL, &ev, NULL, 0) !=
            MTR_EVENT_OK)
            continue;
        int64_t hour = mtr_hour_floor_ms(ev.time_ms);
        /* The ingest worker's check (ingest/worker.c), every event new. */
        if (dedupe &&
            mtr_agg_shard_check_id(shard, hour,
                                   mtr_agg_dedupe_hash(ev.product, ev.dimension, ev.customer.ptr,
                                                       ev.customer.len, ev.id.ptr, ev.id.len,
                                                       ev.source.ptr, ev.source.len),
                                   DEDUPE_BUDGET) == MTR_AGG_REPEAT)
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
        b->hours[b->n++] = hour;
        if (b->n == BATCH) {
            mtr_agg_shard_update_batch(shard, b->hours, b->updates, b->n);
            b->n = b->used = 0;
        }
    }
    if (b->n)
        mtr_agg_shard_update_batch(shard, b->hours, b->updates, b->n);
    rate_t rate = rate_since(t0, c->n);
    int64_t hours[8];
    size_t nh = mtr_agg_shard_hours(shard, hours, 8);
    *keys = 0;
    for (size_t h = 0; h < nh; h++)
        *keys += mtr_agg_table_count(mtr_agg_shard_table(shard, hours[h]));
    mtr_free(b);
    mtr_agg_shard_free(shard);
    return rate;
}

static int usage(FILE *out)
{
    fprintf(out, "usage: meterbench decode [--events N] [--runs R] [--stage S]\n"
                 "  --events N  events in each corpus (default 1000000)\n"
                 "  --runs R    timed runs of each stage (default 5)\n"
                 "  --stage S   run only stage S (parse, decode, agg100k, agg100k-dd,\n"
                 "              agg2k), e.g.\n"
                 "              to profile it; parse runs too, as the baseline (and agg100k\n"
                 "              with agg100k-dd)\n");
    return out == stdout ? 0 : 2;
}

/* The stages, run in turn within each run so that load from other
 * processes falls on all of them alike. */
enum { ST_PARSE, ST_DECODE, ST_AGG_WIDE, ST_AGG_WIDE_DEDUPE, ST_AGG_NARROW, ST__COUNT };

static const char *const stage_keys[ST__COUNT] = {"parse", "decode", "agg100k", "agg100k-dd",
                                                  "agg2k"};
static const char *const stage_names[ST__COUNT] = {
    [ST_PARSE] = "cJSON parse only",
    [ST_DECODE] = "decode only",
    [ST_AGG_WIDE] = "decode + aggregate, 100k x 5",
    [ST_AGG_WIDE_DEDUPE] = "  the same, events.dedupe on",
    [ST_AGG_NARROW] = "decode + aggregate, 2k x 5",
};

#define WIDE_CUSTOMERS   100000u
#define NARROW_CUSTOMERS 2000u

/* With --stage S: S, and parse as the baseline (and agg100k for
 * agg100k-dd, to compare with). */
static bool stage_runs(int st, int only)
{
    return only < 0 || st == ST_PARSE || st == only ||
           (only == ST_AGG_WIDE_DEDUPE && st == ST_AGG_WIDE);
}

static void print_load(const char *when)
{
    double load[3];
    if (getloadavg(load, 3) == 3)
        printf("load average %s: %.2f %.2f %.2f\n", when, load[0], load[1], load[2]);
}

int bench_decode_main(int argc, char **argv)
{
    size_t n = 1000000;
    int runs = 5, only = -1;
    static const struct option opts[] = {{"events", required_argument, NULL, 'n'},
                                         {"runs", required_argument, NULL, 'r'},
                                         {"stage", required_argument, NULL, 's'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    optind = 1;
    for (int ch; (ch = getopt_long(argc, argv, "n:r:s:h", opts, NULL)) != -1;) {
        switch (ch) {
        case 'n':
            n = strtoull(optarg, NULL, 10);
            break;
        case 'r':
            runs = atoi(optarg);
            break;
        case 's':
            for (int st = 0; st < ST__COUNT; st++) {
                if (strcmp(optarg, stage_keys[st]) == 0)
                    only = st;
            }
            if (only < 0)
                return usage(stderr);
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

    corpus_t wide, narrow;
    make_corpus(&wide, n, WIDE_CUSTOMERS);
    make_corpus(&narrow, n, NARROW_CUSTOMERS);
    size_t total = wide.off[n - 1] + wide.len[n - 1];
    printf("decode: %zu events a corpus, %.0f bytes/event, 5 dimensions, 1 thread\n", n,
           (double)total / (double)n);
    print_load("before");

    double *wall[ST__COUNT], *cpu[ST__COUNT];
    for (int st = 0; st < ST__COUNT; st++) {
        wall[st] = mtr_calloc((size_t)runs, sizeof *wall[st]);
        cpu[st] = mtr_calloc((size_t)runs, sizeof *cpu[st]);
    }
    size_t rejected = 0, rej = 0, keys[ST__COUNT] = {0};
    run_decode(dec, &wide, &rejected); /* warm-up */
    for (int r = 0; r < runs; r++) {
        printf("  run %d (M events/s, wall):", r + 1);
        for (int st = 0; st < ST__COUNT; st++) {
            if (!stage_runs(st, only))
                continue;
            rate_t rt;
            switch (st) {
            case ST_PARSE:
                rt = run_parse_only(&wide);
                break;
            case ST_DECODE:
                rt = run_decode(dec, &wide, &rej);
                rejected += rej;
                break;
            case ST_AGG_WIDE:
            case ST_AGG_WIDE_DEDUPE:
                rt = run_decode_aggregate(dec, &wide, WIDE_CUSTOMERS, st == ST_AGG_WIDE_DEDUPE,
                                          &keys[st]);
                break;
            default:
                rt = run_decode_aggregate(dec, &narrow, NARROW_CUSTOMERS, false, &keys[st]);
                break;
            }
            wall[st][r] = rt.wall;
            cpu[st][r] = rt.cpu;
            printf("  %s %.2f", stage_keys[st], rt.wall / 1e6);
        }
        printf("\n");
    }
    double parse_med = 0, parse_cpu_med = 0;
    printf("%-29s %21s %15s %17s\n", "stage (M events/s)", "wall: median   best", "median/parse",
           "cpu-time median");
    for (int st = 0; st < ST__COUNT; st++) {
        if (!stage_runs(st, only))
            continue;
        double best = mtr_bench_best(wall[st], (size_t)runs);
        double med = mtr_bench_median(wall[st], (size_t)runs);
        double cpu_med = mtr_bench_median(cpu[st], (size_t)runs);
        if (st == ST_PARSE) {
            parse_med = med;
            parse_cpu_med = cpu_med;
        }
        printf("%-29s %14.2f %6.2f %14.0f%% %9.2f (%3.0f%%)", stage_names[st], med / 1e6,
               best / 1e6, 100.0 * med / parse_med, cpu_med / 1e6, 100.0 * cpu_med / parse_cpu_med);
        if (st >= ST_AGG_WIDE)
            printf("  %zu keys", keys[st]);
        printf("\n");
    }
    if (stage_runs(ST_AGG_WIDE_DEDUPE, only))
        printf("events.dedupe on/off, 100k x 5: %.0f%% of the rate (medians)\n",
               100.0 * mtr_bench_median(wall[ST_AGG_WIDE_DEDUPE], (size_t)runs) /
                   mtr_bench_median(wall[ST_AGG_WIDE], (size_t)runs));
    printf("target: decode + aggregate >= 1.5 M events/s per core\n");
    print_load("after");
    printf("rejected: %zu, peak RSS %ld KiB\n", rejected, mtr_bench_peak_rss_kb());
    for (int st = 0; st < ST__COUNT; st++) {
        mtr_free(wall[st]);
        mtr_free(cpu[st]);
    }
    corpus_free(&wide);
    corpus_free(&narrow);
    mtr_event_decoder_free(dec);
    return rejected ? 1 : 0;
}
