/* The sender against the strict local Metering Service (emulator/) and a
 * real ledger file: what the ledger says was accepted is exactly what the
 * emulator holds, under faults, across a crash mid-flight, with poisoned
 * and stale records, through an outage, and when the thread is stopped.
 *
 * With MTR_EMIT_CAPTURE_DIR set, every request body the sender sends is
 * also written to that directory (one file per request):
 * tests/peer/test_emit_request_model.py runs this program that way and
 * checks the bodies against botocore's service model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "ledger/ledger.h"
#include "emit/sender.h"
#include "emulator/emulator.h"

#define AKID    "AKIDSENDERTEST"
#define SECRET  "sender/test/secret"
#define PRODUCT "prod-send1"
#define LICENSE "arn:aws:license-manager::123456789012:license:l-0123456789abcdef"
#define ACCOUNT "123456789012"
#define MAXREC  600

extern char **environ;

static mtr_dimension_conf_t dims[] = {{.name = "api_calls"}, {.name = "seats"}};
static mtr_product_conf_t products[] = {
    {.product_code = PRODUCT, .dimensions = dims, .n_dimensions = 2}};
static mtr_emulator_credential_t creds[] = {{.access_key_id = AKID, .secret_access_key = SECRET}};
/* Subscribed: cust-000..cust-199 and two accounts; "cust-unsub" is not. */
static char customer_names[202][16];
static char *customers[202];

typedef struct fx {
    char dir[64];
    char path[128];
    mtr_config_t cfg;
    char url[64];
    mtr_emulator_t *em;
    uint16_t port;
    mtr_ledger_t *l; /* the closing side's handle */
    int32_t partition;
    int64_t now_hour;
    char err[512];
} fx_t;

/* ---- request capture (for the peer test) ---- */

typedef struct capture {
    mtr_emit_transport_t base;
    mtr_emit_transport_t *inner;
    const char *dir;
} capture_t;

static _Atomic unsigned captured;

static mtr_err_t capture_submit(mtr_emit_transport_t *t, const mtr_emit_http_request_t *req,
                                char *errstr, size_t errstr_size)
{
    capture_t *c = (capture_t *)t;
    char path[512];
    snprintf(path, sizeof path, "%s/%ld-%06u.json", c->dir, (long)getpid(),
             atomic_fetch_add(&captured, 1));
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(req->body, 1, req->body_len, f);
        fclose(f);
    }
    return mtr_emit_transport_submit(c->inner, req, errstr, errstr_size);
}

static int capture_poll(mtr_emit_transport_t *t, int64_t timeout_ms,
                        mtr_emit_transport_done_fn done, void *ctx)
{
    return mtr_emit_transport_poll(((capture_t *)t)->inner, timeout_ms, done, ctx);
}

static size_t capture_in_flight(mtr_emit_transport_t *t)
{
    return mtr_emit_transport_in_flight(((capture_t *)t)->inner);
}

static void capture_destroy(mtr_emit_transport_t *t)
{
    mtr_emit_transport_destroy(((capture_t *)t)->inner);
    mtr_free(t);
}

static const mtr_emit_transport_vtable_t capture_vt = {capture_submit, capture_poll,
                                                       capture_in_flight, capture_destroy};

/* NULL (libcurl) unless capturing. */
static mtr_emit_transport_t *test_transport(void)
{
    const char *dir = getenv("MTR_EMIT_CAPTURE_DIR");
    if (!dir || !*dir)
        return NULL;
    capture_t *c = mtr_calloc(1, sizeof *c);
    c->base.vt = &capture_vt;
    c->inner = mtr_emit_transport_curl_new(NULL);
    c->dir = dir;
    return &c->base;
}

/* ---- fixture ---- */

static mtr_err_t fixed_credentials(void *ctx, mtr_sigv4_credentials_t *out, char *errstr,
                                   size_t errstr_size)
{
    (void)ctx;
    (void)errstr;
    (void)errstr_size;
    *out = (mtr_sigv4_credentials_t){.access_key_id = AKID, .secret_access_key = SECRET};
    return MTR_OK;
}

static void config_init(mtr_config_t *cfg, const char *url)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->products = products;
    cfg->n_products = 1;
    cfg->emulator.credentials = creds;
    cfg->emulator.n_credentials = 1;
    cfg->emulator.region = "us-east-1";
    cfg->emulator.customers = customers;
    cfg->emulator.n_customers = 202;
    cfg->aws.region = "us-east-1";
    cfg->aws.endpoint = (char *)url;
    cfg->emit.max_attempts = 3;
    cfg->emit.max_in_flight = 4;
    cfg->emit.request_timeout_ms = 5000;
}

/* On fx->port when it is set (an outage that ends), else on a new port:
 * a port given up can be taken by another process meanwhile. */
static void emulator_start(fx_t *fx, const mtr_emulator_faults_t *faults, int64_t max_age_ms)
{
    mtr_emulator_options_t o = {.port = fx->port, .max_record_age_ms = max_age_ms};
    if (faults)
        o.faults = *faults;
    char err[256];
    for (int tries = 0; !fx->em && tries < 50; tries++) {
        fx->em = mtr_emulator_start(&fx->cfg, &o, err, sizeof err);
        if (!fx->em)
            usleep(100 * 1000); /* the old socket may linger a moment */
    }
    if (!fx->em)
        fail_msg("emulator did not start: %s", err);
    fx->port = mtr_emulator_port(fx->em);
    snprintf(fx->url, sizeof fx->url, "http://127.0.0.1:%u/", (unsigned)fx->port);
}

static void emulator_stop(fx_t *fx, bool keep_port)
{
    mtr_emulator_stop(fx->em);
    fx->em = NULL;
    if (!keep_port)
        fx->port = 0;
}

static int setup(void **state)
{
    fx_t *fx = mtr_calloc(1, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/mtr-sender-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof fx->path, "%s/ledger.db", fx->dir);
    config_init(&fx->cfg, fx->url);
    emulator_start(fx, NULL, 0);
    assert_int_equal(mtr_ledger_open(fx->path, NULL, &fx->l, fx->err, sizeof fx->err), MTR_OK);
    fx->now_hour = mtr_hour_floor_ms(mtr_clock_wall_ms(mtr_clock_system()));
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fx_t *fx = *state;
    mtr_ledger_free(fx->l);
    if (fx->em)
        emulator_stop(fx, false);
    char cmd[160];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx->dir);
    if (system(cmd) != 0)
        return -1;
    mtr_free(fx);
    return 0;
}

static mtr_emit_sender_t *sender_new(fx_t *fx, int64_t poll_ms)
{
    mtr_emit_sender_options_t o = {.ledger_path = fx->path,
                                   .credentials = fixed_credentials,
                                   .transport = test_transport(),
                                   .poll_interval_ms = poll_ms,
                                   .backoff_base_ms = 1,
                                   .backoff_cap_ms = 20};
    mtr_emit_sender_t *s;
    assert_int_equal(mtr_emit_sender_new(&fx->cfg, &o, &s, fx->err, sizeof fx->err), MTR_OK);
    return s;
}

/* ---- ledger content ---- */

/* Closes contributions as one new partition's close, confirming it unless
 * `confirm` is false. */
static void close_records(fx_t *fx, const mtr_ledger_contribution_t *c, size_t n, bool confirm)
{
    int32_t p = fx->partition++;
    mtr_ledger_contribution_t *cc = mtr_calloc(n, sizeof *cc);
    for (size_t i = 0; i < n; i++) {
        cc[i] = c[i];
        cc[i].topic = "usage";
        cc[i].partition = p;
    }
    mtr_ledger_close_entry_t e = {"usage", p, c[0].hour_ms, 100};
    mtr_ledger_partition_checkpoint_t cp = {"usage", p, 90, "tail"};
    mtr_ledger_close_t close = {&e, 1, cc, n, &cp, 1};
    int64_t id;
    assert_int_equal(mtr_ledger_close(fx->l, &close, &id, fx->err, sizeof fx->err), MTR_OK);
    if (confirm)
        assert_int_equal(mtr_ledger_confirm_commit(fx->l, id, fx->err, sizeof fx->err), MTR_OK);
    mtr_free(cc);
}

static mtr_ledger_contribution_t contrib(const char *customer, const char *dimension, int64_t hour,
                                         int64_t units)
{
    return (mtr_ledger_contribution_t){.key = {MTR_LEDGER_SCOPE_PRODUCT, PRODUCT,
                                               MTR_LEDGER_CUSTOMER_IDENTIFIER, customer, dimension},
                                       .hour_ms = hour,
                                       .quantity_micro = units * 1000000LL,
                                       .rounding = MTR_ROUND_UP};
}

static const mtr_record_tag_t tags_search[] = {{"team", "search"}};
static const mtr_record_tag_t tags_ads[] = {{"team", "ads"}, {"env", "prod"}};

/* Record i of a standard set: customer cust-<i/2>, dimension api_calls or
 * seats, i+1 units; every third record is split over two tag sets
 * ({team=search}: i+1, {team=ads, env=prod}: 2). */
static int64_t std_quantity(int i)
{
    return i % 3 == 0 ? i + 3 : i + 1;
}

static void populate(fx_t *fx, int n, int64_t hour)
{
    mtr_ledger_contribution_t *c = mtr_calloc((size_t)n * 2, sizeof *c);
    char(*names)[16] = mtr_calloc((size_t)n, sizeof *names);
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "cust-%03d", i / 2);
        const char *dim = i % 2 ? "seats" : "api_calls";
        c[k] = contrib(names[i], dim, hour, i + 1);
        if (i % 3 == 0) {
            c[k].tags = tags_search;
            c[k].n_tags = 1;
            c[++k] = contrib(names[i], dim, hour, 2);
            c[k].tags = tags_ads;
            c[k].n_tags = 2;
        }
        k++;
    }
    close_records(fx, c, k, true);
    mtr_free(names);
    mtr_free(c);
}

typedef struct rec_view {
    int64_t id, hour_ms, aws_quantity, moved_to;
    mtr_ledger_status_t status;
    char customer[32], dimension[32], mrid[64], error[256];
} rec_view_t;

typedef struct rec_list {
    rec_view_t items[MAXREC];
    size_t n;
} rec_list_t;

static int list_cb(const mtr_ledger_record_t *r, void *opaque)
{
    rec_list_t *out = opaque;
    assert_true(out->n < MAXREC);
    rec_view_t *v = &out->items[out->n++];
    *v = (rec_view_t){.id = r->id,
                      .hour_ms = r->hour_ms,
                      .aws_quantity = r->aws_quantity,
                      .moved_to = r->moved_to,
                      .status = r->status};
    snprintf(v->customer, sizeof v->customer, "%s", r->customer);
    snprintf(v->dimension, sizeof v->dimension, "%s", r->dimension);
    snprintf(v->mrid, sizeof v->mrid, "%s", r->metering_record_id ? r->metering_record_id : "");
    snprintf(v->error, sizeof v->error, "%s", r->last_error ? r->last_error : "");
    return 0;
}

/* Records with the given status (-1: all); static storage, one at a time. */
static rec_list_t *list(fx_t *fx, int status)
{
    static rec_list_t out;
    out.n = 0;
    mtr_ledger_filter_t f;
    mtr_ledger_filter_init(&f);
    f.status = status;
    assert_int_equal(mtr_ledger_list(fx->l, &f, list_cb, &out, fx->err, sizeof fx->err), MTR_OK);
    return &out;
}

/* ---- emulator content ---- */

static cJSON *emulator_records(fx_t *fx)
{
    char *text = mtr_emulator_records_json(fx->em);
    cJSON *root = cJSON_Parse(text);
    mtr_free(text);
    assert_non_null(root);
    return root;
}

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int64_t jnum(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    assert_true(cJSON_IsNumber(v));
    return (int64_t)v->valuedouble;
}

static const cJSON *find_emulated(const cJSON *root, const char *customer, const char *dimension,
                                  int64_t hour_ms)
{
    const cJSON *r;
    const cJSON *found = NULL;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(root, "records"))
    {
        const char *c = jstr(r, "customer_identifier");
        if (!c)
            c = jstr(r, "customer_aws_account_id");
        if (c && !strcmp(c, customer) && !strcmp(jstr(r, "dimension"), dimension) &&
            jnum(r, "hour") * 1000 == hour_ms) {
            assert_null(found); /* AWS keeps one record per customer, dimension, hour */
            found = r;
        }
    }
    return found;
}

/* The ledger's accepted records and the emulator's records are the same
 * set: customer, dimension, hour, quantity and MeteringRecordId; and the
 * emulator answered no DuplicateRecord. Returns the count. */
static size_t assert_ledger_equals_emulator(fx_t *fx)
{
    cJSON *root = emulator_records(fx);
    rec_list_t *acc = list(fx, MTR_LEDGER_ACCEPTED);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "records")),
                     (int)acc->n);
    assert_int_equal(jnum(root, "duplicate_records"), 0);
    for (size_t i = 0; i < acc->n; i++) {
        const rec_view_t *v = &acc->items[i];
        const cJSON *e = find_emulated(root, v->customer, v->dimension, v->hour_ms);
        if (!e)
            fail_msg("accepted record %lld (%s %s) is not at the emulator", (long long)v->id,
                     v->customer, v->dimension);
        assert_int_equal(jnum(e, "quantity"), v->aws_quantity);
        assert_string_equal(jstr(e, "metering_record_id"), v->mrid);
    }
    cJSON_Delete(root);
    return acc->n;
}

/* Allocations at the emulator are those of std_quantity's record i. */
static void assert_std_allocations(fx_t *fx, int n, int64_t hour)
{
    cJSON *root = emulator_records(fx);
    for (int i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "cust-%03d", i / 2);
        const cJSON *e = find_emulated(root, name, i % 2 ? "seats" : "api_calls", hour);
        assert_non_null(e);
        assert_int_equal(jnum(e, "quantity"), std_quantity(i));
        const cJSON *allocs = cJSON_GetObjectItemCaseSensitive(e, "allocations");
        if (i % 3 != 0) {
            assert_int_equal(cJSON_GetArraySize(allocs), 0);
            continue;
        }
        assert_int_equal(cJSON_GetArraySize(allocs), 2);
        bool seen_search = false, seen_ads = false;
        const cJSON *a;
        cJSON_ArrayForEach(a, allocs)
        {
            const cJSON *tags = cJSON_GetObjectItemCaseSensitive(a, "tags");
            const char *team = jstr(tags, "team");
            assert_non_null(team);
            if (!strcmp(team, "search")) {
                seen_search = true;
                assert_int_equal(cJSON_GetArraySize(tags), 1);
                assert_int_equal(jnum(a, "quantity"), i + 1);
            } else {
                seen_ads = true;
                assert_string_equal(team, "ads");
                assert_string_equal(jstr(tags, "env"), "prod");
                assert_int_equal(jnum(a, "quantity"), 2);
            }
        }
        assert_true(seen_search && seen_ads);
    }
    cJSON_Delete(root);
}

static mtr_emulator_stats_t emu_stats(fx_t *fx)
{
    mtr_emulator_stats_t st;
    mtr_emulator_get_stats(fx->em, &st);
    return st;
}

/* ---- tests ---- */

static void test_one_pass_bills_every_confirmed_record_exactly_as_the_ledger_holds_it(void **state)
{
    fx_t *fx = *state;
    int64_t hour = fx->now_hour - MTR_MS_PER_HOUR;
    populate(fx, 60, hour);
    /* Closed but its Kafka commit not confirmed: must not be sent. */
    mtr_ledger_contribution_t pending = contrib("cust-150", "api_calls", hour, 9);
    close_records(fx, &pending, 1, false);

    mtr_emit_sender_t *s = sender_new(fx, 0);
    mtr_emit_sender_stats_t p;
    assert_int_equal(mtr_emit_sender_run_once(s, &p, fx->err, sizeof fx->err), MTR_OK);
    assert_int_equal(p.records, 60);
    assert_int_equal(p.outcomes[MTR_EMIT_ACCEPTED], 60);
    assert_int_equal(assert_ledger_equals_emulator(fx), 60);
    assert_std_allocations(fx, 60, hour);
    assert_int_equal(list(fx, MTR_LEDGER_PENDING_COMMIT)->n, 1);
    assert_int_equal(emu_stats(fx).requests, 3); /* 25 + 25 + 10 */
    /* Nothing left: the next pass sends nothing. */
    assert_int_equal(mtr_emit_sender_run_once(s, &p, fx->err, sizeof fx->err), MTR_OK);
    assert_int_equal(p.records, 0);
    mtr_emit_sender_free(s);
}

static void test_account_and_license_records_are_billed_in_their_own_requests(void **state)
{
    fx_t *fx = *state;
    int64_t hour = fx->now_hour - 2 * MTR_MS_PER_HOUR;
    mtr_ledger_contribution_t c[4];
    c[0] = contrib(ACCOUNT, "api_calls", hour, 7);
    c[0].key.customer_kind = MTR_LEDGER_CUSTOMER_ACCOUNT;
    c[1] = contrib("cust-001", "seats", hour, 3);
    c[1].key.scope_kind = MTR_LEDGER_SCOPE_LICENSE;
    c[1].key.scope = LICENSE;
    c[1].tags = tags_ads;
    c[1].n_tags = 2;
    c[2] = contrib("210987654321", "seats", hour, 4);
    c[2].key.customer_kind = MTR_LEDGER_CUSTOMER_ACCOUNT;
    c[2].key.scope_kind = MTR_LEDGER_SCOPE_LICENSE;
    c[2].key.scope = LICENSE;
    c[3] = contrib("cust-002", "api_calls", hour, 5);
    close_records(fx, c, 4, true);

    mtr_emit_sender_t *s = sender_new(fx, 0);
    mtr_emit_sender_stats_t p;
    assert_int_equal(mtr_emit_sender_run_once(s, &p, fx->err, sizeof fx->err), MTR_OK);
    assert_int_equal(p.outcomes[MTR_EMIT_ACCEPTED], 4);
    assert_int_equal(assert_ledger_equals_emulator(fx), 4);
    /* AWS refuses requests mixing customer kinds or scopes: four requests. */
    assert_int_equal(emu_stats(fx).requests, 4);
    assert_int_equal(emu_stats(fx).rejected, 0);
    cJSON *root = emulator_records(fx);
    const cJSON *lic = find_emulated(root, "cust-001", "seats", hour);
    assert_non_null(lic);
    assert_string_equal(jstr(lic, "license_arn"), LICENSE);
    assert_null(jstr(lic, "product_code"));
    const cJSON *acct = find_emulated(root, ACCOUNT, "api_calls", hour);
    assert_non_null(acct);
    assert_string_equal(jstr(acct, "product_code"), PRODUCT);
    assert_int_equal(jnum(acct, "quantity"), 7);
    cJSON_Delete(root);
    mtr_emit_sender_free(s);
}

static void test_every_fault_still_bills_each_record_once_without_duplicates(void **state)
{
    fx_t *fx = *state;
    emulator_stop(fx, false);
    mtr_emulator_faults_t faults = {.throttle_ratio = 0.2,
                                    .error_ratio = 0.15,
                                    .unprocessed_ratio = 0.2,
                                    .drop_after_apply_ratio = 0.2,
                                    .latency_ms = 5,
                                    .seed = 7};
    emulator_start(fx, &faults, 0);
    /* Two attempts per pass: records run out of attempts and come back in
     * later passes, so the pass-level retry is exercised too. One request at
     * a time keeps the emulator's dice in one order. */
    fx->cfg.emit.max_attempts = 2;
    fx->cfg.emit.max_in_flight = 1;
    mtr_emit_sender_t *s = sender_new(fx, 0);

    /* Rounds of 100 records (one hour each) until every kind of fault has
     * happened at least once: the dice decide how many requests that takes
     * (libcurl may resend a request on a fresh connection by itself, which
     * shifts the sequence). */
    size_t total = 0;
    int passes = 0;
    mtr_emulator_stats_t es = {0};
    for (int round = 1; round <= 5; round++) {
        populate(fx, 100, fx->now_hour - round * MTR_MS_PER_HOUR);
        total += 100;
        for (int k = 0; k < 60 && list(fx, MTR_LEDGER_ACCEPTED)->n < total; k++, passes++)
            assert_int_equal(mtr_emit_sender_run_once(s, NULL, fx->err, sizeof fx->err), MTR_OK);
        assert_int_equal(list(fx, MTR_LEDGER_ACCEPTED)->n, total);
        es = emu_stats(fx);
        if (es.throttled && es.internal_errors && es.dropped && es.records_unprocessed &&
            es.records_idempotent)
            break;
    }
    mtr_emit_sender_stats_t st;
    mtr_emit_sender_stats(s, &st);
    assert_int_equal(st.outcomes[MTR_EMIT_ACCEPTED], total);
    assert_true(st.outcomes[MTR_EMIT_RETRY_EXHAUSTED] > 0);
    assert_true(passes > 1);
    assert_int_equal(assert_ledger_equals_emulator(fx), total);
    assert_int_equal(es.records_duplicate, 0);
    assert_int_equal(es.stored, total);
    /* The faults really happened. */
    assert_true(es.throttled > 0);
    assert_true(es.internal_errors > 0);
    assert_true(es.dropped > 0);
    assert_true(es.records_unprocessed > 0);
    assert_true(es.records_idempotent > 0);
    mtr_emit_sender_free(s);
}

/* The crashing process of the next test: one pass that dies (SIGKILL, at
 * the named fault point) after the records were sent and before their
 * results reach the ledger. */
static int crash_child(const char *ledger_path, const char *port)
{
    mtr_log_set_level(MTR_LOG_ERROR);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%s/", port);
    mtr_config_t cfg;
    config_init(&cfg, url);
    mtr_emit_sender_options_t o = {.ledger_path = ledger_path, .credentials = fixed_credentials};
    mtr_emit_sender_t *s;
    char err[512];
    if (mtr_emit_sender_new(&cfg, &o, &s, err, sizeof err) != MTR_OK) {
        fprintf(stderr, "crash child: %s\n", err);
        return 3;
    }
    mtr_emit_sender_run_once(s, NULL, err, sizeof err);
    mtr_emit_sender_free(s);
    return 4; /* the fault point did not fire */
}

static void test_records_in_flight_at_a_crash_are_resent_with_the_same_record_ids(void **state)
{
#ifndef MTR_FAULT_POINTS
    skip();
#endif
    fx_t *fx = *state;
    int64_t hour = fx->now_hour - MTR_MS_PER_HOUR;
    populate(fx, 50, hour);

    char self[512], port[16];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(len > 0);
    self[len] = '\0';
    snprintf(port, sizeof port, "%u", (unsigned)fx->port);
    char *argv[] = {self, "--crash-child", fx->path, port, NULL};
    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    char **env = mtr_calloc(n_env + 2, sizeof *env);
    for (size_t i = 0; i < n_env; i++)
        env[i] = environ[i];
    env[n_env] = "METERD_FAULT=emit.sender.before_results";
    pid_t pid;
    assert_int_equal(posix_spawn(&pid, self, NULL, NULL, argv, env), 0);
    mtr_free(env);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    /* AWS applied everything; the ledger still says in flight. */
    assert_int_equal(list(fx, MTR_LEDGER_IN_FLIGHT)->n, 50);
    assert_int_equal(emu_stats(fx).stored, 50);
    cJSON *before = emulator_records(fx);

    mtr_emit_sender_t *s = sender_new(fx, 0);
    mtr_emit_sender_stats_t st;
    mtr_emit_sender_stats(s, &st);
    assert_int_equal(st.requeued, 50);
    assert_int_equal(mtr_emit_sender_run_once(s, NULL, fx->err, sizeof fx->err), MTR_OK);
    assert_int_equal(assert_ledger_equals_emulator(fx), 50);
    mtr_emulator_stats_t es = emu_stats(fx);
    assert_int_equal(es.records_duplicate, 0);
    assert_int_equal(es.records_idempotent, 50);
    assert_int_equal(es.stored, 50);
    /* The ids AWS gave the first send are the ledger's. */
    rec_list_t *acc = list(fx, MTR_LEDGER_ACCEPTED);
    for (size_t i = 0; i < acc->n; i++) {
        const cJSON *e = find_emulated(before, acc->items[i].customer, acc->items[i].dimension,
                                       acc->items[i].hour_ms);
        assert_non_null(e);
        assert_string_equal(jstr(e, "metering_record_id"), acc->items[i].mrid);
    }
    cJSON_Delete(before);
    mtr_emit_sender_free(s);
}

static void test_poisoned_records_are_set_aside_and_the_rest_billed(void **state)
{
    fx_t *fx = *state;
    int64_t hour = fx->now_hour - MTR_MS_PER_HOUR;
    populate(fx, 40, hour);
    mtr_ledger_contribution_t bad[2] = {contrib("cust-unsub", "api_calls", hour, 3),
                                        contrib("cust-007", "bogus_dimension", hour, 4)};
    close_records(fx, bad, 2, true);

    mtr_emit_sender_t *s = sender_new(fx, 0);
    mtr_emit_sender_stats_t p;
    assert_int_equal(mtr_emit_sender_run_once(s, &p, fx->err, sizeof fx->err), MTR_OK);
    assert_int_equal(p.outcomes[MTR_EMIT_ACCEPTED], 40);
    assert_int_equal(p.outcomes[MTR_EMIT_CUSTOMER_NOT_SUBSCRIBED], 1);
    assert_int_equal(p.outcomes[MTR_EMIT_PARKED], 1);
    rec_list_t *ns = list(fx, MTR_LEDGER_NOT_SUBSCRIBED);
    assert_int_equal(ns->n, 1);
    assert_string_equal(ns->items[0].customer, "cust-unsub");
    rec_list_t *parked = list(fx, MTR_LEDGER_PARKED);
    assert_int_equal(parked->n, 1);
    assert_string_equal(parked->items[0].dimension, "bogus_dimension");
    assert_non_null(strstr(parked->items[0].error, "InvalidUsageDimension"));
    assert_int_equal(assert_ledger_equals_emulator(fx), 40);
    assert_int_equal(list(fx, MTR_LEDGER_SENDABLE)->n, 0);
    mtr_emit_sender_free(s);
}

static void test_record_older_than_max_record_age_is_folded_and_its_target_billed(void **state)
{
    fx_t *fx = *state;
    int64_t old_hour = fx->now_hour - 8 * MTR_MS_PER_HOUR;
    mtr_ledger_contribution_t c = contrib("cust-010", "api_calls", old_hour, 5);
    close_records(fx, &c, 1, true);

    mtr_emit_sender_t *s = sender_new(fx, 0);
    assert_int_equal(mtr_emit_sender_run_once(s, NULL, fx->err, sizeof fx->err), MTR_OK);
    rec_list_t *all = list(fx, -1);
    assert_int_equal(all->n, 2);
    const rec_view_t *old = all->items[0].hour_ms == old_hour ? &all->items[0] : &all->items[1];
    const rec_view_t *target = old == &all->items[0] ? &all->items[1] : &all->items[0];
    assert_int_equal(old->status, MTR_LEDGER_STALE_MOVED);
    assert_int_equal(old->moved_to, target->id);
    assert_int_equal(target->status, MTR_LEDGER_ACCEPTED);
    assert_int_equal(target->aws_quantity, 5);
    assert_true(target->hour_ms > fx->now_hour - 6 * MTR_MS_PER_HOUR);
    assert_int_equal(assert_ledger_equals_emulator(fx), 1);
    mtr_emit_sender_free(s);
}

static void test_timestamp_out_of_bounds_answer_moves_the_units_until_aws_takes_them(void **state)
{
    fx_t *fx = *state;
    /* AWS's window is narrower than the ledger's here (2 h against 6 h). */
    emulator_stop(fx, false);
    emulator_start(fx, NULL, 2 * MTR_MS_PER_HOUR);
    int64_t hour = fx->now_hour - 3 * MTR_MS_PER_HOUR;
    mtr_ledger_contribution_t c = contrib("cust-011", "seats", hour, 6);
    close_records(fx, &c, 1, true);

    mtr_emit_sender_t *s = sender_new(fx, 0);
    for (int i = 0; i < 5 && list(fx, MTR_LEDGER_ACCEPTED)->n == 0; i++)
        assert_int_equal(mtr_emit_sender_run_once(s, NULL, fx->err, sizeof fx->err), MTR_OK);
    mtr_emit_sender_stats_t st;
    mtr_emit_sender_stats(s, &st);
    assert_true(st.outcomes[MTR_EMIT_STALE] >= 1);
    rec_list_t *acc = list(fx, MTR_LEDGER_ACCEPTED);
    assert_int_equal(acc->n, 1);
    assert_int_equal(acc->items[0].aws_quantity, 6);
    assert_true(acc->items[0].hour_ms > hour);
    assert_int_equal(list(fx, MTR_LEDGER_STALE_MOVED)->n, st.outcomes[MTR_EMIT_STALE]);
    assert_int_equal(assert_ledger_equals_emulator(fx), 1);
    mtr_emit_sender_free(s);
}

static void test_outage_keeps_records_sendable_with_the_error_then_bills_them(void **state)
{
    fx_t *fx = *state;
    populate(fx, 30, fx->now_hour - MTR_MS_PER_HOUR);
    mtr_emit_sender_t *s = sender_new(fx, 0);
    emulator_stop(fx, true);

    mtr_emit_sender_stats_t p;
    for (int i = 1; i <= 2; i++) {
        assert_int_equal(mtr_emit_sender_run_once(s, &p, fx->err, sizeof fx->err), MTR_OK);
        assert_int_equal(p.outcomes[MTR_EMIT_RETRY_EXHAUSTED], 30);
        assert_int_equal(p.consecutive_failures, i);
    }
    rec_list_t *sendable = list(fx, MTR_LEDGER_SENDABLE);
    assert_int_equal(sendable->n, 30);
    for (size_t i = 0; i < sendable->n; i++)
        assert_non_null(strstr(sendable->items[i].error, "TRANSPORT"));

    emulator_start(fx, NULL, 0); /* same port */
    assert_int_equal(mtr_emit_sender_run_once(s, &p, fx->err, sizeof fx->err), MTR_OK);
    assert_int_equal(p.outcomes[MTR_EMIT_ACCEPTED], 30);
    assert_int_equal(p.consecutive_failures, 0);
    assert_int_equal(assert_ledger_equals_emulator(fx), 30);
    mtr_emit_sender_free(s);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_thread_sends_at_once_when_woken(void **state)
{
    fx_t *fx = *state;
    mtr_emit_sender_t *s = sender_new(fx, 60000); /* would otherwise wait a minute */
    assert_int_equal(mtr_emit_sender_start(s, fx->err, sizeof fx->err), MTR_OK);
    usleep(100 * 1000); /* the first pass found nothing */
    populate(fx, 20, fx->now_hour - MTR_MS_PER_HOUR);
    int64_t t0 = mono_ms();
    mtr_emit_sender_wake(s);
    while (emu_stats(fx).stored < 20 && mono_ms() - t0 < 10000)
        usleep(5 * 1000);
    assert_int_equal(emu_stats(fx).stored, 20);
    t0 = mono_ms();
    mtr_emit_sender_stop(s);
    assert_true(mono_ms() - t0 < 2000);
    assert_int_equal(assert_ledger_equals_emulator(fx), 20);
    mtr_emit_sender_free(s);
}

static void test_stop_ends_the_pass_after_the_request_on_the_wire(void **state)
{
    fx_t *fx = *state;
    emulator_stop(fx, false);
    mtr_emulator_faults_t slow = {.latency_ms = 1500};
    emulator_start(fx, &slow, 0);
    fx->cfg.emit.max_in_flight = 1;
    populate(fx, 100, fx->now_hour - MTR_MS_PER_HOUR); /* four requests, one at a time */
    mtr_emit_sender_t *s = sender_new(fx, 0);
    assert_int_equal(mtr_emit_sender_start(s, fx->err, sizeof fx->err), MTR_OK);
    usleep(300 * 1000); /* the first request is on the wire */
    int64_t t0 = mono_ms();
    mtr_emit_sender_stop(s);
    int64_t took = mono_ms() - t0;
    assert_true(took < fx->cfg.emit.request_timeout_ms);
    /* The answered request is accepted, the rest wait, none is in flight. */
    assert_int_equal(list(fx, MTR_LEDGER_IN_FLIGHT)->n, 0);
    size_t accepted = assert_ledger_equals_emulator(fx);
    assert_int_equal(accepted, 25);
    rec_list_t *sendable = list(fx, MTR_LEDGER_SENDABLE);
    assert_int_equal(sendable->n, 75);
    assert_non_null(strstr(sendable->items[0].error, "stopping"));
    mtr_emit_sender_free(s);
}

static void test_failed_passes_space_out_instead_of_spinning(void **state)
{
    fx_t *fx = *state;
    populate(fx, 10, fx->now_hour - MTR_MS_PER_HOUR);
    emulator_stop(fx, false);
    mtr_emit_sender_options_t o = {.ledger_path = fx->path,
                                   .credentials = fixed_credentials,
                                   .poll_interval_ms = 5,
                                   .max_interval_ms = 400,
                                   .backoff_base_ms = 1,
                                   .backoff_cap_ms = 2};
    mtr_emit_sender_t *s;
    assert_int_equal(mtr_emit_sender_new(&fx->cfg, &o, &s, fx->err, sizeof fx->err), MTR_OK);
    assert_int_equal(mtr_emit_sender_start(s, fx->err, sizeof fx->err), MTR_OK);
    /* Growing waits: 10, 20, 40, 80, 160, 320, 400 ms... about 7 passes in
     * 1.2 s; a fixed 5 ms interval would make well over a hundred. */
    usleep(1200 * 1000);
    mtr_emit_sender_stop(s);
    mtr_emit_sender_stats_t st;
    mtr_emit_sender_stats(s, &st);
    assert_true(st.passes >= 4);
    assert_true(st.passes <= 12);
    assert_int_equal(st.consecutive_failures, (int)st.passes);
    assert_int_equal(list(fx, MTR_LEDGER_SENDABLE)->n, 10);
    mtr_emit_sender_free(s);
}

int main(int argc, char **argv)
{
    for (int i = 0; i < 200; i++)
        snprintf(customer_names[i], sizeof customer_names[i], "cust-%03d", i);
    snprintf(customer_names[200], sizeof customer_names[200], "%s", ACCOUNT);
    snprintf(customer_names[201], sizeof customer_names[201], "210987654321");
    for (int i = 0; i < 202; i++)
        customers[i] = customer_names[i];
    if (argc == 4 && !strcmp(argv[1], "--crash-child"))
        return crash_child(argv[2], argv[3]);

    mtr_log_set_level(MTR_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_one_pass_bills_every_confirmed_record_exactly_as_the_ledger_holds_it, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_account_and_license_records_are_billed_in_their_own_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_every_fault_still_bills_each_record_once_without_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_records_in_flight_at_a_crash_are_resent_with_the_same_record_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poisoned_records_are_set_aside_and_the_rest_billed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_record_older_than_max_record_age_is_folded_and_its_target_billed, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_timestamp_out_of_bounds_answer_moves_the_units_until_aws_takes_them, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_outage_keeps_records_sendable_with_the_error_then_bills_them, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thread_sends_at_once_when_woken, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_ends_the_pass_after_the_request_on_the_wire,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_passes_space_out_instead_of_spinning, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
