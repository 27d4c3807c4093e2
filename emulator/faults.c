/* Fault injection and outcome counters of the emulator. The dice come from
 * one splitmix64 stream per emulator, seeded by the user, behind a mutex:
 * the same seed and the same sequence of requests give the same faults. */
#include <string.h>

#include "core/mem.h"
#include "emulator/emulator_int.h"

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

mtr_err_t mtr_emulator_faults_check(const mtr_emulator_faults_t *faults, char *errstr,
                                    size_t errstr_size)
{
    const struct {
        const char *name;
        double v;
    } ratios[] = {
        {"throttle-ratio", faults->throttle_ratio},
        {"error-ratio", faults->error_ratio},
        {"unprocessed-ratio", faults->unprocessed_ratio},
        {"drop-after-apply-ratio", faults->drop_after_apply_ratio},
    };
    for (size_t i = 0; i < sizeof ratios / sizeof ratios[0]; i++)
        if (!(ratios[i].v >= 0.0 && ratios[i].v <= 1.0))
            return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                               "emulator: %s %g is out of range (expected 0 to 1)", ratios[i].name,
                               ratios[i].v);
    if (faults->latency_ms < 0 || faults->latency_ms > 60000)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "emulator: latency %lld ms is out of range (expected 0 to 60000)",
                           (long long)faults->latency_ms);
    return MTR_OK;
}

void mtr_emu_faults_init(mtr_emu_faults_t *f, const mtr_emulator_faults_t *cfg)
{
    pthread_mutex_init(&f->mu, NULL);
    f->cfg = *cfg;
    f->rng = cfg->seed;
}

void mtr_emu_faults_destroy(mtr_emu_faults_t *f)
{
    pthread_mutex_destroy(&f->mu);
}

void mtr_emu_faults_set(mtr_emu_faults_t *f, const mtr_emulator_faults_t *cfg)
{
    pthread_mutex_lock(&f->mu);
    f->cfg = *cfg;
    f->rng = cfg->seed;
    pthread_mutex_unlock(&f->mu);
}

mtr_emulator_faults_t mtr_emu_faults_get(mtr_emu_faults_t *f)
{
    pthread_mutex_lock(&f->mu);
    mtr_emulator_faults_t cfg = f->cfg;
    pthread_mutex_unlock(&f->mu);
    return cfg;
}

bool mtr_emu_faults_roll(mtr_emu_faults_t *f, double ratio)
{
    /* Ratios 0 and 1 do not consume the stream, so turning one fault on or
     * off fully leaves the others' sequence unchanged. */
    if (ratio <= 0.0)
        return false;
    if (ratio >= 1.0)
        return true;
    pthread_mutex_lock(&f->mu);
    uint64_t r = splitmix64(&f->rng);
    pthread_mutex_unlock(&f->mu);
    return (double)(r >> 11) * 0x1.0p-53 < ratio;
}

void mtr_emu_counters_reset(mtr_emu_counters_t *c)
{
    atomic_store(&c->requests, 0);
    atomic_store(&c->answered_ok, 0);
    atomic_store(&c->throttled, 0);
    atomic_store(&c->internal_errors, 0);
    atomic_store(&c->dropped, 0);
    atomic_store(&c->auth_failures, 0);
    atomic_store(&c->rejected, 0);
    atomic_store(&c->records_success, 0);
    atomic_store(&c->records_idempotent, 0);
    atomic_store(&c->records_duplicate, 0);
    atomic_store(&c->records_not_subscribed, 0);
    atomic_store(&c->records_unprocessed, 0);
    for (int i = 0; i < MTR_EMU_E__COUNT; i++)
        atomic_store(&c->by_error[i], 0);
}

void mtr_emu_counters_count_error(mtr_emu_counters_t *c, mtr_emu_errtype_t type)
{
    atomic_fetch_add(&c->by_error[type], 1);
    if (type == MTR_EMU_E_THROTTLING)
        atomic_fetch_add(&c->throttled, 1);
    else if (type == MTR_EMU_E_INTERNAL)
        atomic_fetch_add(&c->internal_errors, 1);
    else if (mtr_emu_error_is_auth(type))
        atomic_fetch_add(&c->auth_failures, 1);
    else
        atomic_fetch_add(&c->rejected, 1);
}

void mtr_emu_counters_snapshot(mtr_emu_counters_t *c, mtr_emulator_stats_t *out)
{
    memset(out, 0, sizeof *out);
    out->requests = atomic_load(&c->requests);
    out->answered_ok = atomic_load(&c->answered_ok);
    out->throttled = atomic_load(&c->throttled);
    out->internal_errors = atomic_load(&c->internal_errors);
    out->dropped = atomic_load(&c->dropped);
    out->auth_failures = atomic_load(&c->auth_failures);
    out->rejected = atomic_load(&c->rejected);
    out->records_success = atomic_load(&c->records_success);
    out->records_idempotent = atomic_load(&c->records_idempotent);
    out->records_duplicate = atomic_load(&c->records_duplicate);
    out->records_not_subscribed = atomic_load(&c->records_not_subscribed);
    out->records_unprocessed = atomic_load(&c->records_unprocessed);
}

cJSON *mtr_emu_counters_to_json(mtr_emu_counters_t *c, size_t stored)
{
    mtr_emulator_stats_t s;
    mtr_emu_counters_snapshot(c, &s);
    cJSON *o = cJSON_CreateObject();
    cJSON *req = cJSON_AddObjectToObject(o, "requests");
    cJSON_AddNumberToObject(req, "total", (double)s.requests);
    cJSON_AddNumberToObject(req, "ok", (double)s.answered_ok);
    cJSON_AddNumberToObject(req, "throttled", (double)s.throttled);
    cJSON_AddNumberToObject(req, "internal_error", (double)s.internal_errors);
    cJSON_AddNumberToObject(req, "dropped", (double)s.dropped);
    cJSON_AddNumberToObject(req, "auth_failed", (double)s.auth_failures);
    cJSON_AddNumberToObject(req, "rejected", (double)s.rejected);
    cJSON *rec = cJSON_AddObjectToObject(o, "records");
    cJSON_AddNumberToObject(rec, "success", (double)s.records_success);
    cJSON_AddNumberToObject(rec, "idempotent_repeat", (double)s.records_idempotent);
    cJSON_AddNumberToObject(rec, "duplicate", (double)s.records_duplicate);
    cJSON_AddNumberToObject(rec, "not_subscribed", (double)s.records_not_subscribed);
    cJSON_AddNumberToObject(rec, "unprocessed", (double)s.records_unprocessed);
    cJSON_AddNumberToObject(rec, "stored", (double)stored);
    cJSON *errs = cJSON_AddObjectToObject(o, "errors");
    for (int t = 0; t < MTR_EMU_E__COUNT; t++) {
        uint64_t n = atomic_load(&c->by_error[t]);
        if (n)
            cJSON_AddNumberToObject(errs, mtr_emu_error_name((mtr_emu_errtype_t)t), (double)n);
    }
    return o;
}
