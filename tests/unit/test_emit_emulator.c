/* The emitter against the strict local Metering Service (emulator/): every
 * request passes its SigV4 and contract checks, and under injected faults
 * (throttling, 5xx, unprocessed records, connections dropped after the
 * records were applied) every record is accepted exactly once and no
 * DuplicateRecord ever results from the emitter's own retries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/mem.h"
#include "emit/emitter.h"
#include "emulator/emulator.h"

#define AKID    "AKIDEMITTERTEST"
#define SECRET  "emitter/test/secret"
#define PRODUCT "prod-emit1"
#define N       200

static mtr_dimension_conf_t dims[] = {{.name = "api_calls"}, {.name = "seats"}};
static mtr_product_conf_t products[] = {
    {.product_code = PRODUCT, .dimensions = dims, .n_dimensions = 2}};
static mtr_emulator_credential_t creds[] = {{.access_key_id = AKID, .secret_access_key = SECRET}};

typedef struct fixture {
    mtr_config_t cfg;
    mtr_emulator_t *em;
    char url[64];
    mtr_emitter_t *emitter;
    mtr_record_t records[N];
    char customers[N][24];
    int outcomes[MTR_EMIT_DEFERRED + 1];
    int calls[N];
} fixture_t;

static mtr_err_t credentials(void *ctx, mtr_sigv4_credentials_t *out, char *errstr,
                             size_t errstr_size)
{
    (void)ctx;
    (void)errstr;
    (void)errstr_size;
    out->access_key_id = AKID;
    out->secret_access_key = SECRET;
    out->session_token = NULL;
    return MTR_OK;
}

static void on_result(void *ctx, const mtr_emit_result_t *res)
{
    fixture_t *f = ctx;
    f->outcomes[res->outcome]++;
    f->calls[res->record - f->records]++;
}

static void start(fixture_t *f, const mtr_emulator_faults_t *faults, int max_attempts,
                  int max_in_flight)
{
    memset(f, 0, sizeof *f);
    f->cfg.products = products;
    f->cfg.n_products = 1;
    f->cfg.emulator.credentials = creds;
    f->cfg.emulator.n_credentials = 1;
    f->cfg.emulator.region = "us-east-1";
    mtr_emulator_options_t opts = {.faults = *faults};
    char err[256];
    f->em = mtr_emulator_start(&f->cfg, &opts, err, sizeof err);
    if (!f->em)
        fail_msg("emulator did not start: %s", err);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%u/", (unsigned)mtr_emulator_port(f->em));
    f->cfg.aws.region = "us-east-1";
    f->cfg.aws.endpoint = f->url;
    f->cfg.emit.max_attempts = max_attempts;
    f->cfg.emit.max_in_flight = max_in_flight;
    f->cfg.emit.request_timeout_ms = 5000;
    mtr_emitter_options_t eo = {
        .config = &f->cfg, .credentials = credentials, .backoff_base_ms = 1, .backoff_cap_ms = 20};
    assert_int_equal(mtr_emitter_new(&eo, &f->emitter, err, sizeof err), MTR_OK);
    int64_t hour = mtr_hour_floor_ms(mtr_clock_wall_ms(mtr_clock_system())) - MTR_MS_PER_HOUR;
    for (int i = 0; i < N; i++) {
        snprintf(f->customers[i], sizeof f->customers[i], "cust-%03d", i / 2);
        f->records[i] = (mtr_record_t){.product_code = PRODUCT,
                                       .customer_identifier = f->customers[i],
                                       .dimension = i % 2 ? "seats" : "api_calls",
                                       .hour_start_ms = hour,
                                       .quantity = i + 1,
                                       .id = i};
    }
}

static void stop(fixture_t *f)
{
    mtr_emitter_free(f->emitter);
    mtr_emulator_stop(f->em);
}

static void test_emulator_accepts_every_record_the_emitter_sends(void **state)
{
    (void)state;
    static fixture_t f;
    mtr_emulator_faults_t none = {0};
    start(&f, &none, 3, 4);
    mtr_emitter_send(f.emitter, f.records, N, on_result, &f);
    for (int i = 0; i < N; i++)
        assert_int_equal(f.calls[i], 1);
    assert_int_equal(f.outcomes[MTR_EMIT_ACCEPTED], N);
    mtr_emulator_stats_t st;
    mtr_emulator_get_stats(f.em, &st);
    assert_int_equal(st.auth_failures, 0);
    assert_int_equal(st.rejected, 0);
    assert_int_equal(st.records_success, N);
    assert_int_equal(st.requests, N / 25);
    stop(&f);
}

static void test_faults_lose_nothing_and_never_cause_a_duplicate(void **state)
{
    (void)state;
    static fixture_t f;
    mtr_emulator_faults_t faults = {.throttle_ratio = 0.2,
                                    .error_ratio = 0.15,
                                    .unprocessed_ratio = 0.2,
                                    .drop_after_apply_ratio = 0.2,
                                    .seed = 11};
    /* One request at a time: the emulator rolls its faults per request in
     * arrival order, so a sequential client meets the same faults every run. */
    start(&f, &faults, 30, 1);
    mtr_emitter_send(f.emitter, f.records, N, on_result, &f);
    assert_int_equal(f.outcomes[MTR_EMIT_ACCEPTED], N);
    mtr_emulator_stats_t st;
    mtr_emulator_get_stats(f.em, &st);
    assert_int_equal(st.records_duplicate, 0);
    assert_int_equal(st.stored, N);
    assert_int_equal(st.records_success, N);
    /* The faults really happened. */
    assert_true(st.throttled > 0);
    assert_true(st.internal_errors > 0);
    assert_true(st.dropped > 0);
    assert_true(st.records_unprocessed > 0);
    assert_true(st.records_idempotent > 0);
    stop(&f);
}

static void test_unknown_dimension_is_parked_and_the_rest_accepted(void **state)
{
    (void)state;
    static fixture_t f;
    mtr_emulator_faults_t none = {0};
    start(&f, &none, 3, 4);
    f.records[30].dimension = "not_a_dimension";
    mtr_emitter_send(f.emitter, f.records, N, on_result, &f);
    assert_int_equal(f.outcomes[MTR_EMIT_PARKED], 1);
    assert_int_equal(f.outcomes[MTR_EMIT_ACCEPTED], N - 1);
    stop(&f);
}

int main(void)
{
    mtr_log_set_level(MTR_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emulator_accepts_every_record_the_emitter_sends),
        cmocka_unit_test(test_faults_lose_nothing_and_never_cause_a_duplicate),
        cmocka_unit_test(test_unknown_dimension_is_parked_and_the_rest_accepted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
