/* One customer's hour spread over three partitions: the record the ledger
 * decides equals what one pass over all the events in event order gives,
 * for each aggregation, whatever the order in which the partitions close,
 * across a crash between closes, and when a rebalance rolls one partition's
 * close back and it is closed again. Partition aggregates come from the
 * real hour table (aggregate/table.c), as a close would build them. */
#include "test_ledger_fixture.h"

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include "aggregate/table.h"

typedef struct event {
    int32_t partition;
    int64_t time_ms;
    int64_t micro;
} event_t;

/* The hour's events, in event-time order. Partitions 0 and 2 both hold an
 * event at the hour's latest time (the larger value, 6, is the latest) and
 * the maximum, 9, is in partition 1. */
static const event_t events[] = {
    {0, T10 + 60000, 3 * U},   {1, T10 + 120000, 9 * U},  {2, T10 + 180000, 2 * U},
    {1, T10 + 240000, 4 * U},  {0, T10 + 300000, 5 * U},  {2, T10 + 2400000, 6 * U},
    {0, T10 + 2400000, 1 * U}, {1, T10 + 1800000, 7 * U},
};
#define N_EVENTS (sizeof events / sizeof events[0])
#define N_PARTS  3

static const struct {
    const char *dimension;
    mtr_aggregation_t aggregation;
} dims[] = {
    {"api", MTR_AGG_SUM},
    {"calls", MTR_AGG_COUNT},
    {"peak", MTR_AGG_MAX},
    {"seats", MTR_AGG_LATEST},
};
#define N_DIMS (sizeof dims / sizeof dims[0])

/* The aggregate of dimension d over the events of partition p (-1: all of
 * them, in event order, as if one partition had seen everything). */
static mtr_agg_key_t aggregate(size_t d, int32_t p)
{
    mtr_agg_table_t *t = mtr_agg_table_new(T10, 0);
    mtr_agg_update_t u = {0};
    for (size_t i = 0; i < N_EVENTS; i++) {
        if (p >= 0 && events[i].partition != p)
            continue;
        u = (mtr_agg_update_t){.customer = "cust-a",
                               .customer_len = 6,
                               .dimension = (uint16_t)d,
                               .aggregation = (uint8_t)dims[d].aggregation,
                               .quantity = events[i].micro,
                               .time_ms = events[i].time_ms};
        mtr_agg_table_update(t, &u);
    }
    mtr_agg_key_t k;
    assert_true(mtr_agg_table_find(t, &u, &k));
    mtr_agg_table_free(t);
    return k;
}

/* Partition p's contributions to hour 10: one per dimension. */
static void contributions_of(int32_t p, mtr_ledger_contribution_t c[N_DIMS])
{
    for (size_t d = 0; d < N_DIMS; d++) {
        mtr_agg_key_t k = aggregate(d, p);
        c[d] = fx_contrib("cust-a", dims[d].dimension, T10, p, k.value, MTR_ROUND_UP);
        c[d].aggregation = dims[d].aggregation;
        c[d].time_ms = k.time_ms;
    }
}

/* Closes hour 10 of partition p alone. */
static int64_t close_partition(fx_t *fx, int32_t p)
{
    mtr_ledger_contribution_t c[N_DIMS];
    contributions_of(p, c);
    int64_t id;
    assert_int_equal(fx_close(fx, p, T10, 100 + p, 100 + p, c, N_DIMS, &id), MTR_OK);
    return id;
}

/* Confirms the closes ids[0..N_PARTS). */
static void confirm_all(fx_t *fx, const int64_t ids[N_PARTS])
{
    for (int i = 0; i < N_PARTS; i++)
        assert_int_equal(mtr_ledger_confirm_commit(fx->l, ids[i], fx->err, sizeof fx->err), MTR_OK);
}

/* Closes every partition, then partition `lost` moves away before its
 * commit landed: the next owner's reconcile finds Kafka behind it (nothing
 * committed past offset 50, no close log) and rolls its close back. */
static mtr_ledger_reconcile_result_t close_all_then_lose(fx_t *fx, int32_t lost,
                                                         int64_t ids[N_PARTS])
{
    for (int32_t p = 0; p < N_PARTS; p++)
        ids[p] = close_partition(fx, p);
    mtr_ledger_kafka_state_t behind = {50, NULL, NULL, 0};
    mtr_ledger_reconcile_result_t res;
    assert_int_equal(mtr_ledger_reconcile_partition(fx->l, "usage", lost, &behind, &res, fx->err,
                                                    sizeof fx->err),
                     MTR_OK);
    assert_int_equal(res.rolled_back_parts, 1);
    mtr_free(res.resume_metadata);
    return res;
}

/* Every record of the hour is decided and equals the one-pass aggregate;
 * the integers taken for sending are those values in units. */
static void assert_records_equal_one_pass(fx_t *fx)
{
    for (size_t d = 0; d < N_DIMS; d++) {
        fx_rec_t r = fx_rec(fx, "cust-a", dims[d].dimension, T10);
        assert_true(r.found);
        assert_int_equal(r.status, MTR_LEDGER_SENDABLE);
        assert_int_equal(r.micro, aggregate(d, -1).value);
    }
    mtr_ledger_record_t out[N_DIMS];
    size_t n = fx_take(fx, out, N_DIMS);
    assert_int_equal(n, N_DIMS);
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < N_DIMS; d++)
            if (!strcmp(out[i].dimension, dims[d].dimension))
                assert_int_equal(out[i].aws_quantity, aggregate(d, -1).value / U);
    mtr_ledger_records_clear(out, n);
}

/* What the test expects of one pass, spelled out, so the reference itself
 * is checked: 8 events summing to 37; max 9; latest 6 (tie at 40 min with
 * 1, the larger wins). */
static void test_one_pass_reference_is_what_the_readme_says(void **state)
{
    (void)state;
    assert_int_equal(aggregate(0, -1).value, 37 * U);
    assert_int_equal(aggregate(1, -1).value, 8 * U);
    assert_int_equal(aggregate(2, -1).value, 9 * U);
    assert_int_equal(aggregate(3, -1).value, 6 * U);
}

static void test_every_close_order_gives_the_one_pass_record(void **state)
{
    fx_t *fx = *state;
    static const int32_t orders[6][N_PARTS] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                               {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (size_t o = 0; o < 6; o++) {
        /* A fresh ledger file per order. */
        mtr_ledger_free(fx->l);
        assert_int_equal(unlink(fx->path), 0);
        fx_open(fx);
        int64_t ids[N_PARTS];
        for (int i = 0; i < N_PARTS; i++)
            ids[i] = close_partition(fx, orders[o][i]);
        confirm_all(fx, ids);
        assert_records_equal_one_pass(fx);
    }
}

/* One instance owning all three partitions closes them in one close. */
static void test_one_close_of_all_partitions_gives_the_one_pass_record(void **state)
{
    fx_t *fx = *state;
    mtr_ledger_contribution_t c[N_PARTS * N_DIMS];
    mtr_ledger_close_entry_t e[N_PARTS];
    mtr_ledger_partition_checkpoint_t cp[N_PARTS];
    for (int32_t p = 0; p < N_PARTS; p++) {
        contributions_of(p, &c[p * N_DIMS]);
        e[p] = (mtr_ledger_close_entry_t){"usage", p, T10, 100 + p};
        cp[p] = (mtr_ledger_partition_checkpoint_t){"usage", p, 100 + p, "tail"};
    }
    mtr_ledger_close_t close = {e, N_PARTS, c, N_PARTS * N_DIMS, cp, N_PARTS};
    int64_t id;
    assert_int_equal(mtr_ledger_close(fx->l, &close, &id, fx->err, sizeof fx->err), MTR_OK);
    assert_int_equal(mtr_ledger_confirm_commit(fx->l, id, fx->err, sizeof fx->err), MTR_OK);
    assert_records_equal_one_pass(fx);
}

/* The process dies (SIGKILL, no clean close of the file) right after
 * closing partition 1; the restarted process closes the others. */
static void test_a_crash_between_closes_changes_nothing(void **state)
{
    fx_t *fx = *state;
    int64_t id0 = close_partition(fx, 0);
    mtr_ledger_free(fx->l);
    pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        fx_open(fx);
        close_partition(fx, 1);
        raise(SIGKILL);
    }
    int status;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    fx_open(fx);
    int64_t id2 = close_partition(fx, 2);
    /* The dead process's close is the one between the other two. */
    int64_t ids[] = {id0, id0 + 1, id2};
    confirm_all(fx, ids);
    assert_records_equal_one_pass(fx);
}

/* Partition 1 (holding the maximum) moves away before its commit lands:
 * reconciling rolls its close back, and the max and latest records fall
 * back to what partitions 0 and 2 say, not to a difference. */
static void test_a_rolled_back_partition_is_combined_out_and_back_in(void **state)
{
    fx_t *fx = *state;
    int64_t ids[N_PARTS];
    mtr_ledger_reconcile_result_t res = close_all_then_lose(fx, 1, ids);
    int64_t removed = 0;
    for (size_t d = 0; d < N_DIMS; d++) {
        int64_t without = 0;
        for (int32_t p = 0; p < N_PARTS; p += 2) {
            mtr_agg_key_t k = aggregate(d, p);
            if (dims[d].aggregation == MTR_AGG_MAX)
                without = k.value > without ? k.value : without;
            else if (dims[d].aggregation != MTR_AGG_LATEST)
                without += k.value;
        }
        if (dims[d].aggregation == MTR_AGG_LATEST)
            without = 6 * U; /* partition 2's, at the latest time */
        assert_int_equal(fx_rec(fx, "cust-a", dims[d].dimension, T10).micro, without);
        removed += aggregate(d, -1).value - without;
    }
    assert_int_equal(res.rolled_back_micro, removed);
    /* The rolled-back close can no longer be confirmed. */
    assert_int_equal(mtr_ledger_confirm_commit(fx->l, ids[1], fx->err, sizeof fx->err),
                     MTR_ERR_STATE);
}

/* As above, but partition 1 comes back before the others confirm, and its
 * close is redone from the same events. */
static void test_a_partition_closed_again_after_a_rebalance_counts_once(void **state)
{
    fx_t *fx = *state;
    int64_t ids[N_PARTS];
    close_all_then_lose(fx, 1, ids);
    ids[1] = close_partition(fx, 1);
    confirm_all(fx, ids);
    assert_records_equal_one_pass(fx);
}

/* A ledger written by the schema before max and latest combined (version
 * 1: no aggregation columns) is migrated on open, keeps its records as
 * sums, and combines the next max close. */
static void test_a_version_1_ledger_is_migrated(void **state)
{
    fx_t *fx = *state;
    mtr_ledger_contribution_t old = fx_contrib("cust-a", "api", T10 - H, 0, 5 * U, MTR_ROUND_UP);
    int64_t id;
    assert_int_equal(fx_close(fx, 0, T10 - H, 90, 90, &old, 1, &id), MTR_OK);
    mtr_ledger_free(fx->l);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "ALTER TABLE contributions DROP COLUMN aggregation;"
                                  "ALTER TABLE contributions DROP COLUMN event_ms;"
                                  "ALTER TABLE records DROP COLUMN aggregation;"
                                  "DROP TABLE correction_runs;" /* version 3 */
                                  "DROP TABLE corrections;"
                                  "UPDATE schema_version SET version=1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    fx_open(fx);
    assert_int_equal(mtr_ledger_confirm_commit(fx->l, id, fx->err, sizeof fx->err), MTR_OK);
    assert_int_equal(fx_rec(fx, "cust-a", "api", T10 - H).aws, 5);
    int64_t ids[N_PARTS];
    for (int32_t p = 0; p < N_PARTS; p++)
        ids[p] = close_partition(fx, p);
    confirm_all(fx, ids);
    assert_int_equal(fx_rec(fx, "cust-a", "peak", T10).micro, 9 * U);
    assert_int_equal(fx_rec(fx, "cust-a", "seats", T10).micro, 6 * U);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        T(test_one_pass_reference_is_what_the_readme_says),
        T(test_every_close_order_gives_the_one_pass_record),
        T(test_one_close_of_all_partitions_gives_the_one_pass_record),
        T(test_a_crash_between_closes_changes_nothing),
        T(test_a_rolled_back_partition_is_combined_out_and_back_in),
        T(test_a_partition_closed_again_after_a_rebalance_counts_once),
        T(test_a_version_1_ledger_is_migrated),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
