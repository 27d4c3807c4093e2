/* The exactly-once property: over many random event streams (several
 * partitions, out-of-order and late events, invalid messages, closes by
 * watermark and forced, periodic commits), crashing at every commit point
 * and replaying from the committed offset with the close log read back from
 * its commit-metadata text gives, per (customer, dimension, hour), exactly
 * the sums of a reference that counts every event once in its effective
 * hour; and no partition's hour is ever emitted by two closes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "aggregate/shard.h"
#include "aggregate/window.h"
#include "core/clock.h"

#define BASE     1764151200000LL
#define HMS      MTR_MS_PER_HOUR
#define NP       3
#define NC       3
#define ND       2
#define NH       192 /* early closes can push folded events one hour per close */
#define MAXEV    160
#define LATENESS (5 * 60000LL)

typedef struct ev {
    int64_t t;
    int cust, dim;
    int64_t q;
    int invalid;
} ev_t;

static uint64_t rs;
static uint64_t rnd(void)
{
    uint64_t z = (rs += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static const char *names[NC] = {"cust-a", "cust-b", "123456789012"};

typedef struct sim {
    int np;
    ev_t ev[NP][MAXEV];
    int64_t n[NP];
    /* durable: what a close transaction + Kafka commit leave behind */
    char meta[NP][MTR_AGG_CLOSELOG_TEXT_MAX];
    int64_t committed[NP];
    mtr_agg_closelog_t full[NP]; /* every durable close, for the reference */
    int64_t emitted[NC][ND][NH];
    int emitted_ph[NP][NH];
    int durable_points;
    /* volatile */
    mtr_agg_partition_t part[NP];
    mtr_agg_shard_t *shard;
} sim_t;

static int hour_index(int64_t hour_ms)
{
    int64_t i = (hour_ms - BASE) / HMS;
    assert_true(i >= 0 && i < NH);
    return (int)i;
}

static void gen(sim_t *s)
{
    s->np = 1 + (int)(rnd() % NP);
    int64_t span = 1 + (int64_t)(rnd() % 6); /* hours the stream covers */
    for (int p = 0; p < s->np; p++) {
        s->n[p] = 1 + (int64_t)(rnd() % MAXEV);
        for (int64_t o = 0; o < s->n[p]; o++) {
            ev_t *e = &s->ev[p][o];
            /* Time roughly advances with the offset, with jitter up to
             * +-90 min so some events are late and some out of order. */
            int64_t base = BASE + span * HMS * o / s->n[p];
            int64_t jitter = (int64_t)(rnd() % (180 * 60000)) - 90 * 60000;
            if (rnd() % 3 == 0)
                jitter = 0;
            e->t = base + jitter;
            if (e->t < BASE)
                e->t = BASE + (int64_t)(rnd() % 1000);
            e->cust = (int)(rnd() % NC);
            e->dim = (int)(rnd() % ND);
            e->q = 1 + (int64_t)(rnd() % 5000000);
            e->invalid = rnd() % 17 == 0;
        }
    }
}

static void start(sim_t *s, int fresh)
{
    s->shard = mtr_agg_shard_new(0, 0);
    for (int p = 0; p < s->np; p++) {
        mtr_agg_closelog_t log;
        if (fresh) {
            mtr_agg_closelog_init(&log);
            s->committed[p] = 0;
        } else {
            char err[256];
            assert_int_equal(
                mtr_agg_closelog_parse(s->meta[p], strlen(s->meta[p]), &log, err, sizeof err),
                MTR_OK);
        }
        mtr_agg_partition_init(&s->part[p], p, s->committed[p], &log);
        s->part[p].high_watermark = s->n[p];
        mtr_agg_closelog_free(&log);
    }
}

static void crash(sim_t *s)
{
    mtr_agg_shard_free(s->shard);
    for (int p = 0; p < s->np; p++)
        mtr_agg_partition_free(&s->part[p]);
}

/* A commit point: checkpoint + Kafka commit with the close-log tail. */
static void make_durable(sim_t *s)
{
    for (int p = 0; p < s->np; p++) {
        mtr_agg_partition_t *pp = &s->part[p];
        int64_t c = mtr_agg_partition_commit_offset(pp);
        assert_true(c >= s->committed[p]); /* commits never go backwards */
        mtr_agg_closelog_t tail;
        mtr_agg_closelog_copy(&tail, &pp->log);
        mtr_agg_closelog_trim(&tail, c);
        char err[256];
        assert_int_equal(
            mtr_agg_closelog_format(&tail, s->meta[p], sizeof s->meta[p], err, sizeof err), MTR_OK);
        mtr_agg_closelog_free(&tail);
        s->committed[p] = c;
        /* full = older durable entries + the live log (which extends them). */
        mtr_agg_closelog_t merged;
        mtr_agg_closelog_init(&merged);
        int64_t first = pp->log.n ? pp->log.items[0].hour_ms : INT64_MAX;
        for (size_t i = 0; i < s->full[p].n && s->full[p].items[i].hour_ms < first; i++)
            assert_int_equal(mtr_agg_closelog_append(&merged, s->full[p].items[i].hour_ms,
                                                     s->full[p].items[i].offset, NULL, 0),
                             MTR_OK);
        for (size_t i = 0; i < pp->log.n; i++)
            assert_int_equal(mtr_agg_closelog_append(&merged, pp->log.items[i].hour_ms,
                                                     pp->log.items[i].offset, NULL, 0),
                             MTR_OK);
        mtr_agg_closelog_free(&s->full[p]);
        s->full[p] = merged;
    }
    s->durable_points++;
}

static void close_hour(sim_t *s, int64_t hour)
{
    for (int p = 0; p < s->np; p++)
        assert_int_equal(mtr_agg_partition_close(&s->part[p], hour), MTR_OK);
    mtr_agg_table_t *t = mtr_agg_shard_take(s->shard, hour);
    int hi = hour_index(hour);
    int seen[NP] = {0};
    for (size_t i = 0; t && i < mtr_agg_table_count(t); i++) {
        mtr_agg_key_t k;
        mtr_agg_table_key(t, i, &k);
        int c = 0;
        while (strlen(names[c]) != k.customer_len || memcmp(names[c], k.customer, k.customer_len))
            c++;
        s->emitted[c][k.dimension][hi] += k.value;
        /* No partition's hour is emitted by two closes. */
        assert_int_equal(s->emitted_ph[k.partition][hi], 0);
        seen[k.partition] = 1;
    }
    for (int p = 0; p < s->np; p++)
        if (seen[p])
            s->emitted_ph[p][hi] = 1;
    mtr_agg_table_free(t);
    make_durable(s); /* one transaction: close log, contributions, checkpoint */
}

static int remaining(const sim_t *s)
{
    for (int p = 0; p < s->np; p++)
        if (s->part[p].position < s->n[p])
            return 1;
    return 0;
}

static void step(sim_t *s, uint64_t *wall)
{
    int p;
    do
        p = (int)(rnd() % (uint64_t)s->np);
    while (s->part[p].position >= s->n[p]);
    int64_t o = s->part[p].position;
    const ev_t *e = &s->ev[p][o];
    if (e->invalid) {
        mtr_agg_partition_skip_message(&s->part[p], o);
    } else {
        int64_t hour;
        if (mtr_agg_partition_observe(&s->part[p], e->t, o, &hour) == MTR_AGG_ADD) {
            mtr_agg_update_t u = {.customer = names[e->cust],
                                  .customer_len = (uint16_t)strlen(names[e->cust]),
                                  .customer_is_account = e->cust == 2,
                                  .partition = p,
                                  .dimension = (uint16_t)e->dim,
                                  .aggregation = MTR_AGG_SUM,
                                  .quantity = e->q,
                                  .time_ms = e->t};
            mtr_agg_shard_update_batch(s->shard, &hour, &u, 1);
        }
        if ((uint64_t)e->t > *wall)
            *wall = (uint64_t)e->t;
    }
    uint64_t r = rnd() % 100;
    if (r < 12) { /* the close rule with a wall clock a little ahead */
        const mtr_agg_partition_t *parts[NP];
        for (int i = 0; i < s->np; i++)
            parts[i] = &s->part[i];
        int64_t h = mtr_agg_close_due(parts, (size_t)s->np,
                                      (int64_t)*wall + (int64_t)(rnd() % (2 * HMS)), LATENESS);
        if (h != MTR_AGG_NO_HOUR)
            close_hour(s, h);
    } else if (r < 16) { /* an early close: the rules must hold for any close point */
        const mtr_agg_partition_t *parts[NP];
        for (int i = 0; i < s->np; i++)
            parts[i] = &s->part[i];
        int64_t h = mtr_agg_oldest_open_hour(parts, (size_t)s->np);
        int replaying = 0;
        for (int i = 0; i < s->np; i++)
            replaying |= mtr_agg_partition_replaying(parts[i]) &&
                         h > mtr_agg_closelog_last_hour(&parts[i]->log);
        if (h != MTR_AGG_NO_HOUR && !replaying)
            close_hour(s, h);
    } else if (r < 19) {
        make_durable(s); /* a periodic commit */
    }
}

/* Runs one stream; crashes after the durable point `crash_at` (-1: never),
 * a random number of steps later. Returns the number of durable points. */
static int run(uint64_t seed, int crash_at, int second_crash)
{
    static sim_t s;
    memset(&s, 0, sizeof s);
    rs = seed;
    gen(&s);
    uint64_t run_seed = rnd();
    rs = run_seed ^ (uint64_t)(crash_at + 1) * 0x51ED270B27ull;
    start(&s, 1);
    uint64_t wall = 0;
    int crashes_left = crash_at >= 0 ? 1 + second_crash : 0;
    int64_t delay = -1;
    while (remaining(&s)) {
        step(&s, &wall);
        if (crashes_left && s.durable_points > crash_at && delay < 0)
            delay = (int64_t)(rnd() % 8);
        if (delay >= 0 && delay-- == 0) {
            crash(&s);
            start(&s, 0);
            crashes_left--;
            crash_at = s.durable_points + (int)(rnd() % 3);
            delay = -1;
        }
    }
    /* Drain: close every open hour. */
    for (;;) {
        const mtr_agg_partition_t *parts[NP];
        for (int i = 0; i < s.np; i++)
            parts[i] = &s.part[i];
        int64_t h = mtr_agg_oldest_open_hour(parts, (size_t)s.np);
        if (h == MTR_AGG_NO_HOUR)
            break;
        close_hour(&s, h);
    }
    make_durable(&s);
    int64_t hours[NH];
    assert_int_equal(mtr_agg_shard_hours(s.shard, hours, NH), 0);

    /* Reference: every valid event once, in its effective hour under the
     * durable close log. */
    int64_t ref[NC][ND][NH];
    memset(ref, 0, sizeof ref);
    for (int p = 0; p < s.np; p++)
        for (int64_t o = 0; o < s.n[p]; o++) {
            const ev_t *e = &s.ev[p][o];
            if (!e->invalid)
                ref[e->cust][e->dim][hour_index(mtr_agg_effective_hour(&s.full[p], e->t, o))] +=
                    e->q;
        }
    assert_memory_equal(ref, s.emitted, sizeof ref);
    int points = s.durable_points;
    for (int p = 0; p < s.np; p++)
        mtr_agg_closelog_free(&s.full[p]);
    crash(&s);
    return points;
}

static void test_no_crash_counts_every_event_once(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 300; seed++)
        run(seed, -1, 0);
}

static void test_crash_at_every_commit_point_replays_to_identical_sums(void **state)
{
    (void)state;
    long runs = 0;
    for (uint64_t seed = 1000; seed < 1400; seed++) {
        int points = run(seed, -1, 0);
        for (int k = 0; k < points; k++, runs++)
            run(seed, k, 0);
    }
    assert_true(runs > 1000);
}

static void test_repeated_crashes_replay_to_identical_sums(void **state)
{
    (void)state;
    for (uint64_t seed = 5000; seed < 5300; seed++) {
        int points = run(seed, -1, 0);
        for (int k = 0; k < points; k += 3)
            run(seed, k, 4);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_crash_counts_every_event_once),
        cmocka_unit_test(test_crash_at_every_commit_point_replays_to_identical_sums),
        cmocka_unit_test(test_repeated_crashes_replay_to_identical_sums),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
