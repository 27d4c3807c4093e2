/* Confirming a close settles all its records with one query: it must leave
 * the ledger exactly as settling each record on its own (ledger_settle, the
 * per-record path roll-backs use, in the order the close first wrote the
 * records) would. Two ledger files get the same closes; one is confirmed
 * with mtr_ledger_confirm_commit, the other by the per-record reference,
 * and their records, allocations, keys, carries, contributions,
 * provenance and checkpoints are compared row by row. */
#include "test_ledger_fixture.h"

#include "ledger/ledger_int.h"

#define N_CUSTOMERS 2500 /* x 4 dimensions = 10k records an hour */
#define N_PARTS     8

typedef struct pair {
    fx_t a, b; /* a: bulk confirm; b: per-record reference */
} pair_t;

static void pair_open_one(fx_t *fx, const char *name)
{
    snprintf(fx->dir, sizeof fx->dir, "/tmp/mtr-ledger-%s-XXXXXX", name);
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof fx->path, "%s/ledger.db", fx->dir);
    mtr_clock_manual_init(&fx->clock, T10 + H + 6 * 60000);
    fx_open(fx);
}

static int pair_setup(void **state)
{
    pair_t *p = mtr_calloc(1, sizeof *p);
    pair_open_one(&p->a, "bulk");
    pair_open_one(&p->b, "ref");
    *state = p;
    return 0;
}

static int pair_teardown(void **state)
{
    pair_t *p = *state;
    fx_t *both[] = {&p->a, &p->b};
    for (int i = 0; i < 2; i++) {
        mtr_ledger_free(both[i]->l);
        char cmd[160];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", both[i]->dir);
        if (system(cmd) != 0)
            return -1;
    }
    mtr_free(p);
    return 0;
}

/* The per-record path: confirm the parts, then ledger_settle each record in
 * the order the close first wrote it (its contributions by topic,
 * partition and id). */
static void confirm_reference(fx_t *fx, int64_t close_id)
{
    mtr_ledger_t *l = fx->l;
    assert_int_equal(ledger_begin(l, fx->err, sizeof fx->err), MTR_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(l->db,
                                        "SELECT topic, part FROM close_parts WHERE close_id=?1"
                                        " AND state=0 ORDER BY topic, part",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, close_id);
    while (sqlite3_step(st) == SQLITE_ROW) {
        char *topic = mtr_strdup((const char *)sqlite3_column_text(st, 0));
        assert_int_equal(ledger_confirm_part(l, close_id, topic, sqlite3_column_int(st, 1), fx->err,
                                             sizeof fx->err),
                         MTR_OK);
        mtr_free(topic);
    }
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_prepare_v2(l->db,
                                        "SELECT record_id FROM contributions WHERE close_id=?1"
                                        " ORDER BY topic, part, id",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, close_id);
    ledger_ids_t ids = {0};
    assert_int_equal(ledger_ids_collect(l, st, &ids, fx->err, sizeof fx->err), MTR_OK);
    sqlite3_finalize(st);
    for (size_t i = 0; i < ids.n; i++) {
        bool seen = false;
        for (size_t j = i; j-- > 0 && !seen;)
            seen = ids.ids[j] == ids.ids[i];
        if (!seen)
            assert_int_equal(ledger_settle(l, ids.ids[i], fx->err, sizeof fx->err), MTR_OK);
    }
    mtr_free(ids.ids);
    assert_int_equal(ledger_commit(l, fx->err, sizeof fx->err), MTR_OK);
}

/* Every row of a query as text, one line each. */
static char *dump(fx_t *fx, const char *sql)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(fx->l->db, sql, -1, &st, NULL), SQLITE_OK);
    size_t len = 0, cap = 4096;
    char *out = mtr_malloc(cap);
    out[0] = '\0';
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const char *v = (const char *)sqlite3_column_text(st, c);
            size_t need = strlen(v ? v : "NULL") + 2;
            while (len + need + 1 > cap)
                out = mtr_realloc(out, cap *= 2);
            len += (size_t)snprintf(out + len, cap - len, "%s%c", v ? v : "NULL",
                                    c + 1 < sqlite3_column_count(st) ? '|' : '\n');
        }
    }
    sqlite3_finalize(st);
    return out;
}

static const char *const tables[] = {
    "SELECT " LEDGER_RECORD_COLUMNS " FROM records ORDER BY id",
    "SELECT record_id, tags, quantity FROM allocations ORDER BY record_id, tags",
    "SELECT * FROM keys ORDER BY id",
    "SELECT * FROM carries ORDER BY key_id",
    "SELECT * FROM contributions ORDER BY id",
    "SELECT * FROM provenance ORDER BY id",
    "SELECT * FROM close_parts ORDER BY close_id, topic, part",
    "SELECT * FROM checkpoints ORDER BY topic, part",
};

static void assert_same_ledgers(pair_t *p)
{
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        char *a = dump(&p->a, tables[t]), *b = dump(&p->b, tables[t]);
        if (strcmp(a, b) != 0)
            fail_msg("bulk and per-record confirm differ in: %s", tables[t]);
        mtr_free(a);
        mtr_free(b);
    }
}

static const char *const dims[] = {"api_calls", "storage_gb", "seats", "requests"};
static const mtr_record_tag_t tags_search[] = {{"team", "search"}};
static const mtr_record_tag_t tags_ads[] = {{"team", "ads"}, {"env", "prod"}};

typedef struct load {
    char customers[N_CUSTOMERS][16];
    mtr_ledger_contribution_t c[4 * N_CUSTOMERS * 3];
    size_t n;
    uint64_t rng;
} load_t;

static uint64_t next(load_t *w)
{
    w->rng = w->rng * 6364136223846793005ull + 1442695040888963407ull;
    return w->rng >> 33;
}

/* Adds one contribution: fractional quantities (some zero), any of three
 * tag sets, rounding by dimension. */
static void add(load_t *w, size_t customer, size_t dim, int64_t hour, int32_t partition)
{
    mtr_ledger_contribution_t c =
        fx_contrib(w->customers[customer], dims[dim], hour, partition,
                   next(w) % 7 == 0 ? 0 : (int64_t)(next(w) % 5000000), (mtr_rounding_t)(dim % 3));
    switch (next(w) % 3) {
    case 1:
        c.tags = tags_search;
        c.n_tags = 1;
        break;
    case 2:
        c.tags = tags_ads;
        c.n_tags = 2;
        break;
    }
    w->c[w->n++] = c;
}

/* Closes `hours` for the partitions in [from, to) in both ledgers; returns
 * the close id (the same in both). */
static int64_t close_both(pair_t *p, load_t *w, int64_t hour, int32_t from, int32_t to,
                          int64_t offset)
{
    mtr_ledger_close_entry_t e[N_PARTS];
    mtr_ledger_partition_checkpoint_t cp[N_PARTS];
    size_t n = 0;
    for (int32_t part = from; part < to; part++, n++) {
        e[n] = (mtr_ledger_close_entry_t){"usage", part, hour, offset};
        cp[n] = (mtr_ledger_partition_checkpoint_t){"usage", part, offset, "tail"};
    }
    mtr_ledger_close_t close = {e, n, w->c, w->n, cp, n};
    int64_t ia, ib;
    assert_int_equal(mtr_ledger_close(p->a.l, &close, &ia, p->a.err, sizeof p->a.err), MTR_OK);
    assert_int_equal(mtr_ledger_close(p->b.l, &close, &ib, p->b.err, sizeof p->b.err), MTR_OK);
    assert_int_equal(ia, ib);
    w->n = 0;
    return ia;
}

static void confirm_both(pair_t *p, int64_t close_id)
{
    assert_int_equal(mtr_ledger_confirm_commit(p->a.l, close_id, p->a.err, sizeof p->a.err),
                     MTR_OK);
    confirm_reference(&p->b, close_id);
    assert_same_ledgers(p);
}

static int count_cb(const mtr_ledger_record_t *r, void *opaque)
{
    (void)r;
    (*(size_t *)opaque)++;
    return 0;
}

static void test_bulk_confirm_of_10k_records_matches_the_per_record_path(void **state)
{
    pair_t *p = *state;
    load_t *w = mtr_calloc(1, sizeof *w);
    w->rng = 7;
    for (size_t i = 0; i < N_CUSTOMERS; i++)
        snprintf(w->customers[i], sizeof w->customers[i], "cust-%05zu", i);

    /* Close 1: hour 10, every record, 8 partitions; one customer in ten
     * also shows up in a second partition; one key in twenty also gets its
     * next hour, listed first, so its carry flows in close order. */
    for (size_t i = 0; i < N_CUSTOMERS; i++)
        for (size_t d = 0; d < 4; d++) {
            int32_t part = (int32_t)(i % N_PARTS);
            if ((i + d) % 20 == 0)
                add(w, i, d, T10 + H, part);
            add(w, i, d, T10, part);
            if (i % 10 == 3)
                add(w, i, d, T10, (part + 1) % N_PARTS);
        }
    int64_t c1 = close_both(p, w, T10, 0, N_PARTS, 1000);
    confirm_both(p, c1);
    size_t records = 0;
    mtr_ledger_filter_t f;
    mtr_ledger_filter_init(&f);
    f.hour_to_ms = T10;
    assert_int_equal(mtr_ledger_list(p->a.l, &f, count_cb, &records, p->a.err, sizeof p->a.err),
                     MTR_OK);
    assert_int_equal(records, 4 * N_CUSTOMERS);

    /* Some hour-10 records are sent; later additions to them move on. */
    mtr_ledger_record_t out[200];
    size_t na = 0, nb = 0;
    assert_int_equal(
        mtr_ledger_take_sendable(p->a.l, T10 + 2 * H, 200, out, &na, p->a.err, sizeof p->a.err),
        MTR_OK);
    mtr_ledger_records_clear(out, na);
    assert_int_equal(
        mtr_ledger_take_sendable(p->b.l, T10 + 2 * H, 200, out, &nb, p->b.err, sizeof p->b.err),
        MTR_OK);
    mtr_ledger_records_clear(out, nb);
    assert_int_equal(na, nb);
    assert_same_ledgers(p);

    /* Close 2 (partitions 0-3) stays unconfirmed while close 3 (4-7)
     * adds to some of the same records: those wait for close 2. */
    for (size_t i = 0; i < N_CUSTOMERS; i += 3)
        for (size_t d = 0; d < 4; d++)
            add(w, i, d, T10 + H, (int32_t)(i % 4));
    int64_t c2 = close_both(p, w, T10 + H, 0, 4, 2000);
    for (size_t i = 0; i < N_CUSTOMERS; i += 2)
        for (size_t d = 0; d < 4; d++) {
            add(w, i, d, T10 + H, (int32_t)(4 + i % 4));
            if (i % 50 == 0)
                add(w, i, d, T10, (int32_t)(4 + i % 4)); /* to a sent record */
        }
    int64_t c3 = close_both(p, w, T10 + H, 4, N_PARTS, 2000);
    confirm_both(p, c3);
    confirm_both(p, c2);

    /* Confirming again changes nothing. */
    confirm_both(p, c3);
    mtr_free(w);
}

/* Independent of any path: the units billed for a key with one rounding
 * rule are round(total usage), and every decided record's allocations add
 * up to its quantity. */
static void test_bulk_confirm_bills_round_total_and_allocates_every_unit(void **state)
{
    pair_t *p = *state;
    fx_t *fx = &p->a;
    mtr_ledger_contribution_t c[6];
    /* 0.4 three times rounding down: 0, 0, 1; the middle hour is listed
     * first in the close, so the carry follows the close's order. */
    c[0] = fx_contrib("cust-a", "api", T10 + H, 0, 400000, MTR_ROUND_DOWN);
    c[1] = fx_contrib("cust-a", "api", T10, 0, 400000, MTR_ROUND_DOWN);
    c[2] = fx_contrib("cust-a", "api", T10 + 2 * H, 0, 400000, MTR_ROUND_DOWN);
    c[3] = fx_contrib("cust-b", "api", T10, 0, 2500000, MTR_ROUND_UP);
    c[4] = fx_contrib("cust-b", "api", T10, 0, 1500000, MTR_ROUND_UP);
    c[4].tags = tags_search;
    c[4].n_tags = 1;
    c[5] = fx_contrib("cust-b", "api", T10 + H, 0, 0, MTR_ROUND_UP);
    int64_t id;
    assert_int_equal(fx_close(fx, 0, T10, 100, 100, c, 6, &id), MTR_OK);
    assert_int_equal(mtr_ledger_confirm_commit(fx->l, id, fx->err, sizeof fx->err), MTR_OK);
    assert_int_equal(fx_rec(fx, "cust-a", "api", T10 + H).aws, 0);
    assert_int_equal(fx_rec(fx, "cust-a", "api", T10).aws, 0);
    assert_int_equal(fx_rec(fx, "cust-a", "api", T10 + 2 * H).aws, 1);
    assert_int_equal(fx_total(fx, "cust-a", "api").billed, 1);
    /* 2.5 + 1.5 = 4 exactly; the empty next hour bills 0. */
    assert_int_equal(fx_rec(fx, "cust-b", "api", T10).aws, 4);
    assert_int_equal(fx_rec(fx, "cust-b", "api", T10 + H).aws, 0);
    mtr_ledger_record_t out[8];
    size_t n = 0;
    assert_int_equal(
        mtr_ledger_take_sendable(fx->l, T10 + 3 * H, 8, out, &n, fx->err, sizeof fx->err), MTR_OK);
    assert_int_equal(n, 5);
    for (size_t i = 0; i < n; i++) {
        int64_t sum = 0;
        for (size_t j = 0; j < out[i].n_allocations; j++)
            sum += out[i].allocations[j].quantity;
        assert_int_equal(sum, out[i].aws_quantity);
        if (!strcmp(out[i].customer, "cust-b") && out[i].hour_ms == T10) {
            /* 2.5 untagged, 1.5 search: 4 units split 2.5:1.5 → 3 and 1
             * by largest remainder (2.5 and 1.5; tie to the first set). */
            assert_int_equal(out[i].n_allocations, 2);
            assert_int_equal(out[i].allocations[0].n_tags, 0);
            assert_int_equal(out[i].allocations[0].quantity, 3);
            assert_int_equal(out[i].allocations[1].quantity, 1);
        }
    }
    mtr_ledger_records_clear(out, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, pair_setup, pair_teardown)
        T(test_bulk_confirm_of_10k_records_matches_the_per_record_path),
        T(test_bulk_confirm_bills_round_total_and_allocates_every_unit),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
