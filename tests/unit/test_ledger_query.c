/* Listing the ledger with filters and summing it per (customer, dimension).
 * `test_ledger_query --populate PATH` writes the same sample ledger for the
 * `meterd records list` integration test. */
#include "test_ledger_fixture.h"

/* Hours 10 and 11 for two customers and two dimensions; hour 10 of cust-a
 * accepted, cust-b's hour 10 parked with an error full of CSV specials. */
static void populate(mtr_ledger_t *l)
{
    char err[512];
    mtr_ledger_contribution_t c[] = {
        fx_contrib("cust-a", "api", T10, 0, 1500000, MTR_ROUND_UP),
        fx_contrib("cust-a", "storage", T10, 0, 2 * U, MTR_ROUND_UP),
        fx_contrib("cust,\"b\"", "api", T10, 0, 250000, MTR_ROUND_DOWN),
        fx_contrib("cust-a", "api", T10 + H, 0, 3 * U, MTR_ROUND_UP),
    };
    mtr_ledger_close_entry_t e = {"usage", 0, T10, 500};
    mtr_ledger_partition_checkpoint_t cp = {"usage", 0, 400, "tail"};
    mtr_ledger_close_t close = {&e, 1, c, 3, &cp, 1};
    int64_t id;
    assert_int_equal(mtr_ledger_close(l, &close, &id, err, sizeof err), MTR_OK);
    assert_int_equal(mtr_ledger_confirm_commit(l, id, err, sizeof err), MTR_OK);
    mtr_ledger_record_t out[4];
    size_t n;
    assert_int_equal(mtr_ledger_take_sendable(l, T10 + 2 * H, 4, out, &n, err, sizeof err), MTR_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++) {
        if (!strcmp(out[i].customer, "cust-a") && !strcmp(out[i].dimension, "api"))
            assert_int_equal(mtr_ledger_record_result(l, out[i].id, MTR_LEDGER_ACCEPTED, "mrid-a10",
                                                      NULL, err, sizeof err),
                             MTR_OK);
        else if (strcmp(out[i].customer, "cust-a"))
            assert_int_equal(mtr_ledger_record_result(l, out[i].id, MTR_LEDGER_PARKED, NULL,
                                                      "bad, \"quoted\"\nsecond line", err,
                                                      sizeof err),
                             MTR_OK);
    }
    mtr_ledger_records_clear(out, n);
    /* Hour 11 closed but not confirmed: pending_commit. */
    e = (mtr_ledger_close_entry_t){"usage", 0, T10 + H, 900};
    cp = (mtr_ledger_partition_checkpoint_t){"usage", 0, 800, "tail2"};
    close = (mtr_ledger_close_t){&e, 1, &c[3], 1, &cp, 1};
    assert_int_equal(mtr_ledger_close(l, &close, &id, err, sizeof err), MTR_OK);
}

static int populate_setup(void **state)
{
    fx_setup(state);
    populate(((fx_t *)*state)->l);
    return 0;
}

typedef struct seen {
    size_t n;
    int64_t ids[16];
} seen_t;

static int seen_cb(const mtr_ledger_record_t *r, void *opaque)
{
    seen_t *s = opaque;
    s->ids[s->n++] = r->id;
    return 0;
}

static size_t count(fx_t *fx, const mtr_ledger_filter_t *f)
{
    seen_t s = {0};
    assert_int_equal(mtr_ledger_list(fx->l, f, seen_cb, &s, fx->err, sizeof fx->err), MTR_OK);
    return s.n;
}

static void test_list_filters_by_customer_dimension_status_and_hours(void **state)
{
    fx_t *fx = *state;
    mtr_ledger_filter_t f;
    mtr_ledger_filter_init(&f);
    assert_int_equal(count(fx, &f), 4);
    assert_int_equal(count(fx, NULL), 4);
    f.customer = "cust-a";
    assert_int_equal(count(fx, &f), 3);
    f.dimension = "api";
    assert_int_equal(count(fx, &f), 2);
    f.status = MTR_LEDGER_ACCEPTED;
    assert_int_equal(count(fx, &f), 1);
    mtr_ledger_filter_init(&f);
    f.status = MTR_LEDGER_PENDING_COMMIT;
    assert_int_equal(count(fx, &f), 1);
    mtr_ledger_filter_init(&f);
    f.hour_from_ms = T10 + H;
    assert_int_equal(count(fx, &f), 1);
    f.hour_from_ms = T10;
    f.hour_to_ms = T10;
    assert_int_equal(count(fx, &f), 3);
    f.customer = "nobody";
    assert_int_equal(count(fx, &f), 0);
}

static void test_totals_sum_usage_billed_and_accepted_per_customer_dimension(void **state)
{
    fx_t *fx = *state;
    mtr_ledger_total_t t = fx_total(fx, "cust-a", "api");
    assert_int_equal(t.usage_micro, 4500000);
    assert_int_equal(t.billed, 2); /* hour 11 is not decided yet */
    assert_int_equal(t.accepted, 2);
    assert_int_equal(t.records, 2);
    t = fx_total(fx, "cust,\"b\"", "api");
    assert_int_equal(t.billed, 0); /* 0.25 rounded down */
}

static int stop_cb(const mtr_ledger_record_t *r, void *opaque)
{
    (void)r;
    ++*(int *)opaque;
    return 1;
}

static void test_list_stops_when_the_callback_asks(void **state)
{
    fx_t *fx = *state;
    int calls = 0;
    assert_int_equal(mtr_ledger_list(fx->l, NULL, stop_cb, &calls, fx->err, sizeof fx->err),
                     MTR_OK);
    assert_int_equal(calls, 1);
}

static void test_status_names_round_trip(void **state)
{
    (void)state;
    for (int s = 0; s < MTR_LEDGER_STATUS__COUNT; s++)
        assert_int_equal(mtr_ledger_status_parse(mtr_ledger_status_name((mtr_ledger_status_t)s)),
                         s);
    assert_int_equal(mtr_ledger_status_parse("sent"), -1);
    assert_string_equal(mtr_ledger_status_name((mtr_ledger_status_t)99), "unknown");
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--populate")) {
        mtr_clock_t clock;
        mtr_clock_manual_init(&clock, T10 + 2 * H);
        mtr_ledger_options_t o = {.clock = &clock};
        mtr_ledger_t *l;
        char err[512];
        if (mtr_ledger_open(argv[2], &o, &l, err, sizeof err) != MTR_OK) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        populate(l);
        mtr_ledger_free(l);
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list_filters_by_customer_dimension_status_and_hours,
                                        populate_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_totals_sum_usage_billed_and_accepted_per_customer_dimension, populate_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(test_list_stops_when_the_callback_asks, populate_setup,
                                        fx_teardown),
        cmocka_unit_test(test_status_names_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
