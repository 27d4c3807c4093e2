/* The emitter's state machine: jobs (one request's records) wait for their
 * backoff and the pacer, go out signed, and come back as per-record
 * outcomes, retries of the same records, or halves of a rejected request. */
#include "emit/emitter.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/mem.h"
#include "emit/batch.h"
#include "emit/codec.h"
#include "emit/pacer.h"

#define MOD "emit"

struct mtr_emitter {
    const mtr_config_t *config;
    char *url;
    char *host; /* Host header: what is signed is what goes on the wire */
    char *path;
    mtr_emit_credentials_fn credentials;
    void *credentials_ctx;
    mtr_emit_transport_t *transport;
    mtr_clock_t *clock;
    mtr_emit_sleep_fn sleep;
    void *sleep_ctx;
    mtr_emit_backoff_t backoff;
    mtr_emit_pacer_t pacer;
    int max_in_flight;
    int max_attempts;
    int64_t timeout_ms;
    mtr_emit_stats_t stats;
};

/* One request's worth of records; sent again unchanged after a retriable
 * failure, so AWS sees an identical (idempotent) request. */
typedef struct job {
    size_t *idx; /* into the send() call's records */
    size_t n;
    char *body; /* built at the first send, reused by retries */
    size_t body_len;
    int failures;
    int64_t not_before_ms;
    bool in_flight;
} job_t;

/* Records a send leaves waiting for a later one, told once per send with
 * the first reason rather than once per record. */
typedef struct waiting {
    size_t n;
    char reason[400];
} waiting_t;

/* The state of one mtr_emitter_send() call. */
typedef struct run {
    mtr_emitter_t *em;
    const mtr_record_t *records;
    int *sends;
    int *failures;
    mtr_emit_result_fn on_result;
    void *ctx;
    job_t **jobs;
    size_t n_jobs;
    size_t cap_jobs;
    waiting_t deferred, exhausted;
} run_t;

const char *mtr_emit_outcome_name(mtr_emit_outcome_t outcome)
{
    static const char *names[] = {"ACCEPTED", "CUSTOMER_NOT_SUBSCRIBED", "DUPLICATE", "STALE",
                                  "PARKED",   "RETRY_EXHAUSTED",         "DEFERRED"};
    return (unsigned)outcome < sizeof names / sizeof names[0] ? names[outcome] : "UNKNOWN";
}

mtr_err_t mtr_emit_endpoint_url(const char *region, const char *endpoint, char **url, char *errstr,
                                size_t errstr_size)
{
    *url = NULL;
    if (endpoint && *endpoint) {
        if (strncmp(endpoint, "https://", 8) != 0 && strncmp(endpoint, "http://", 7) != 0)
            return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                               "aws.endpoint \"%s\" must start with https:// (or http:// for a "
                               "local emulator)",
                               endpoint);
        *url = mtr_strdup(endpoint);
        return MTR_OK;
    }
    if (!region || !*region)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                           "aws.region is not set: set it (e.g. \"us-east-1\") or aws.endpoint");
    size_t len = strlen(region) + 64;
    *url = mtr_malloc(len);
    snprintf(*url, len, "https://metering.marketplace.%s.amazonaws.com/", region);
    return MTR_OK;
}

/* Host header and path of the endpoint, as libcurl will put them on the
 * wire (the port only when the URL names one). */
static mtr_err_t split_url(mtr_emitter_t *em, char *errstr, size_t errstr_size)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *path = NULL;
    mtr_err_t err = MTR_OK;
    if (curl_url_set(u, CURLUPART_URL, em->url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                          "aws.endpoint \"%s\" is not a URL with a host", em->url);
    } else {
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        curl_url_get(u, CURLUPART_PATH, &path, 0);
        size_t len = strlen(host) + (port ? strlen(port) : 0) + 2;
        em->host = mtr_malloc(len);
        snprintf(em->host, len, "%s%s%s", host, port ? ":" : "", port ? port : "");
        em->path = mtr_strdup(path && *path ? path : "/");
    }
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return err;
}

static void real_sleep(void *ctx, int64_t ms)
{
    (void)ctx;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

mtr_err_t mtr_emitter_new(const mtr_emitter_options_t *opts, mtr_emitter_t **out, char *errstr,
                          size_t errstr_size)
{
    *out = NULL;
    const mtr_config_t *cfg = opts->config;
    if (!cfg->aws.region || !*cfg->aws.region)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                           "aws.region is not set: requests are signed for a region (e.g. "
                           "\"us-east-1\")");
    mtr_emitter_t *em = mtr_calloc(1, sizeof *em);
    em->config = cfg;
    mtr_err_t err =
        mtr_emit_endpoint_url(cfg->aws.region, cfg->aws.endpoint, &em->url, errstr, errstr_size);
    if (err == MTR_OK)
        err = split_url(em, errstr, errstr_size);
    if (err != MTR_OK) {
        mtr_emit_transport_destroy(opts->transport);
        mtr_emitter_free(em);
        return err;
    }
    em->credentials = opts->credentials;
    em->credentials_ctx = opts->credentials_ctx;
    em->clock = opts->clock ? opts->clock : mtr_clock_system();
    em->sleep = opts->sleep ? opts->sleep : real_sleep;
    em->sleep_ctx = opts->sleep_ctx;
    em->max_in_flight = cfg->emit.max_in_flight > 0 ? cfg->emit.max_in_flight : 1;
    em->max_attempts = cfg->emit.max_attempts > 0 ? cfg->emit.max_attempts : 1;
    em->timeout_ms = cfg->emit.request_timeout_ms > 0 ? cfg->emit.request_timeout_ms : 10000;
    mtr_emit_backoff_init(&em->backoff, opts->backoff_base_ms > 0 ? opts->backoff_base_ms : 100,
                          opts->backoff_cap_ms > 0 ? opts->backoff_cap_ms : 20000, opts->rng,
                          opts->rng_ctx, (uint64_t)mtr_clock_monotonic_ms(em->clock) | 1);
    mtr_emit_pacer_init(&em->pacer, em->clock, cfg->emit.calls_per_second, opts->pacer_burst);
    if (opts->transport) {
        em->transport = opts->transport;
    } else {
        mtr_emit_curl_options_t co = {.max_connections = em->max_in_flight,
                                      .ca_file = opts->ca_file};
        em->transport = mtr_emit_transport_curl_new(&co);
    }
    *out = em;
    return MTR_OK;
}

void mtr_emitter_free(mtr_emitter_t *em)
{
    if (!em)
        return;
    mtr_emit_transport_destroy(em->transport);
    mtr_free(em->url);
    mtr_free(em->host);
    mtr_free(em->path);
    mtr_free(em);
}

void mtr_emitter_stats(const mtr_emitter_t *em, mtr_emit_stats_t *out)
{
    *out = em->stats;
}

/* ---- outcomes and jobs ---- */

/* Per-record problems (parked, stale, duplicate, not subscribed) are rare
 * one by one; a burst of them is held back with a count. */
static mtr_log_limiter_t record_limiter = MTR_LOG_LIMITER_INIT(20, 60000);

/* One line per kind of waiting: how many, why, and what to do. */
static void log_waiting(const run_t *run)
{
    if (run->deferred.n)
        mtr_error(MOD, "%zu record(s) wait, not sent: %s; they stay sendable for a later pass. %s",
                  run->deferred.n, run->deferred.reason,
                  strncmp(run->deferred.reason, "HTTP ", 5) /* no request: no credentials */
                      ? "Fix: give meterd AWS credentials (AWS_ACCESS_KEY_ID and "
                        "AWS_SECRET_ACCESS_KEY, aws.profile, or a role; see the README)"
                      : "Fix: check the credentials, aws.region and the product's API access");
    if (run->exhausted.n)
        mtr_warn(MOD,
                 "%zu record(s) wait: no answer after emit.max_attempts tries (last: %s); they "
                 "are sent again, unchanged, in a later pass",
                 run->exhausted.n, run->exhausted.reason);
}

static void report(run_t *run, size_t i, mtr_emit_outcome_t outcome, const char *id, mtr_err_t err,
                   const char *detail)
{
    const mtr_record_t *r = &run->records[i];
    mtr_emit_result_t res = {.record = r,
                             .outcome = outcome,
                             .metering_record_id = id,
                             .err = err,
                             .detail = detail ? detail : "",
                             .attempts = r->attempts + run->sends[i]};
    run->em->stats.outcomes[outcome]++;
    waiting_t *w = outcome == MTR_EMIT_DEFERRED          ? &run->deferred
                   : outcome == MTR_EMIT_RETRY_EXHAUSTED ? &run->exhausted
                                                         : NULL;
    if (w && w->n++ == 0) {
        snprintf(w->reason, sizeof w->reason, "%s", res.detail);
    } else if (!w && outcome != MTR_EMIT_ACCEPTED) {
        mtr_log_limited(&record_limiter, MTR_LOG_WARN, MOD,
                        "record %lld (customer %s, dimension %s, hour %lld): %s%s%s",
                        (long long)r->id, mtr_record_customer(r), r->dimension,
                        (long long)(r->hour_start_ms / 1000), mtr_emit_outcome_name(outcome),
                        res.detail[0] ? ": " : "", res.detail);
    }
    run->on_result(run->ctx, &res);
}

static job_t *add_job(run_t *run, const size_t *idx, size_t n, int failures, int64_t not_before)
{
    job_t *job = mtr_calloc(1, sizeof *job);
    job->idx = mtr_malloc(n * sizeof *job->idx);
    memcpy(job->idx, idx, n * sizeof *idx);
    job->n = n;
    job->failures = failures;
    job->not_before_ms = not_before;
    if (run->n_jobs == run->cap_jobs) {
        run->cap_jobs = run->cap_jobs ? run->cap_jobs * 2 : 16;
        run->jobs = mtr_realloc(run->jobs, run->cap_jobs * sizeof *run->jobs);
    }
    run->jobs[run->n_jobs++] = job;
    return job;
}

static void drop_job(run_t *run, job_t *job)
{
    for (size_t j = 0; j < run->n_jobs; j++) {
        if (run->jobs[j] == job) {
            memmove(&run->jobs[j], &run->jobs[j + 1], (run->n_jobs - j - 1) * sizeof job);
            run->n_jobs--;
            break;
        }
    }
    mtr_free(job->idx);
    mtr_free(job->body);
    mtr_free(job);
}

static int64_t now_ms(run_t *run)
{
    return mtr_clock_monotonic_ms(run->em->clock);
}

/* The records of `job` listed in keep[0..n_keep) go out again after a
 * backoff; the others have their outcome already. A job that keeps all its
 * records keeps its body, so the retry is byte-for-byte the same request. */
static void retry_later(run_t *run, job_t *job, const size_t *keep, size_t n_keep)
{
    if (n_keep == 0) {
        drop_job(run, job);
        return;
    }
    int failures = job->failures + 1;
    int64_t when = now_ms(run) + mtr_emit_backoff_delay_ms(&run->em->backoff, failures);
    run->em->stats.retries++;
    if (n_keep == job->n) {
        job->failures = failures;
        job->not_before_ms = when;
        return;
    }
    add_job(run, keep, n_keep, failures, when);
    drop_job(run, job);
}

/* A failure that says nothing against the records: each one counts a
 * failed attempt and is retried unless out of attempts. */
static void fail_retriable(run_t *run, job_t *job, const size_t *which, size_t n, mtr_err_t err,
                           const char *detail)
{
    size_t *keep = mtr_malloc((n ? n : 1) * sizeof *keep);
    size_t n_keep = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = which[k];
        if (++run->failures[i] >= run->em->max_attempts)
            report(run, i, MTR_EMIT_RETRY_EXHAUSTED, NULL, err, detail);
        else
            keep[n_keep++] = i;
    }
    if (n_keep)
        mtr_debug(MOD, "%zu records will be sent again: %s: %s", n_keep, mtr_err_name(err), detail);
    retry_later(run, job, keep, n_keep);
    mtr_free(keep);
}

static void all_records(run_t *run, job_t *job, mtr_emit_outcome_t outcome, mtr_err_t err,
                        const char *detail)
{
    for (size_t k = 0; k < job->n; k++)
        report(run, job->idx[k], outcome, NULL, err, detail);
    drop_job(run, job);
}

static void read_results(run_t *run, job_t *job, const char *body, size_t len)
{
    const mtr_record_t **recs = mtr_malloc(job->n * sizeof *recs);
    mtr_emit_answer_t *answers = mtr_malloc(job->n * sizeof *answers);
    for (size_t k = 0; k < job->n; k++)
        recs[k] = &run->records[job->idx[k]];
    char errstr[256];
    size_t unmatched = 0;
    mtr_err_t err = mtr_emit_codec_parse_response(body, len, recs, job->n, answers, &unmatched,
                                                  errstr, sizeof errstr);
    if (err != MTR_OK) {
        /* An unreadable 200: whether AWS applied the records is unknown. */
        fail_retriable(run, job, job->idx, job->n, MTR_ERR_TRANSPORT, errstr);
    } else {
        if (unmatched)
            mtr_warn(MOD, "%zu answers in a BatchMeterUsage response name no record sent",
                     unmatched);
        size_t *again = mtr_malloc(job->n * sizeof *again);
        size_t n_again = 0;
        char detail[128];
        for (size_t k = 0; k < job->n; k++) {
            size_t i = job->idx[k];
            switch (answers[k].status) {
            case MTR_EMIT_STATUS_SUCCESS:
                report(run, i, MTR_EMIT_ACCEPTED, answers[k].metering_record_id, MTR_OK, NULL);
                break;
            case MTR_EMIT_STATUS_CUSTOMER_NOT_SUBSCRIBED:
                report(run, i, MTR_EMIT_CUSTOMER_NOT_SUBSCRIBED, NULL, MTR_ERR_REJECTED,
                       "CustomerNotSubscribed");
                break;
            case MTR_EMIT_STATUS_DUPLICATE_RECORD:
                report(run, i, MTR_EMIT_DUPLICATE, NULL, MTR_ERR_REJECTED, "DuplicateRecord");
                break;
            case MTR_EMIT_STATUS_UNKNOWN:
                snprintf(detail, sizeof detail, "unexpected result status \"%s\"",
                         answers[k].status_text);
                report(run, i, MTR_EMIT_PARKED, NULL, MTR_ERR_PARSE, detail);
                break;
            case MTR_EMIT_STATUS_UNPROCESSED:
            case MTR_EMIT_STATUS_MISSING:
                again[n_again++] = i;
                break;
            }
        }
        if (n_again)
            fail_retriable(run, job, again, n_again, MTR_ERR_SERVER,
                           "left unprocessed by BatchMeterUsage");
        else
            drop_job(run, job);
        mtr_free(again);
    }
    mtr_free(recs);
    mtr_free(answers);
}

/* A request-level rejection: halves go out on their own until the record at
 * fault is alone. */
static void bisect(run_t *run, job_t *job, const mtr_emit_error_t *e, const char *detail)
{
    if (job->n == 1) {
        bool stale = e->action == MTR_EMIT_ACTION_STALE;
        report(run, job->idx[0], stale ? MTR_EMIT_STALE : MTR_EMIT_PARKED, NULL, e->err, detail);
        drop_job(run, job);
        return;
    }
    run->em->stats.bisections++;
    size_t half = job->n / 2;
    int64_t now = now_ms(run);
    add_job(run, job->idx, half, 0, now);
    add_job(run, job->idx + half, job->n - half, 0, now);
    drop_job(run, job);
}

static void on_response(void *ctx, const mtr_emit_http_response_t *resp)
{
    run_t *run = ctx;
    job_t *job = (job_t *)(uintptr_t)resp->tag;
    job->in_flight = false;
    if (resp->err != MTR_OK) {
        fail_retriable(run, job, job->idx, job->n, resp->err, resp->errstr);
        return;
    }
    mtr_emit_error_t e;
    mtr_emit_codec_classify(resp->status, resp->error_type, resp->body, resp->body_len, &e);
    char detail[400];
    snprintf(detail, sizeof detail, "HTTP %ld %s%s%s", resp->status, e.type[0] ? e.type : "",
             e.message[0] ? ": " : "", e.message);
    if (e.err == MTR_ERR_THROTTLED)
        run->em->stats.throttled++;
    switch (e.action) {
    case MTR_EMIT_ACTION_READ_RESULTS:
        read_results(run, job, resp->body, resp->body_len);
        break;
    case MTR_EMIT_ACTION_RETRY:
        fail_retriable(run, job, job->idx, job->n, e.err, detail);
        break;
    case MTR_EMIT_ACTION_STALE:
    case MTR_EMIT_ACTION_BISECT:
        bisect(run, job, &e, detail);
        break;
    case MTR_EMIT_ACTION_DEFER:
        /* Told once for the whole send by log_waiting. */
        all_records(run, job, MTR_EMIT_DEFERRED, e.err, detail);
        break;
    }
}

/* ---- sending ---- */

static mtr_err_t start(run_t *run, job_t *job, char *errstr, size_t errstr_size)
{
    mtr_emitter_t *em = run->em;
    if (!job->body) {
        const mtr_record_t **recs = mtr_malloc(job->n * sizeof *recs);
        for (size_t k = 0; k < job->n; k++)
            recs[k] = &run->records[job->idx[k]];
        job->body = mtr_emit_codec_request(recs, job->n, &job->body_len);
        mtr_free(recs);
    }
    /* Without credentials nothing is sent and nothing is wrong with the
     * records: every credential failure reads as MTR_ERR_AUTH (deferred). */
    mtr_sigv4_credentials_t creds = {0};
    if (!em->credentials)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_AUTH, "no credentials provider");
    if (em->credentials(em->credentials_ctx, &creds, errstr, errstr_size) != MTR_OK)
        return MTR_ERR_AUTH;
    mtr_err_t err;
    char amz_date[17];
    mtr_sigv4_format_amz_date(mtr_clock_wall_ms(em->clock), amz_date);
    mtr_http_header_t headers[7] = {
        {"Host", em->host},
        {"X-Amz-Date", amz_date},
        {"X-Amz-Target", "AWSMPMeteringService.BatchMeterUsage"},
        {"Content-Type", "application/x-amz-json-1.1"},
    };
    size_t nh = 4;
    if (creds.session_token && *creds.session_token)
        headers[nh++] = (mtr_http_header_t){"X-Amz-Security-Token", creds.session_token};
    mtr_sigv4_request_t sreq = {.method = "POST",
                                .path = em->path,
                                .query = "",
                                .headers = headers,
                                .n_headers = nh,
                                .body = job->body,
                                .body_len = job->body_len};
    mtr_sigv4_params_t params = {
        .region = em->config->aws.region, .service = "aws-marketplace", .amz_date = amz_date};
    char *authorization = NULL;
    err = mtr_sigv4_sign(&sreq, &params, &creds, &authorization, errstr, errstr_size);
    if (err != MTR_OK)
        return err;
    headers[nh++] = (mtr_http_header_t){"Authorization", authorization};
    mtr_emit_http_request_t hreq = {.url = em->url,
                                    .headers = headers,
                                    .n_headers = nh,
                                    .body = job->body,
                                    .body_len = job->body_len,
                                    .timeout_ms = em->timeout_ms,
                                    .tag = (uint64_t)(uintptr_t)job};
    err = mtr_emit_transport_submit(em->transport, &hreq, errstr, errstr_size);
    mtr_free(authorization);
    if (err != MTR_OK)
        return err;
    job->in_flight = true;
    em->stats.requests++;
    for (size_t k = 0; k < job->n; k++)
        run->sends[job->idx[k]]++;
    return MTR_OK;
}

/* Starts every job that may go now. Returns the earliest time something
 * not started may go (INT64_MAX: nothing waits). */
static int64_t launch(run_t *run)
{
    mtr_emitter_t *em = run->em;
    int64_t wake = INT64_MAX;
    char errstr[256];
    for (size_t j = 0; j < run->n_jobs;) {
        job_t *job = run->jobs[j];
        int64_t now = now_ms(run);
        if (job->in_flight) {
            j++;
            continue;
        }
        if (job->not_before_ms > now) {
            wake = job->not_before_ms < wake ? job->not_before_ms : wake;
            j++;
            continue;
        }
        if (mtr_emit_transport_in_flight(em->transport) >= (size_t)em->max_in_flight)
            return wake;
        int64_t wait = mtr_emit_pacer_try_acquire(&em->pacer);
        if (wait > 0)
            return now + wait < wake ? now + wait : wake;
        mtr_err_t err = start(run, job, errstr, sizeof errstr);
        if (err == MTR_ERR_AUTH) {
            all_records(run, job, MTR_EMIT_DEFERRED, err, errstr);
            continue; /* the job left the list: j now names the next one */
        }
        if (err != MTR_OK) {
            fail_retriable(run, job, job->idx, job->n, err, errstr);
            if (j < run->n_jobs && run->jobs[j] == job)
                j++;
            continue;
        }
        j++;
    }
    return wake;
}

static void park_unsendable(run_t *run, const mtr_record_t **valid, size_t *n_valid)
{
    char errstr[384];
    size_t kept = 0;
    for (size_t i = 0; i < *n_valid; i++) {
        size_t idx = (size_t)(valid[i] - run->records);
        if (mtr_emit_codec_check_record(valid[i], errstr, sizeof errstr) != MTR_OK)
            report(run, idx, MTR_EMIT_PARKED, NULL, MTR_ERR_INVALID_ARG, errstr);
        else
            valid[kept++] = valid[i];
    }
    *n_valid = kept;
}

void mtr_emitter_send(mtr_emitter_t *em, const mtr_record_t *records, size_t n,
                      mtr_emit_result_fn on_result, void *ctx)
{
    if (n == 0)
        return;
    run_t run = {.em = em,
                 .records = records,
                 .sends = mtr_calloc(n, sizeof(int)),
                 .failures = mtr_calloc(n, sizeof(int)),
                 .on_result = on_result,
                 .ctx = ctx};
    const mtr_record_t **valid = mtr_malloc(n * sizeof *valid);
    for (size_t i = 0; i < n; i++)
        valid[i] = &records[i];
    size_t n_valid = n;
    park_unsendable(&run, valid, &n_valid);

    mtr_emit_batches_t batches;
    mtr_emit_batch_build(valid, n_valid, MTR_EMIT_MAX_RECORDS_PER_REQUEST, MTR_EMIT_MAX_BODY_BYTES,
                         &batches);
    for (size_t o = 0; o < batches.n_oversize; o++)
        report(&run, (size_t)(batches.oversize[o] - records), MTR_EMIT_PARKED, NULL,
               MTR_ERR_INVALID_ARG,
               "the record alone makes a request of 1 MB or more; reduce its usage allocations");
    size_t *idx = mtr_malloc(MTR_EMIT_MAX_RECORDS_PER_REQUEST * sizeof *idx);
    for (size_t b = 0; b < batches.count; b++) {
        for (size_t k = 0; k < batches.items[b].n; k++)
            idx[k] = (size_t)(batches.items[b].records[k] - records);
        add_job(&run, idx, batches.items[b].n, 0, 0);
    }
    mtr_free(idx);
    mtr_emit_batches_free(&batches);
    mtr_free(valid);

    while (run.n_jobs > 0) {
        int64_t wake = launch(&run);
        if (run.n_jobs == 0)
            break;
        int64_t now = now_ms(&run);
        int64_t wait = wake == INT64_MAX ? 1000 : wake - now;
        if (wait < 0)
            wait = 0;
        if (mtr_emit_transport_in_flight(em->transport) > 0)
            mtr_emit_transport_poll(em->transport, wait, on_response, &run);
        else if (wait > 0)
            em->sleep(em->sleep_ctx, wait);
    }
    log_waiting(&run);
    mtr_free(run.jobs);
    mtr_free(run.sends);
    mtr_free(run.failures);
}
