/* Shared set-up of the ledger tests: a fresh ledger file in a temporary
 * directory with a manual clock, and short-hands for closes and look-ups. */
#ifndef MTR_TEST_LEDGER_FIXTURE_H
#define MTR_TEST_LEDGER_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"
#include "ledger/ledger.h"

/* 2026-11-26T10:00:00Z */
#define T10 1795687200000LL
#define H   MTR_MS_PER_HOUR
#define U   1000000LL /* one unit in micro-units */

typedef struct fx {
    char dir[64];
    char path[128];
    mtr_clock_t clock;
    mtr_ledger_t *l;
    char err[512];
} fx_t;

static inline void fx_open(fx_t *fx)
{
    mtr_ledger_options_t o = {.clock = &fx->clock};
    assert_int_equal(mtr_ledger_open(fx->path, &o, &fx->l, fx->err, sizeof fx->err), MTR_OK);
}

static inline int fx_setup(void **state)
{
    fx_t *fx = mtr_calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/mtr-ledger-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof fx->path, "%s/ledger.db", fx->dir);
    /* The close of hour 10 happens a little after 11:00. */
    mtr_clock_manual_init(&fx->clock, T10 + H + 6 * 60000);
    fx_open(fx);
    *state = fx;
    return 0;
}

static inline int fx_teardown(void **state)
{
    fx_t *fx = *state;
    mtr_ledger_free(fx->l);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        return -1;
    mtr_free(fx);
    return 0;
}

static inline mtr_ledger_contribution_t fx_contrib(const char *customer, const char *dimension,
                                                   int64_t hour, int32_t partition, int64_t micro,
                                                   mtr_rounding_t rounding)
{
    return (mtr_ledger_contribution_t){
        .key = {MTR_LEDGER_SCOPE_PRODUCT, "prod-1", MTR_LEDGER_CUSTOMER_IDENTIFIER, customer,
                dimension},
        .hour_ms = hour,
        .topic = "usage",
        .partition = partition,
        .quantity_micro = micro,
        .rounding = rounding,
    };
}

/* Closes `hour` for one partition with the given contributions. */
static inline mtr_err_t fx_close(fx_t *fx, int32_t partition, int64_t hour, int64_t close_offset,
                                 int64_t commit_offset, const mtr_ledger_contribution_t *c,
                                 size_t n, int64_t *close_id)
{
    mtr_ledger_close_entry_t e = {"usage", partition, hour, close_offset};
    mtr_ledger_partition_checkpoint_t cp = {"usage", partition, commit_offset, "tail"};
    mtr_ledger_close_t close = {&e, 1, c, n, &cp, 1};
    return mtr_ledger_close(fx->l, &close, close_id, fx->err, sizeof fx->err);
}

/* One record's row, looked up by (customer, dimension, hour). */
typedef struct fx_rec {
    bool found;
    int64_t id, micro, aws, moved_to;
    mtr_ledger_status_t status;
    int attempts;
    char mrid[64];
} fx_rec_t;

static inline int fx_rec_cb(const mtr_ledger_record_t *r, void *opaque)
{
    fx_rec_t *out = opaque;
    *out = (fx_rec_t){true,        r->id,     r->quantity_micro, r->aws_quantity,
                      r->moved_to, r->status, r->attempts,       ""};
    if (r->metering_record_id)
        snprintf(out->mrid, sizeof out->mrid, "%s", r->metering_record_id);
    return 1;
}

static inline fx_rec_t fx_rec(fx_t *fx, const char *customer, const char *dimension, int64_t hour)
{
    fx_rec_t r = {0};
    mtr_ledger_filter_t f;
    mtr_ledger_filter_init(&f);
    f.customer = customer;
    f.dimension = dimension;
    f.hour_from_ms = f.hour_to_ms = hour;
    assert_int_equal(mtr_ledger_list(fx->l, &f, fx_rec_cb, &r, fx->err, sizeof fx->err), MTR_OK);
    return r;
}

static inline int fx_total_cb(const mtr_ledger_total_t *t, void *opaque)
{
    *(mtr_ledger_total_t *)opaque = *t;
    ((mtr_ledger_total_t *)opaque)->customer = NULL;
    ((mtr_ledger_total_t *)opaque)->dimension = NULL;
    return 1;
}

static inline mtr_ledger_total_t fx_total(fx_t *fx, const char *customer, const char *dimension)
{
    mtr_ledger_total_t t = {0};
    mtr_ledger_filter_t f;
    mtr_ledger_filter_init(&f);
    f.customer = customer;
    f.dimension = dimension;
    assert_int_equal(mtr_ledger_totals(fx->l, &f, fx_total_cb, &t, fx->err, sizeof fx->err),
                     MTR_OK);
    return t;
}

static inline size_t fx_take(fx_t *fx, mtr_ledger_record_t *out, size_t max)
{
    size_t n = 0;
    assert_int_equal(mtr_ledger_take_sendable(fx->l, mtr_clock_wall_ms(&fx->clock), max, out, &n,
                                              fx->err, sizeof fx->err),
                     MTR_OK);
    return n;
}

#endif
