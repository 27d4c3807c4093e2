/* The emitter: sends a set of usage records to BatchMeterUsage and reports
 * one outcome per record. It groups the records into requests (batch.h),
 * signs each request (SigV4, service "aws-marketplace"), paces them with a
 * token bucket (emit.calls_per_second), keeps up to emit.max_in_flight
 * requests in flight, and acts on every answer:
 *
 *   Success                      -> ACCEPTED with the MeteringRecordId
 *   CustomerNotSubscribed        -> CUSTOMER_NOT_SUBSCRIBED (terminal; alert)
 *   DuplicateRecord              -> DUPLICATE (terminal; alert)
 *   UnprocessedRecords, throttling, 5xx, timeouts, dropped connections,
 *   unreadable answers           -> the same records again after a backoff
 *                                   with full jitter; identical requests are
 *                                   idempotent at AWS. After emit.max_attempts
 *                                   failed requests: RETRY_EXHAUSTED
 *   a request-level validation error (Invalid*Exception)
 *                                -> the request is split in halves until the
 *                                   bad record is alone; it is PARKED with
 *                                   AWS's error, the others are sent
 *   TimestampOutOfBoundsException -> isolated the same way, then STALE (the
 *                                   ledger re-homes it into an open hour)
 *   auth errors, DisabledApiException, credentials unavailable
 *                                -> DEFERRED: nothing is wrong with the
 *                                   records; alert and send them later
 *   a record AWS would refuse by its shape, or too big for any request
 *                                -> PARKED without being sent
 *
 * Threads: an emitter belongs to one thread; mtr_emitter_send() blocks that
 * thread until every record has its outcome, and calls the result callback
 * on it. Ownership: the emitter owns its transport (a given one included)
 * and frees it in mtr_emitter_free(); records stay the caller's. */
#ifndef MTR_EMIT_EMITTER_H
#define MTR_EMIT_EMITTER_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"
#include "emit/backoff.h"
#include "core/record.h"
#include "emit/sigv4.h"
#include "emit/transport.h"

typedef enum mtr_emit_outcome {
    MTR_EMIT_ACCEPTED,
    MTR_EMIT_CUSTOMER_NOT_SUBSCRIBED,
    MTR_EMIT_DUPLICATE,
    MTR_EMIT_STALE,
    MTR_EMIT_PARKED,
    MTR_EMIT_RETRY_EXHAUSTED,
    MTR_EMIT_DEFERRED
} mtr_emit_outcome_t;

typedef struct mtr_emit_result {
    const mtr_record_t *record;
    mtr_emit_outcome_t outcome;
    const char *metering_record_id; /* ACCEPTED only, else NULL */
    mtr_err_t err;                  /* MTR_OK for ACCEPTED, else what stopped it */
    const char *detail;             /* human text (AWS error type and message), "" if none */
    int attempts;                   /* record->attempts + requests that carried it now */
} mtr_emit_result_t;

/* Pointers in *result are valid only during the call. */
typedef void (*mtr_emit_result_fn)(void *ctx, const mtr_emit_result_t *result);

/* Fills *out with credentials for one request. The strings stay the
 * provider's and must stay valid until the next call. */
typedef mtr_err_t (*mtr_emit_credentials_fn)(void *ctx, mtr_sigv4_credentials_t *out, char *errstr,
                                             size_t errstr_size);

/* Waits ms milliseconds (tests with a manual clock advance it instead). */
typedef void (*mtr_emit_sleep_fn)(void *ctx, int64_t ms);

typedef struct mtr_emitter_options {
    const mtr_config_t *config; /* aws.region, aws.endpoint, emit.*; must outlive the emitter */
    mtr_emit_credentials_fn credentials;
    void *credentials_ctx;
    mtr_emit_transport_t *transport; /* NULL: libcurl (ca_file below); owned by the emitter */
    const char *ca_file;             /* for the libcurl transport; NULL: system CAs */
    mtr_clock_t *clock;              /* NULL: system clock */
    mtr_emit_sleep_fn sleep;         /* NULL: nanosleep */
    void *sleep_ctx;
    mtr_emit_rng_fn rng; /* backoff jitter; NULL: built-in generator */
    void *rng_ctx;
    int64_t backoff_base_ms; /* <= 0: 100 ms */
    int64_t backoff_cap_ms;  /* <= 0: 20 s */
    double pacer_burst;      /* <= 0: 1 (no bursts above the rate) */
} mtr_emitter_options_t;

typedef struct mtr_emit_stats {
    uint64_t requests;  /* HTTP requests started */
    uint64_t retries;   /* requests sent again after a retriable failure */
    uint64_t throttled; /* answers that were ThrottlingException / 429 */
    uint64_t bisections;
    uint64_t outcomes[MTR_EMIT_DEFERRED + 1];
} mtr_emit_stats_t;

typedef struct mtr_emitter mtr_emitter_t;

/* Fails with MTR_ERR_CONFIG when neither aws.endpoint nor aws.region gives
 * an endpoint, or the endpoint is not an http(s) URL. */
mtr_err_t mtr_emitter_new(const mtr_emitter_options_t *opts, mtr_emitter_t **out, char *errstr,
                          size_t errstr_size);
void mtr_emitter_free(mtr_emitter_t *emitter);

/* Sends records[0..n) and calls on_result exactly once per record, in no
 * particular order, before returning. */
void mtr_emitter_send(mtr_emitter_t *emitter, const mtr_record_t *records, size_t n,
                      mtr_emit_result_fn on_result, void *ctx);

/* Counters since the emitter was made. */
void mtr_emitter_stats(const mtr_emitter_t *emitter, mtr_emit_stats_t *out);

/* The endpoint URL: `endpoint` when set, else
 * https://metering.marketplace.<region>.amazonaws.com/ (caller frees). */
mtr_err_t mtr_emit_endpoint_url(const char *region, const char *endpoint, char **url, char *errstr,
                                size_t errstr_size);

const char *mtr_emit_outcome_name(mtr_emit_outcome_t outcome);

#endif
