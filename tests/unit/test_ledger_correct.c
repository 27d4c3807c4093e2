/* Corrections (ledger/ledger_audit.h): the audit's difference takes earlier
 * corrections into account, a correction is billed in the current hour
 * (or the next free one) once, adds to max records instead of competing
 * with their values, and keeps the key's rounding exact over all its
 * records. */
#include "test_ledger_fixture.h"

#include "ledger/ledger_audit.h"

/* The clock stands at 11:06: the current hour is T10 + H. */
#define NOW_HOUR (T10 + H)

static void confirm(fx_t *fx, int64_t id)
{
    assert_int_equal(mtr_ledger_confirm_commit(fx->l, id, fx->err, sizeof fx->err), MTR_OK);
}

/* The audit of partition 0, hour 10, against `recomputed` units of
 * cust-a/dimension: its one row. */
static mtr_ledger_audit_row_t audit_one(fx_t *fx, const char *dimension,
                                        mtr_aggregation_t aggregation, int64_t recomputed)
{
    mtr_ledger_contribution_t c = fx_contrib("cust-a", dimension, T10, 0, recomputed, MTR_ROUND_UP);
    c.aggregation = aggregation;
    mtr_ledger_audit_part_t part = {"usage", 0, T10, T10};
    mtr_ledger_audit_request_t req = {&part, 1, NULL, &c, 1};
    mtr_ledger_audit_t a;
    assert_int_equal(mtr_ledger_audit(fx->l, &req, &a, fx->err, sizeof fx->err), MTR_OK);
    assert_int_equal(a.n, 1);
    mtr_ledger_audit_row_t row = a.rows[0];
    row.key = (mtr_ledger_key_t){0}; /* its strings go with the audit */
    mtr_ledger_audit_free(&a);
    return row;
}

static void correct(fx_t *fx, const char *dimension, mtr_aggregation_t aggregation, int64_t micro)
{
    mtr_ledger_correction_t c = {
        .key = {MTR_LEDGER_SCOPE_PRODUCT, "prod-1", MTR_LEDGER_CUSTOMER_IDENTIFIER, "cust-a",
                dimension},
        .source_hour_ms = T10,
        .quantity_micro = micro,
        .rounding = MTR_ROUND_UP,
        .aggregation = aggregation,
    };
    int64_t run;
    assert_int_equal(mtr_ledger_correct(fx->l, "test", &c, 1, &run, fx->err, sizeof fx->err),
                     MTR_OK);
}

static void test_a_correction_is_billed_once_in_the_current_hour(void **state)
{
    fx_t *fx = *state;
    mtr_ledger_contribution_t c = fx_contrib("cust-a", "api", T10, 0, 5 * U, MTR_ROUND_UP);
    int64_t id;
    assert_int_equal(fx_close(fx, 0, T10, 100, 100, &c, 1, &id), MTR_OK);
    confirm(fx, id);

    mtr_ledger_audit_row_t row = audit_one(fx, "api", MTR_AGG_SUM, 7500000);
    assert_int_equal(row.billed_micro, 5 * U);
    assert_int_equal(row.difference_micro, 2500000);
    correct(fx, "api", MTR_AGG_SUM, row.difference_micro);

    fx_rec_t now = fx_rec(fx, "cust-a", "api", NOW_HOUR);
    assert_true(now.found);
    assert_int_equal(now.status, MTR_LEDGER_SENDABLE);
    assert_int_equal(now.micro, 2500000);
    assert_int_equal(now.aws, 3);
    /* The same replay again: nothing left to bill. */
    row = audit_one(fx, "api", MTR_AGG_SUM, 7500000);
    assert_int_equal(row.corrected_micro, 2500000);
    assert_int_equal(row.difference_micro, 0);

    /* A further fix finds one unit more: only that is billed, in the next
     * hour (the current hour's record is already decided). */
    row = audit_one(fx, "api", MTR_AGG_SUM, 8500000);
    assert_int_equal(row.difference_micro, U);
    correct(fx, "api", MTR_AGG_SUM, row.difference_micro);
    fx_rec_t next = fx_rec(fx, "cust-a", "api", NOW_HOUR + H);
    assert_int_equal(next.micro, U);
    /* 8.5 units in all, rounded up over the key's records: 5 + 3 + 1. */
    assert_int_equal(fx_total(fx, "cust-a", "api").billed, 9);
    assert_int_equal(audit_one(fx, "api", MTR_AGG_SUM, 8500000).difference_micro, 0);
}

static void test_a_correction_adds_to_an_open_max_record(void **state)
{
    fx_t *fx = *state;
    mtr_ledger_contribution_t c = fx_contrib("cust-a", "peak", T10, 0, 9 * U, MTR_ROUND_UP);
    c.aggregation = MTR_AGG_MAX;
    int64_t first, second;
    assert_int_equal(fx_close(fx, 0, T10, 100, 100, &c, 1, &first), MTR_OK);
    /* Hour 10 is still pending: the correction goes into it. */
    correct(fx, "peak", MTR_AGG_MAX, 3 * U);
    assert_int_equal(fx_rec(fx, "cust-a", "peak", T10).micro, 12 * U);
    assert_false(fx_rec(fx, "cust-a", "peak", NOW_HOUR).found);

    c.partition = 1;
    c.quantity_micro = 11 * U;
    assert_int_equal(fx_close(fx, 1, T10, 50, 50, &c, 1, &second), MTR_OK);
    fx_rec_t r = fx_rec(fx, "cust-a", "peak", T10);
    assert_int_equal(r.micro, 14 * U); /* max(9, 11) + 3 */
    assert_int_equal(r.status, MTR_LEDGER_PENDING_COMMIT);
    confirm(fx, first);
    confirm(fx, second);
    r = fx_rec(fx, "cust-a", "peak", T10);
    assert_int_equal(r.status, MTR_LEDGER_SENDABLE);
    assert_int_equal(r.aws, 14);
}

static void test_bad_corrections_are_refused_whole(void **state)
{
    fx_t *fx = *state;
    mtr_ledger_correction_t c[2] = {
        {.key = {MTR_LEDGER_SCOPE_PRODUCT, "prod-1", MTR_LEDGER_CUSTOMER_IDENTIFIER, "cust-a",
                 "api"},
         .source_hour_ms = T10,
         .quantity_micro = U},
        {.key = {MTR_LEDGER_SCOPE_PRODUCT, "prod-1", MTR_LEDGER_CUSTOMER_IDENTIFIER, "cust-b",
                 "api"},
         .source_hour_ms = T10,
         .quantity_micro = -U},
    };
    int64_t run;
    assert_int_equal(mtr_ledger_correct(fx->l, "test", c, 2, &run, fx->err, sizeof fx->err),
                     MTR_ERR_INVALID_ARG);
    assert_false(fx_rec(fx, "cust-a", "api", NOW_HOUR).found);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
        T(test_a_correction_is_billed_once_in_the_current_hour),
        T(test_a_correction_adds_to_an_open_max_record),
        T(test_bad_corrections_are_refused_whole),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
