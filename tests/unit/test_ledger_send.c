/* The ledger's record rules: additions after sending go to the next hour,
 * stale records fold with provenance, rounding carries remainders, and
 * allocations sum exactly; the send side's states and restarts. */
#include "test_ledger_fixture.h"

#include "core/tagset.h"

/* Closes and confirms one hour of partition 0 with the given contributions
 * (their hours may differ from `hour`). */
static void close_confirm(fx_t *fx, int64_t hour, const mtr_ledger_contribution_t *c, size_t n)
{
    static int64_t offset = 1000;
    int64_t id;
    offset += 100;
    assert_int_equal(fx_close(fx, 0, hour, offset, offset - 50, c, n, &id), MTR_OK);
    assert_int_equal(mtr_ledger_confirm_commit(fx->l, id, fx->err, sizeof fx->err), MTR_OK);
}

static void close_one(fx_t *fx, int64_t hour, int64_t micro, mtr_rounding_t rounding)
{
    mtr_ledger_contribution_t c = fx_contrib("cust-a", "api", hour, 0, micro, rounding);
    close_confirm(fx, hour, &c, 1);
}

static int prov_cb(const mtr_ledger_provenance_t *p, void *opaque)
{
    mtr_ledger_provenance_t *out = opaque;
    *out = *p;
    out->reason = strcmp(p->reason, "stale") == 0                     ? "stale"
                  : strcmp(p->reason, "added_after_send") == 0        ? "added_after_send"
                  : strcmp(p->reason, "timestamp_out_of_bounds") == 0 ? "timestamp_out_of_bounds"
                                                                      : "other";
    return 0;
}

static void test_addition_to_a_sent_record_goes_to_the_next_hour(void **state)
{
    fx_t *fx = *state;
    close_one(fx, T10, 2 * U, MTR_ROUND_UP);
    mtr_ledger_record_t out[2];
    assert_int_equal(fx_take(fx, out, 2), 1);
    /* A late contribution for hour 10 from partition 1 (closed later). */
    mtr_ledger_contribution_t c = fx_contrib("cust-a", "api", T10, 1, 3 * U, MTR_ROUND_UP);
    mtr_ledger_close_entry_t e = {"usage", 1, T10, 90};
    mtr_ledger_partition_checkpoint_t cp = {"usage", 1, 80, "t"};
    mtr_ledger_close_t close = {&e, 1, &c, 1, &cp, 1};
    int64_t id;
    assert_int_equal(mtr_ledger_close(fx->l, &close, &id, fx->err, sizeof fx->err), MTR_OK);
    assert_int_equal(mtr_ledger_confirm_commit(fx->l, id, fx->err, sizeof fx->err), MTR_OK);
    fx_rec_t sent = fx_rec(fx, "cust-a", "api", T10);
    fx_rec_t next = fx_rec(fx, "cust-a", "api", T10 + H);
    assert_int_equal(sent.micro, 2 * U);
    assert_int_equal(sent.aws, 2);
    assert_int_equal(sent.status, MTR_LEDGER_IN_FLIGHT);
    assert_true(next.found);
    assert_int_equal(next.micro, 3 * U);
    assert_int_equal(next.aws, 3);
    mtr_ledger_provenance_t p = {0};
    assert_int_equal(mtr_ledger_provenance(fx->l, next.id, prov_cb, &p, fx->err, sizeof fx->err),
                     MTR_OK);
    assert_int_equal(p.from_record, sent.id);
    assert_int_equal(p.to_record, next.id);
    assert_int_equal(p.quantity_micro, 3 * U);
    assert_string_equal(p.reason, "added_after_send");
    assert_int_equal(fx_total(fx, "cust-a", "api").usage_micro, 5 * U);
    mtr_ledger_records_clear(out, 1);
}

static void test_addition_hops_past_sent_hours_into_a_record_of_the_same_close(void **state)
{
    fx_t *fx = *state;
    close_one(fx, T10, 2 * U, MTR_ROUND_UP);
    close_one(fx, T10 + H, 1 * U, MTR_ROUND_UP);
    mtr_ledger_record_t out[4];
    assert_int_equal(fx_take(fx, out, 4), 2);
    /* One close: hour 12 first (a new record), then a late hour-10
     * addition that must skip the sent hours 10 and 11 and join it. */
    mtr_ledger_contribution_t c[2] = {
        fx_contrib("cust-a", "api", T10 + 2 * H, 1, 4 * U + U / 2, MTR_ROUND_DOWN),
        fx_contrib("cust-a", "api", T10, 1, 3 * U, MTR_ROUND_UP),
    };
    mtr_ledger_close_entry_t e = {"usage", 1, T10 + 2 * H, 90};
    mtr_ledger_partition_checkpoint_t cp = {"usage", 1, 80, "t"};
    mtr_ledger_close_t close = {&e, 1, c, 2, &cp, 1};
    int64_t id;
    assert_int_equal(mtr_ledger_close(fx->l, &close, &id, fx->err, sizeof fx->err), MTR_OK);
    assert_int_equal(mtr_ledger_confirm_commit(fx->l, id, fx->err, sizeof fx->err), MTR_OK);
    fx_rec_t h10 = fx_rec(fx, "cust-a", "api", T10);
    fx_rec_t h12 = fx_rec(fx, "cust-a", "api", T10 + 2 * H);
    assert_int_equal(fx_rec(fx, "cust-a", "api", T10 + H).micro, 1 * U);
    assert_false(fx_rec(fx, "cust-a", "api", T10 + 3 * H).found);
    assert_int_equal(h12.micro, 7 * U + U / 2);
    /* The newest contribution's rule (up) decides: 7.5 → 8. */
    assert_int_equal(h12.aws, 8);
    assert_int_equal(h12.status, MTR_LEDGER_SENDABLE);
    mtr_ledger_provenance_t p = {0};
    assert_int_equal(mtr_ledger_provenance(fx->l, h12.id, prov_cb, &p, fx->err, sizeof fx->err),
                     MTR_OK);
    assert_int_equal(p.from_record, h10.id);
    assert_int_equal(p.to_record, h12.id);
    assert_int_equal(p.quantity_micro, 3 * U);
    assert_string_equal(p.reason, "added_after_send");
    assert_int_equal(fx_total(fx, "cust-a", "api").usage_micro, 10 * U + U / 2);
    mtr_ledger_records_clear(out, 2);
}

static void test_stale_record_is_folded_into_the_next_unsent_hour_with_provenance(void **state)
{
    fx_t *fx = *state;
    close_one(fx, T10, 4 * U, MTR_ROUND_UP);
    /* Seven hours later nothing was sent: hour 10 is past the 6 h window. */
    mtr_clock_manual_advance(&fx->clock, 7 * H);
    close_one(fx, T10 + 6 * H, 1 * U, MTR_ROUND_UP);
    mtr_ledger_record_t out[4];
    size_t n = fx_take(fx, out, 4);
    assert_int_equal(n, 1);
    assert_int_equal(out[0].hour_ms, T10 + 6 * H);
    assert_int_equal(out[0].aws_quantity, 5);
    int64_t sum = 0;
    for (size_t i = 0; i < out[0].n_allocations; i++)
        sum += out[0].allocations[i].quantity;
    assert_int_equal(sum, 5);
    fx_rec_t old = fx_rec(fx, "cust-a", "api", T10);
    assert_int_equal(old.status, MTR_LEDGER_STALE_MOVED);
    assert_int_equal(old.moved_to, out[0].id);
    mtr_ledger_provenance_t p = {0};
    assert_int_equal(mtr_ledger_provenance(fx->l, old.id, prov_cb, &p, fx->err, sizeof fx->err),
                     MTR_OK);
    assert_int_equal(p.to_record, out[0].id);
    assert_int_equal(p.aws_quantity, 4);
    assert_string_equal(p.reason, "stale");
    mtr_ledger_total_t t = fx_total(fx, "cust-a", "api");
    assert_int_equal(t.usage_micro, 5 * U);
    assert_int_equal(t.billed, 5);
    mtr_ledger_records_clear(out, n);
}

static void test_timestamp_out_of_bounds_folds_the_record(void **state)
{
    fx_t *fx = *state;
    close_one(fx, T10, 2 * U, MTR_ROUND_UP);
    mtr_ledger_record_t out[2];
    assert_int_equal(fx_take(fx, out, 2), 1);
    assert_int_equal(mtr_ledger_record_result(fx->l, out[0].id, MTR_LEDGER_STALE_MOVED, NULL,
                                              "TimestampOutOfBounds", fx->err, sizeof fx->err),
                     MTR_OK);
    fx_rec_t old = fx_rec(fx, "cust-a", "api", T10);
    assert_int_equal(old.status, MTR_LEDGER_STALE_MOVED);
    fx_rec_t next = fx_rec(fx, "cust-a", "api", T10 + H);
    assert_int_equal(next.id, old.moved_to);
    assert_int_equal(next.status, MTR_LEDGER_SENDABLE);
    assert_int_equal(next.aws, 2);
    assert_int_equal(fx_total(fx, "cust-a", "api").billed, 2);
    mtr_ledger_records_clear(out, 1);
}

static void test_attempted_record_is_resent_identically_not_folded(void **state)
{
    fx_t *fx = *state;
    mtr_record_tag_t tags[] = {{"team", "search"}};
    mtr_ledger_contribution_t c = fx_contrib("cust-a", "api", T10, 0, 3 * U, MTR_ROUND_UP);
    c.tags = tags;
    c.n_tags = 1;
    close_confirm(fx, T10, &c, 1);
    mtr_ledger_record_t first[2], again[2];
    assert_int_equal(fx_take(fx, first, 2), 1);
    /* Crash while in flight; restart long after the acceptance window. */
    mtr_ledger_free(fx->l);
    mtr_clock_manual_advance(&fx->clock, 8 * H);
    fx_open(fx);
    size_t requeued;
    assert_int_equal(mtr_ledger_requeue_in_flight(fx->l, &requeued, fx->err, sizeof fx->err),
                     MTR_OK);
    assert_int_equal(requeued, 1);
    assert_int_equal(fx_take(fx, again, 2), 1);
    assert_int_equal(again[0].id, first[0].id);
    assert_int_equal(again[0].hour_ms, first[0].hour_ms);
    assert_int_equal(again[0].aws_quantity, first[0].aws_quantity);
    assert_int_equal(again[0].attempts, 2);
    assert_int_equal(again[0].n_allocations, 1);
    assert_string_equal(again[0].allocations[0].tags[0].key, "team");
    assert_string_equal(again[0].allocations[0].tags[0].value, "search");
    assert_int_equal(again[0].allocations[0].quantity, 3);
    mtr_record_t er;
    mtr_ledger_record_to_emit(&again[0], &er);
    assert_string_equal(er.product_code, "prod-1");
    assert_string_equal(er.customer_identifier, "cust-a");
    assert_null(er.customer_aws_account_id);
    assert_int_equal(er.n_allocations, 1);
    assert_int_equal(er.attempts, 1);
    mtr_ledger_records_clear(first, 1);
    mtr_ledger_records_clear(again, 1);
}

static void expect_hours(fx_t *fx, mtr_rounding_t rule, int64_t micro, const int64_t *want,
                         size_t n)
{
    for (size_t i = 0; i < n; i++)
        close_one(fx, T10 + (int64_t)i * H, micro, rule);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(fx_rec(fx, "cust-a", "api", T10 + (int64_t)i * H).aws, want[i]);
}

static void test_rounding_down_carries_the_remainder(void **state)
{
    static const int64_t want[] = {0, 0, 1};
    expect_hours(*state, MTR_ROUND_DOWN, 400000, want, 3);
}

static void test_rounding_up_carries_a_negative_remainder(void **state)
{
    /* cumulative 0.4, 0.8, 1.2 -> ceil 1, 1, 2 */
    static const int64_t want[] = {1, 0, 1};
    expect_hours(*state, MTR_ROUND_UP, 400000, want, 3);
}

static void test_rounding_up_of_thirds_bills_once_and_carries_minus_one_tenth(void **state)
{
    fx_t *fx = *state;
    static const int64_t want[] = {1, 0, 0};
    expect_hours(fx, MTR_ROUND_UP, 300000, want, 3);
    /* The carry is -0.1: a fourth 0.3 makes the cumulative 1.2 -> 2 units. */
    close_one(fx, T10 + 3 * H, 300000, MTR_ROUND_UP);
    assert_int_equal(fx_rec(fx, "cust-a", "api", T10 + 3 * H).aws, 1);
}

static void test_rounding_nearest_bills_the_rounded_running_total(void **state)
{
    /* cumulative 0.6 -> 1, 1.2 -> 1, 1.8 -> 2, 2.4 -> 2 */
    static const int64_t want[] = {1, 0, 1, 0};
    expect_hours(*state, MTR_ROUND_NEAREST, 600000, want, 4);
}

static void test_allocations_sum_exactly_to_the_quantity(void **state)
{
    fx_t *fx = *state;
    /* Seven tag sets with awkward shares, rounded up. */
    static const int64_t micro[] = {333333, 333333, 333334, 1250000, 10, 999999, 1};
    static const char *const teams[] = {"a", "b", "c", "d", "e", "f", "g"};
    mtr_record_tag_t tags[7][2];
    mtr_ledger_contribution_t c[8];
    int64_t total = 0;
    for (int i = 0; i < 7; i++) {
        tags[i][0] = (mtr_record_tag_t){"team", teams[i]};
        tags[i][1] = (mtr_record_tag_t){"env", "prod"};
        c[i] = fx_contrib("cust-a", "api", T10, 0, micro[i], MTR_ROUND_UP);
        c[i].tags = tags[i];
        c[i].n_tags = 2;
        total += micro[i];
    }
    c[7] = fx_contrib("cust-a", "api", T10, 0, 700000, MTR_ROUND_UP); /* untagged */
    total += 700000;
    close_confirm(fx, T10, c, 8);
    mtr_ledger_record_t out[2];
    assert_int_equal(fx_take(fx, out, 2), 1);
    int64_t want = (total + U - 1) / U;
    assert_int_equal(out[0].aws_quantity, want);
    int64_t sum = 0;
    size_t untagged = 0;
    for (size_t i = 0; i < out[0].n_allocations; i++) {
        sum += out[0].allocations[i].quantity;
        assert_true(out[0].allocations[i].quantity > 0);
        if (out[0].allocations[i].n_tags == 0)
            untagged++;
        else
            assert_int_equal(out[0].allocations[i].n_tags, 2);
    }
    assert_int_equal(sum, want);
    assert_true(untagged <= 1);
    mtr_ledger_records_clear(out, 1);
}

static void test_results_set_states_and_reject_records_not_in_flight(void **state)
{
    fx_t *fx = *state;
    mtr_ledger_contribution_t c[] = {fx_contrib("cust-a", "api", T10, 0, U, MTR_ROUND_UP),
                                     fx_contrib("cust-b", "api", T10, 0, U, MTR_ROUND_UP)};
    close_confirm(fx, T10, c, 2);
    mtr_ledger_record_t out[4];
    assert_int_equal(fx_take(fx, out, 4), 2);
    mtr_ledger_result_t res[] = {{out[0].id, MTR_LEDGER_ACCEPTED, "mrid-1", NULL},
                                 {out[1].id, MTR_LEDGER_SENDABLE, NULL, "throttled"}};
    assert_int_equal(mtr_ledger_record_results(fx->l, res, 2, fx->err, sizeof fx->err), MTR_OK);
    fx_rec_t a = fx_rec(fx, out[0].customer, "api", T10);
    assert_int_equal(a.status, MTR_LEDGER_ACCEPTED);
    assert_string_equal(a.mrid, "mrid-1");
    /* A second answer for an accepted record is refused, and nothing of the
     * batch is applied. */
    mtr_ledger_record_t again[4];
    assert_int_equal(fx_take(fx, again, 4), 1);
    mtr_ledger_result_t bad[] = {{again[0].id, MTR_LEDGER_ACCEPTED, "mrid-2", NULL},
                                 {out[0].id, MTR_LEDGER_DUPLICATE, NULL, NULL}};
    assert_int_equal(mtr_ledger_record_results(fx->l, bad, 2, fx->err, sizeof fx->err),
                     MTR_ERR_STATE);
    assert_int_equal(fx_rec(fx, again[0].customer, "api", T10).status, MTR_LEDGER_IN_FLIGHT);
    assert_int_equal(fx_total(fx, NULL, NULL).accepted, 1);
    mtr_ledger_records_clear(out, 2);
    mtr_ledger_records_clear(again, 1);
}

static void test_take_sendable_honours_max_and_waits_for_the_hour(void **state)
{
    fx_t *fx = *state;
    mtr_ledger_contribution_t c[5];
    char names[5][8];
    for (int i = 0; i < 5; i++) {
        snprintf(names[i], sizeof names[i], "c%d", i);
        c[i] = fx_contrib(names[i], "api", T10, 0, U, MTR_ROUND_UP);
    }
    close_confirm(fx, T10, c, 5);
    mtr_ledger_record_t out[3];
    assert_int_equal(fx_take(fx, out, 3), 3);
    mtr_ledger_records_clear(out, 3);
    assert_int_equal(fx_take(fx, out, 3), 2);
    mtr_ledger_records_clear(out, 2);
    assert_int_equal(fx_take(fx, out, 3), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)
        T(test_addition_to_a_sent_record_goes_to_the_next_hour),
        T(test_addition_hops_past_sent_hours_into_a_record_of_the_same_close),
        T(test_stale_record_is_folded_into_the_next_unsent_hour_with_provenance),
        T(test_timestamp_out_of_bounds_folds_the_record),
        T(test_attempted_record_is_resent_identically_not_folded),
        T(test_rounding_down_carries_the_remainder),
        T(test_rounding_up_carries_a_negative_remainder),
        T(test_rounding_up_of_thirds_bills_once_and_carries_minus_one_tenth),
        T(test_rounding_nearest_bills_the_rounded_running_total),
        T(test_allocations_sum_exactly_to_the_quantity),
        T(test_results_set_states_and_reject_records_not_in_flight),
        T(test_take_sendable_honours_max_and_waits_for_the_hour),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
