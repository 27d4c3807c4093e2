/* The sender (sender.h): its thread, one pass from the ledger through the
 * emitter and back, the mapping of outcomes to ledger results, the
 * credentials adapter, and the bounded stop. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/fault.h"
#include "core/log.h"
#include "core/mem.h"
#include "emit/credentials.h"
#include "ledger/ledger.h"
#include "emit/sender.h"

#define MOD                     "sender"
#define DEFAULT_POLL_MS         1000
#define DEFAULT_MAX_INTERVAL_MS 60000
#define DEFAULT_BATCH           250
#define RESULTS_TRIES           3
#define RESULTS_RETRY_MS        200
/* While stopping, every reading of the emitter's monotonic clock is this much
 * later than the one before: backoffs and pacing waits are over at once, so
 * the pass ends as soon as the requests already on the wire are answered. */
#define STOP_CLOCK_STEP_MS (24 * MTR_MS_PER_HOUR)

/* The emitter's clock: the sender's clock, except that time runs out while
 * stopping (see STOP_CLOCK_STEP_MS). `clock` is first so the emitter's
 * mtr_clock_t pointer is this struct's. */
typedef struct emit_clock {
    mtr_clock_t clock;
    mtr_clock_t *inner;
    _Atomic bool *stopping;
    _Atomic int64_t skip_ms;
} emit_clock_t;

/* What the emitter said about one record of the pass. */
typedef struct slot {
    bool answered;
    mtr_emit_outcome_t outcome;
    char *metering_record_id;
    char *error;
} slot_t;

struct mtr_emit_sender {
    const mtr_config_t *cfg;
    mtr_clock_t *clock;
    mtr_ledger_t *ledger;
    mtr_emitter_t *emitter;
    emit_clock_t emit_clock;

    mtr_emit_credentials_fn user_credentials;
    void *user_credentials_ctx;
    mtr_cred_chain_t *chain;
    mtr_credentials_t creds; /* the chain's last answer, lent to the emitter */

    int64_t poll_ms;
    int64_t max_interval_ms;
    size_t batch;

    /* One pass's buffers, batch entries each. */
    mtr_ledger_record_t *records;
    mtr_record_t *emit;
    slot_t *slots;
    mtr_ledger_result_t *results;
    bool needs_requeue; /* results were not written: records still in_flight */

    pthread_t thread;
    bool started;
    _Atomic bool stopping;
    pthread_mutex_t mu; /* woken, stats */
    pthread_cond_t cond;
    bool woken;
    mtr_emit_sender_stats_t stats;
};

/* ---- clock and credentials ---- */

static int64_t emit_clock_wall(mtr_clock_t *c)
{
    emit_clock_t *ec = (emit_clock_t *)c;
    return mtr_clock_wall_ms(ec->inner);
}

static int64_t emit_clock_monotonic(mtr_clock_t *c)
{
    emit_clock_t *ec = (emit_clock_t *)c;
    int64_t skip = atomic_load(&ec->skip_ms);
    if (atomic_load(ec->stopping))
        skip = atomic_fetch_add(&ec->skip_ms, STOP_CLOCK_STEP_MS) + STOP_CLOCK_STEP_MS;
    return mtr_clock_monotonic_ms(ec->inner) + skip;
}

/* The emitter asks before every request. Refusing while stopping makes it
 * report the records not yet sent as DEFERRED: they stay sendable. */
static mtr_err_t sender_credentials(void *ctx, mtr_sigv4_credentials_t *out, char *errstr,
                                    size_t errstr_size)
{
    mtr_emit_sender_t *s = ctx;
    if (atomic_load(&s->stopping))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_AUTH,
                           "not sent: meterd is stopping; sent at the next start");
    if (s->user_credentials)
        return s->user_credentials(s->user_credentials_ctx, out, errstr, errstr_size);
    mtr_credentials_clear(&s->creds);
    mtr_err_t err = mtr_cred_chain_get(s->chain, &s->creds, errstr, errstr_size);
    if (err != MTR_OK)
        return err;
    *out = mtr_credentials_sigv4(&s->creds);
    return MTR_OK;
}

/* ---- set-up ---- */

mtr_err_t mtr_emit_sender_new(const mtr_config_t *cfg, const mtr_emit_sender_options_t *opts,
                              mtr_emit_sender_t **out, char *errstr, size_t errstr_size)
{
    static const mtr_emit_sender_options_t defaults = {0};
    if (!opts)
        opts = &defaults;
    *out = NULL;
    mtr_emit_sender_t *s = mtr_calloc(1, sizeof *s);
    s->cfg = cfg;
    s->clock = opts->clock ? opts->clock : mtr_clock_system();
    s->poll_ms = opts->poll_interval_ms > 0 ? opts->poll_interval_ms : DEFAULT_POLL_MS;
    s->max_interval_ms =
        opts->max_interval_ms > 0 ? opts->max_interval_ms : DEFAULT_MAX_INTERVAL_MS;
    if (s->max_interval_ms < s->poll_ms)
        s->max_interval_ms = s->poll_ms;
    s->batch = opts->batch_size ? opts->batch_size : DEFAULT_BATCH;
    s->user_credentials = opts->credentials;
    s->user_credentials_ctx = opts->credentials_ctx;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);

    s->emit_clock =
        (emit_clock_t){.clock = {.wall_ms = emit_clock_wall, .monotonic_ms = emit_clock_monotonic},
                       .inner = s->clock,
                       .stopping = &s->stopping};
    if (!s->user_credentials) {
        mtr_cred_chain_options_t co = {
            .profile = cfg->aws.profile, .region = cfg->aws.region, .clock = s->clock};
        s->chain = mtr_cred_chain_new(&co);
    }
    mtr_emitter_options_t eo = {.config = cfg,
                                .credentials = sender_credentials,
                                .credentials_ctx = s,
                                .transport = opts->transport,
                                .ca_file = opts->ca_file,
                                .clock = &s->emit_clock.clock,
                                .backoff_base_ms = opts->backoff_base_ms,
                                .backoff_cap_ms = opts->backoff_cap_ms};
    /* The emitter owns the transport from here on, also when it fails. */
    mtr_err_t err = mtr_emitter_new(&eo, &s->emitter, errstr, errstr_size);
    if (err != MTR_OK)
        goto fail;

    const char *path = opts->ledger_path ? opts->ledger_path : cfg->ledger.path;
    mtr_ledger_options_t lo = {.clock = s->clock,
                               .max_record_age_ms = cfg->window.max_record_age_ms};
    char lerr[384];
    err = mtr_ledger_open(path ? path : "", &lo, &s->ledger, lerr, sizeof lerr);
    if (err != MTR_OK) {
        mtr_err_set(errstr, errstr_size, err, "sender: ledger %s: %s", path ? path : "(none)",
                    lerr);
        goto fail;
    }
    size_t requeued = 0;
    err = mtr_ledger_requeue_in_flight(s->ledger, &requeued, lerr, sizeof lerr);
    if (err != MTR_OK) {
        mtr_err_set(errstr, errstr_size, err,
                    "sender: putting in-flight records back to sendable: %s", lerr);
        goto fail;
    }
    if (requeued)
        mtr_info(MOD,
                 "%zu records were in flight when meterd last stopped: they are sent again "
                 "unchanged",
                 requeued);
    s->stats.requeued = requeued;

    s->records = mtr_calloc(s->batch, sizeof *s->records);
    s->emit = mtr_calloc(s->batch, sizeof *s->emit);
    s->slots = mtr_calloc(s->batch, sizeof *s->slots);
    s->results = mtr_calloc(s->batch, sizeof *s->results);
    *out = s;
    return MTR_OK;
fail:
    mtr_emit_sender_free(s);
    return err;
}

void mtr_emit_sender_free(mtr_emit_sender_t *s)
{
    if (!s)
        return;
    mtr_emit_sender_stop(s);
    mtr_emitter_free(s->emitter);
    mtr_ledger_free(s->ledger);
    mtr_credentials_clear(&s->creds);
    mtr_cred_chain_free(s->chain);
    mtr_free(s->records);
    mtr_free(s->emit);
    mtr_free(s->slots);
    mtr_free(s->results);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->mu);
    mtr_free(s);
}

/* ---- one pass ---- */

static void on_result(void *ctx, const mtr_emit_result_t *res)
{
    mtr_emit_sender_t *s = ctx;
    slot_t *slot = &s->slots[res->record - s->emit];
    mtr_free(slot->metering_record_id);
    mtr_free(slot->error);
    *slot = (slot_t){.answered = true, .outcome = res->outcome};
    if (res->metering_record_id)
        slot->metering_record_id = mtr_strdup(res->metering_record_id);
    if (res->outcome == MTR_EMIT_ACCEPTED)
        return;
    char text[512];
    if (res->outcome == MTR_EMIT_DEFERRED && atomic_load(&s->stopping))
        snprintf(text, sizeof text, "not sent: meterd was stopping");
    else
        snprintf(text, sizeof text, "%s: %s", mtr_err_name(res->err),
                 res->detail[0] ? res->detail : mtr_err_str(res->err));
    slot->error = mtr_strdup(text);
}

static void format_hour(int64_t ms, char out[24])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 24, "%Y-%m-%dT%H:%MZ", &tm);
}

/* Turns the emitter's outcome for record i into a ledger result, logging
 * the ones an operator must look at. The result borrows the slot's strings. */
static void map_result(mtr_emit_sender_t *s, size_t i, mtr_emit_sender_stats_t *pass)
{
    const mtr_ledger_record_t *r = &s->records[i];
    slot_t *slot = &s->slots[i];
    mtr_ledger_result_t *res = &s->results[i];
    *res = (mtr_ledger_result_t){.id = r->id, .status = MTR_LEDGER_SENDABLE};
    if (!slot->answered) {
        /* The emitter promises one outcome per record; should it ever not
         * give one, the record is simply sent again. */
        slot->error = mtr_strdup("no outcome reported for the record: sent again");
        res->error = slot->error;
        pass->outcomes[MTR_EMIT_RETRY_EXHAUSTED]++;
        return;
    }
    if (slot->outcome == MTR_EMIT_ACCEPTED &&
        (!slot->metering_record_id || !slot->metering_record_id[0])) {
        slot->error = mtr_strdup("Success without a MeteringRecordId: sent again");
        res->error = slot->error;
        pass->outcomes[MTR_EMIT_RETRY_EXHAUSTED]++;
        return;
    }
    pass->outcomes[slot->outcome]++;
    res->error = slot->error;
    char hour[24];
    format_hour(r->hour_ms, hour);
    switch (slot->outcome) {
    case MTR_EMIT_ACCEPTED:
        res->status = MTR_LEDGER_ACCEPTED;
        res->metering_record_id = slot->metering_record_id;
        res->error = NULL;
        break;
    case MTR_EMIT_DUPLICATE:
        res->status = MTR_LEDGER_DUPLICATE;
        mtr_error(MOD,
                  "ALERT DuplicateRecord: record %lld (%s, customer %s, dimension %s, hour %s, "
                  "quantity %lld): AWS already holds a different quantity for this hour and "
                  "did not bill this one; see `meterd records list --status duplicate`",
                  (long long)r->id, r->scope, r->customer, r->dimension, hour,
                  (long long)r->aws_quantity);
        break;
    case MTR_EMIT_CUSTOMER_NOT_SUBSCRIBED:
        res->status = MTR_LEDGER_NOT_SUBSCRIBED;
        mtr_error(MOD,
                  "ALERT CustomerNotSubscribed: record %lld (%s, customer %s, dimension %s, "
                  "hour %s, quantity %lld) was not billed: the customer has no subscription "
                  "to the product",
                  (long long)r->id, r->scope, r->customer, r->dimension, hour,
                  (long long)r->aws_quantity);
        break;
    case MTR_EMIT_STALE:
        res->status = MTR_LEDGER_STALE_MOVED;
        mtr_warn(MOD,
                 "record %lld (customer %s, dimension %s, hour %s) is too old for AWS: its "
                 "units move to the next unsent hour",
                 (long long)r->id, r->customer, r->dimension, hour);
        break;
    case MTR_EMIT_PARKED:
        res->status = MTR_LEDGER_PARKED;
        mtr_error(MOD,
                  "record %lld (%s, customer %s, dimension %s, hour %s) is parked: %s; fix "
                  "the cause and resubmit it",
                  (long long)r->id, r->scope, r->customer, r->dimension, hour, slot->error);
        break;
    case MTR_EMIT_RETRY_EXHAUSTED:
    case MTR_EMIT_DEFERRED:
        res->status = MTR_LEDGER_SENDABLE;
        break;
    }
}

/* One transaction for the whole pass; a busy or failing database is tried
 * again briefly, since until the results are written the records stay
 * in_flight. */
static mtr_err_t write_results(mtr_emit_sender_t *s, size_t n, char *errstr, size_t errstr_size)
{
    mtr_err_t err = MTR_OK;
    for (int attempt = 1; attempt <= RESULTS_TRIES; attempt++) {
        err = mtr_ledger_record_results(s->ledger, s->results, n, errstr, errstr_size);
        if (err != MTR_ERR_DB)
            break;
        if (attempt < RESULTS_TRIES) {
            struct timespec ts = {0, RESULTS_RETRY_MS * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (err != MTR_OK) {
        mtr_error(MOD,
                  "the results of %zu records could not be written to the ledger (%s): they go "
                  "back to sendable and are sent again unchanged",
                  n, errstr);
        s->needs_requeue = true;
    }
    return err;
}

static bool pass_failed(const mtr_emit_sender_stats_t *p)
{
    uint64_t answered = p->outcomes[MTR_EMIT_ACCEPTED] + p->outcomes[MTR_EMIT_DUPLICATE] +
                        p->outcomes[MTR_EMIT_CUSTOMER_NOT_SUBSCRIBED] +
                        p->outcomes[MTR_EMIT_STALE] + p->outcomes[MTR_EMIT_PARKED];
    uint64_t again = p->outcomes[MTR_EMIT_RETRY_EXHAUSTED] + p->outcomes[MTR_EMIT_DEFERRED];
    return again > 0 && answered == 0;
}

static void log_pass(const mtr_emit_sender_stats_t *p)
{
    const uint64_t *o = p->outcomes;
    uint64_t problems = p->records - o[MTR_EMIT_ACCEPTED];
    mtr_log(problems ? MTR_LOG_WARN : MTR_LOG_INFO, MOD,
            "pass: %llu records in %lld ms: %llu accepted, %llu problems (%llu duplicate, %llu "
            "not subscribed, %llu stale, %llu parked, %llu to send again)",
            (unsigned long long)p->records, (long long)p->last_pass_ms,
            (unsigned long long)o[MTR_EMIT_ACCEPTED], (unsigned long long)problems,
            (unsigned long long)o[MTR_EMIT_DUPLICATE],
            (unsigned long long)o[MTR_EMIT_CUSTOMER_NOT_SUBSCRIBED],
            (unsigned long long)o[MTR_EMIT_STALE], (unsigned long long)o[MTR_EMIT_PARKED],
            (unsigned long long)(o[MTR_EMIT_RETRY_EXHAUSTED] + o[MTR_EMIT_DEFERRED]));
}

static void add_stats(mtr_emit_sender_t *s, mtr_emit_sender_stats_t *p, bool failed)
{
    pthread_mutex_lock(&s->mu);
    s->stats.passes += p->passes;
    s->stats.records += p->records;
    for (size_t k = 0; k <= MTR_EMIT_DEFERRED; k++)
        s->stats.outcomes[k] += p->outcomes[k];
    s->stats.ledger_errors += p->ledger_errors;
    s->stats.consecutive_failures = failed ? s->stats.consecutive_failures + 1 : 0;
    if (p->records)
        s->stats.last_pass_ms = p->last_pass_ms;
    p->consecutive_failures = s->stats.consecutive_failures;
    pthread_mutex_unlock(&s->mu);
}

static mtr_err_t do_pass(mtr_emit_sender_t *s, mtr_emit_sender_stats_t *p, char *errstr,
                         size_t errstr_size)
{
    memset(p, 0, sizeof *p);
    if (s->needs_requeue) {
        size_t k;
        mtr_err_t err = mtr_ledger_requeue_in_flight(s->ledger, &k, errstr, errstr_size);
        if (err != MTR_OK) {
            p->ledger_errors++;
            return err;
        }
        s->needs_requeue = false;
    }
    size_t n = 0;
    mtr_err_t err = mtr_ledger_take_sendable(s->ledger, mtr_clock_wall_ms(s->clock), s->batch,
                                             s->records, &n, errstr, errstr_size);
    if (err != MTR_OK) {
        p->ledger_errors++;
        return err;
    }
    if (n == 0)
        return MTR_OK;
    int64_t t0 = mtr_clock_monotonic_ms(s->clock);
    for (size_t i = 0; i < n; i++) {
        s->slots[i] = (slot_t){0};
        mtr_ledger_record_to_emit(&s->records[i], &s->emit[i]);
    }
    mtr_emitter_send(s->emitter, s->emit, n, on_result, s);
    /* A crash here leaves the records in_flight, answered or not: the next
     * start resends them unchanged. */
    MTR_FAULT("emit.sender.before_results");
    p->passes = 1;
    p->records = n;
    for (size_t i = 0; i < n; i++)
        map_result(s, i, p);
    err = write_results(s, n, errstr, errstr_size);
    if (err != MTR_OK)
        p->ledger_errors++;
    p->last_pass_ms = mtr_clock_monotonic_ms(s->clock) - t0;
    log_pass(p);
    for (size_t i = 0; i < n; i++) {
        mtr_free(s->slots[i].metering_record_id);
        mtr_free(s->slots[i].error);
        s->slots[i] = (slot_t){0};
    }
    mtr_ledger_records_clear(s->records, n);
    return err;
}

static bool run_pass(mtr_emit_sender_t *s, mtr_emit_sender_stats_t *p, mtr_err_t *err, char *errstr,
                     size_t errstr_size)
{
    *err = do_pass(s, p, errstr, errstr_size);
    bool failed = *err != MTR_OK || pass_failed(p);
    add_stats(s, p, failed);
    return failed;
}

mtr_err_t mtr_emit_sender_run_once(mtr_emit_sender_t *s, mtr_emit_sender_stats_t *pass,
                                   char *errstr, size_t errstr_size)
{
    mtr_emit_sender_stats_t local;
    mtr_err_t err;
    run_pass(s, pass ? pass : &local, &err, errstr, errstr_size);
    return err;
}

void mtr_emit_sender_stats(mtr_emit_sender_t *s, mtr_emit_sender_stats_t *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->stats;
    pthread_mutex_unlock(&s->mu);
}

/* ---- the thread ---- */

/* Waits delay_ms, or less when woken (not while failures are waited out)
 * or stopped. Mutex held by the caller. */
static void wait_locked(mtr_emit_sender_t *s, int64_t delay_ms, bool failing)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += delay_ms / 1000;
    deadline.tv_nsec += (delay_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    while (!atomic_load(&s->stopping) && !(s->woken && !failing)) {
        int rc = pthread_cond_timedwait(&s->cond, &s->mu, &deadline);
        if (rc == ETIMEDOUT)
            break;
    }
    s->woken = false;
}

static void *thread_main(void *arg)
{
    mtr_emit_sender_t *s = arg;
    char errstr[512];
    while (!atomic_load(&s->stopping)) {
        mtr_emit_sender_stats_t p;
        mtr_err_t err;
        bool failed = run_pass(s, &p, &err, errstr, sizeof errstr);
        if (err != MTR_OK)
            mtr_error(MOD, "ledger: %s", errstr);
        int64_t delay = s->poll_ms;
        int failures = p.consecutive_failures;
        pthread_mutex_lock(&s->mu);
        if (failed) {
            int shift = failures < 20 ? failures : 20;
            delay = s->poll_ms << shift;
            if (delay > s->max_interval_ms || delay <= 0)
                delay = s->max_interval_ms;
            if (failures == 1 || delay < s->max_interval_ms)
                mtr_warn(MOD, "nothing answered in %d passes in a row: next pass in %lld ms",
                         failures, (long long)delay);
        } else if (p.records == s->batch) {
            delay = 0; /* more is waiting */
        }
        if (delay > 0)
            wait_locked(s, delay, failed);
        pthread_mutex_unlock(&s->mu);
    }
    return NULL;
}

mtr_err_t mtr_emit_sender_start(mtr_emit_sender_t *s, char *errstr, size_t errstr_size)
{
    if (s->started)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_STATE, "sender: already started");
    atomic_store(&s->stopping, false);
    int rc = pthread_create(&s->thread, NULL, thread_main, s);
    if (rc != 0)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_IO, "sender: cannot start a thread: %s",
                           strerror(rc));
    s->started = true;
    return MTR_OK;
}

void mtr_emit_sender_wake(mtr_emit_sender_t *s)
{
    pthread_mutex_lock(&s->mu);
    s->woken = true;
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

void mtr_emit_sender_stop(mtr_emit_sender_t *s)
{
    if (!s->started)
        return;
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stopping, true);
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->started = false;
    atomic_store(&s->stopping, false);
}
