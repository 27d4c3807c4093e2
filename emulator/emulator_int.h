/* Internals shared by the emulator's files: the AWS error table
 * (errors.c), the parsed BatchMeterUsage request and its contract checks
 * (api.c), the record store with AWS's idempotency rules (store.c) and the
 * fault dice and counters (faults.c). Not for use outside emulator/. */
#ifndef MTR_EMULATOR_INT_H
#define MTR_EMULATOR_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/config.h"
#include "emulator/emulator.h"

/* ---- errors.c: AWS error shapes ---- */

typedef enum mtr_emu_errtype {
    MTR_EMU_E_INTERNAL,                /* 500 InternalServiceErrorException */
    MTR_EMU_E_THROTTLING,              /* 400 ThrottlingException */
    MTR_EMU_E_INVALID_PRODUCT_CODE,    /* 400 InvalidProductCodeException */
    MTR_EMU_E_INVALID_DIMENSION,       /* 400 InvalidUsageDimensionException */
    MTR_EMU_E_INVALID_TAG,             /* 400 InvalidTagException */
    MTR_EMU_E_INVALID_ALLOCATIONS,     /* 400 InvalidUsageAllocationsException */
    MTR_EMU_E_INVALID_CUSTOMER,        /* 400 InvalidCustomerIdentifierException */
    MTR_EMU_E_TIMESTAMP_OUT_OF_BOUNDS, /* 400 TimestampOutOfBoundsException */
    MTR_EMU_E_VALIDATION,              /* 400 ValidationException (model constraints) */
    MTR_EMU_E_SERIALIZATION,           /* 400 SerializationException (JSON, types) */
    MTR_EMU_E_UNKNOWN_OPERATION,       /* 400 UnknownOperationException */
    MTR_EMU_E_UNSUPPORTED_MEDIA_TYPE,  /* 415 UnsupportedMediaTypeException */
    MTR_EMU_E_TOO_LARGE,               /* 413 RequestEntityTooLargeException */
    MTR_EMU_E_MISSING_AUTH,            /* 403 MissingAuthenticationTokenException */
    MTR_EMU_E_INCOMPLETE_SIGNATURE,    /* 400 IncompleteSignatureException */
    MTR_EMU_E_UNRECOGNIZED_CLIENT,     /* 403 UnrecognizedClientException */
    MTR_EMU_E_INVALID_SIGNATURE,       /* 403 InvalidSignatureException */
    MTR_EMU_E_NOT_FOUND,               /* 404 ResourceNotFoundException (inspection paths) */
    MTR_EMU_E__COUNT
} mtr_emu_errtype_t;

typedef struct mtr_emu_error {
    mtr_emu_errtype_t type;
    char message[512];
} mtr_emu_error_t;

const char *mtr_emu_error_name(mtr_emu_errtype_t type);
int mtr_emu_error_status(mtr_emu_errtype_t type);
bool mtr_emu_error_is_auth(mtr_emu_errtype_t type);
/* The type named by mtr_sigv4_verify; unknown names read as InvalidSignature. */
mtr_emu_errtype_t mtr_emu_error_from_auth_name(const char *name);
/* Fills err and returns false, so checks read `return mtr_emu_fail(...)`. */
bool mtr_emu_fail(mtr_emu_error_t *err, mtr_emu_errtype_t type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* {"__type": "...", "message": "..."}; caller frees with mtr_free. */
char *mtr_emu_error_body(const mtr_emu_error_t *err);

/* ---- api.c: the parsed request and the contract ---- */

typedef struct mtr_emu_tag {
    char *key;
    char *value;
} mtr_emu_tag_t;

typedef struct mtr_emu_allocation {
    int64_t quantity;
    mtr_emu_tag_t *tags;
    size_t n_tags;
} mtr_emu_allocation_t;

/* One usage record. Exactly one of product_code / license_arn and exactly
 * one of customer_identifier / customer_account_id is set. All strings are
 * owned by the record (mtr_emu_record_clear frees them). */
typedef struct mtr_emu_record {
    char *product_code;
    char *license_arn;
    char *customer_identifier;
    char *customer_account_id;
    char *dimension;
    double timestamp_s; /* as sent: epoch seconds */
    int64_t hour_ms;    /* start of the UTC hour of the timestamp */
    int64_t quantity;
    mtr_emu_allocation_t *allocations;
    size_t n_allocations;
    char metering_record_id[37];
} mtr_emu_record_t;

typedef struct mtr_emu_batch {
    cJSON *root; /* the parsed body; echo[i] points into it */
    mtr_emu_record_t *records;
    const cJSON **echo; /* the record objects as sent, for Results */
    size_t n_records;
} mtr_emu_batch_t;

typedef struct mtr_emu_contract {
    const mtr_config_t *cfg;
    int64_t max_record_age_ms;
    int64_t max_future_skew_ms;
} mtr_emu_contract_t;

/* Parses and checks a BatchMeterUsage body against the service model and
 * the configured products. On failure fills err (request-level error) and
 * leaves *out empty. */
bool mtr_emu_batch_parse(const mtr_emu_contract_t *contract, const char *body, size_t len,
                         int64_t now_ms, mtr_emu_batch_t *out, mtr_emu_error_t *err);
void mtr_emu_batch_free(mtr_emu_batch_t *batch);
void mtr_emu_record_clear(mtr_emu_record_t *rec);

/* ---- store.c: accepted records and AWS's idempotency ---- */

typedef enum mtr_emu_status {
    MTR_EMU_STATUS_SUCCESS,    /* newly accepted */
    MTR_EMU_STATUS_IDEMPOTENT, /* identical to an accepted record: Success, same id */
    MTR_EMU_STATUS_DUPLICATE,  /* same identity, different content: DuplicateRecord */
} mtr_emu_status_t;

typedef struct mtr_emu_store mtr_emu_store_t;

mtr_emu_store_t *mtr_emu_store_new(uint64_t seed);
void mtr_emu_store_free(mtr_emu_store_t *store);
/* Caller holds the store lock for a whole batch so that a batch applies
 * atomically with respect to other connections. */
void mtr_emu_store_lock(mtr_emu_store_t *store);
void mtr_emu_store_unlock(mtr_emu_store_t *store);
/* Lock held. On SUCCESS the store takes the record's contents (rec is left
 * cleared) and id_out gets the new MeteringRecordId; on IDEMPOTENT id_out
 * gets the stored id; on DUPLICATE rec is untouched. */
mtr_emu_status_t mtr_emu_store_apply(mtr_emu_store_t *store, mtr_emu_record_t *rec,
                                     char id_out[37]);
/* Takes the lock itself. */
cJSON *mtr_emu_store_to_json(mtr_emu_store_t *store, uint64_t duplicate_answers);
size_t mtr_emu_store_count(mtr_emu_store_t *store);
void mtr_emu_store_reset(mtr_emu_store_t *store);

/* ---- faults.c: dice and counters ---- */

typedef struct mtr_emu_faults {
    pthread_mutex_t mu;
    mtr_emulator_faults_t cfg;
    uint64_t rng;
} mtr_emu_faults_t;

void mtr_emu_faults_init(mtr_emu_faults_t *f, const mtr_emulator_faults_t *cfg);
void mtr_emu_faults_destroy(mtr_emu_faults_t *f);
void mtr_emu_faults_set(mtr_emu_faults_t *f, const mtr_emulator_faults_t *cfg);
mtr_emulator_faults_t mtr_emu_faults_get(mtr_emu_faults_t *f);
/* True with probability ratio (0 never, 1 always), from the seeded PRNG. */
bool mtr_emu_faults_roll(mtr_emu_faults_t *f, double ratio);

typedef struct mtr_emu_counters {
    _Atomic uint64_t requests, answered_ok, throttled, internal_errors, dropped, auth_failures,
        rejected;
    _Atomic uint64_t records_success, records_idempotent, records_duplicate, records_not_subscribed,
        records_unprocessed;
    _Atomic uint64_t by_error[MTR_EMU_E__COUNT];
} mtr_emu_counters_t;

void mtr_emu_counters_reset(mtr_emu_counters_t *c);
void mtr_emu_counters_count_error(mtr_emu_counters_t *c, mtr_emu_errtype_t type);
void mtr_emu_counters_snapshot(mtr_emu_counters_t *c, mtr_emulator_stats_t *out);
/* The body of GET /_emulator/stats. */
cJSON *mtr_emu_counters_to_json(mtr_emu_counters_t *c, size_t stored);

#endif
