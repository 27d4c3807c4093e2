/* A local, strict AWS Marketplace Metering Service: BatchMeterUsage over
 * HTTP (AWS JSON 1.1), SigV4-verified, with AWS's idempotency and
 * DuplicateRecord rules, fault injection, and an inspection API.
 *
 * Strict means: whatever the emulator accepts, AWS would accept too. Where
 * AWS's behaviour is unknown the emulator takes the stricter reading (unknown
 * members, duplicate JSON keys and repeated tag keys are rejected; a record
 * whose identity was already billed with any difference, even the timestamp
 * within the hour, is answered DuplicateRecord).
 *
 * Endpoints:
 *   POST /                       X-Amz-Target: AWSMPMeteringService.BatchMeterUsage
 *   GET  /_emulator/records      accepted records + duplicate count (no SigV4)
 *   POST /_emulator/reset        forget every record and counter (no SigV4)
 *   GET  /_emulator/stats        requests and records by outcome (no SigV4)
 *   POST /_emulator/faults       replace the fault settings: {"throttle_ratio": 0.5,
 *                                "error_ratio", "unprocessed_ratio",
 *                                "drop_after_apply_ratio", "latency_ms", "seed"}
 *
 * Threads: the server answers on its own threads (one per connection); every
 * function below may be called from any thread. The config passed to
 * mtr_emulator_start must outlive the emulator (it is read, never copied). */
#ifndef MTR_EMULATOR_H
#define MTR_EMULATOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/err.h"

typedef struct mtr_emulator mtr_emulator_t;

/* Each ratio is a probability in [0, 1], rolled per request (per record for
 * unprocessed_ratio) from one PRNG seeded with `seed`, so that a sequential
 * client sees the same faults on every run. */
typedef struct mtr_emulator_faults {
    double throttle_ratio;         /* 400 ThrottlingException, nothing applied */
    double error_ratio;            /* 500 InternalServiceErrorException, nothing applied */
    double unprocessed_ratio;      /* record returned in UnprocessedRecords, not applied */
    double drop_after_apply_ratio; /* records applied, then the connection is closed unanswered */
    int64_t latency_ms;            /* added before every BatchMeterUsage answer */
    uint64_t seed;                 /* 0: MeteringRecordIds from the clock */
} mtr_emulator_faults_t;

typedef struct mtr_emulator_options {
    const char *host; /* numeric IPv4 or IPv6 address; NULL: "127.0.0.1" */
    uint16_t port;    /* 0: an ephemeral port (see mtr_emulator_port) */
    mtr_emulator_faults_t faults;
    int64_t max_record_age_ms;  /* 0: 6 h (AWS: "not accepted 6 hours or more after") */
    int64_t max_future_skew_ms; /* 0: 5 min */
    mtr_clock_t *clock;         /* NULL: the system clock; used for the window and SigV4 */
    /* Used when the config lists no emulator.credentials (the CLI fills it
     * from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY). Copied at start. */
    const mtr_emulator_credential_t *fallback_credential;
} mtr_emulator_options_t;

/* Counters since start or the last reset. */
typedef struct mtr_emulator_stats {
    uint64_t requests;               /* BatchMeterUsage calls received (any outcome) */
    uint64_t answered_ok;            /* HTTP 200 */
    uint64_t throttled;              /* injected ThrottlingException */
    uint64_t internal_errors;        /* injected InternalServiceErrorException */
    uint64_t dropped;                /* applied, then closed without an answer */
    uint64_t auth_failures;          /* SigV4 rejected */
    uint64_t rejected;               /* any other request-level error (contract, protocol) */
    uint64_t records_success;        /* newly accepted records */
    uint64_t records_idempotent;     /* identical repeats answered Success with the same id */
    uint64_t records_duplicate;      /* DuplicateRecord answers */
    uint64_t records_not_subscribed; /* CustomerNotSubscribed answers */
    uint64_t records_unprocessed;    /* returned in UnprocessedRecords */
    uint64_t stored;                 /* records currently held */
} mtr_emulator_stats_t;

/* Starts listening. cfg gives the products and dimensions, emulator.customers
 * (none: every customer is subscribed), emulator.credentials and
 * emulator.region (default aws.region, then "us-east-1"). opts may be NULL
 * (all defaults). Returns NULL with errstr filled when the address cannot be
 * bound, no credential is known or an option is out of range. */
mtr_emulator_t *mtr_emulator_start(const mtr_config_t *cfg, const mtr_emulator_options_t *opts,
                                   char *errstr, size_t errstr_size);
/* Stops answering, waits for in-flight requests and frees everything. */
void mtr_emulator_stop(mtr_emulator_t *em);

uint16_t mtr_emulator_port(const mtr_emulator_t *em);
/* The region the emulator verifies signatures for. */
const char *mtr_emulator_region(const mtr_emulator_t *em);

/* Replaces the fault settings (the PRNG is reseeded). */
mtr_err_t mtr_emulator_set_faults(mtr_emulator_t *em, const mtr_emulator_faults_t *faults,
                                  char *errstr, size_t errstr_size);
/* Checks ratios in [0,1] and latency in [0, 60 s]. */
mtr_err_t mtr_emulator_faults_check(const mtr_emulator_faults_t *faults, char *errstr,
                                    size_t errstr_size);

void mtr_emulator_get_stats(mtr_emulator_t *em, mtr_emulator_stats_t *out);
/* The body of GET /_emulator/records; the caller frees with mtr_free. */
char *mtr_emulator_records_json(mtr_emulator_t *em);
/* Forgets every record and counter (POST /_emulator/reset). */
void mtr_emulator_reset(mtr_emulator_t *em);

#endif
