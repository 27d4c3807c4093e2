/* The BatchMeterUsage wire format (AWS JSON 1.1): request bodies from
 * records, per-record answers from a response, and the classification of
 * error responses into an mtr_err_t plus what the emitter should do next.
 *
 * Answers are matched to records by what identifies a record at AWS
 * (customer, dimension, timestamp, and LicenseArn when both sides carry
 * one), never by position: AWS does not promise to keep the order.
 * Error types come from the x-amzn-ErrorType header or the JSON `__type`
 * field, never from searching the body text.
 *
 * Thread-safe: no state. Returned strings are owned by the caller (mtr_free). */
#ifndef MTR_EMIT_CODEC_H
#define MTR_EMIT_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/record.h"

/* Checks a record against AWS's shapes (one customer field, the account id
 * in digits, lengths, quantity range, allocations and tags) so that a record
 * AWS would refuse is parked before it spoils a request of 25. */
mtr_err_t mtr_emit_codec_check_record(const mtr_record_t *record, char *errstr, size_t errstr_size);

/* Exact sizes, in bytes, of the request body mtr_emit_codec_request() makes:
 * envelope_size(first record) + the record sizes + one comma between two
 * records. */
size_t mtr_emit_codec_envelope_size(const mtr_record_t *first);
size_t mtr_emit_codec_record_size(const mtr_record_t *record);

/* The request body for records that share a scope (the batch builder's
 * job): ProductCode from records[0] unless it has a LicenseArn, one
 * UsageRecord per record in order.
 * Returns a NUL-terminated string (caller frees), its length in *len. */
char *mtr_emit_codec_request(const mtr_record_t *const *records, size_t n, size_t *len);

typedef enum mtr_emit_status {
    MTR_EMIT_STATUS_MISSING, /* neither in Results nor in UnprocessedRecords */
    MTR_EMIT_STATUS_SUCCESS, /* accepted, MeteringRecordId set */
    MTR_EMIT_STATUS_CUSTOMER_NOT_SUBSCRIBED,
    MTR_EMIT_STATUS_DUPLICATE_RECORD,
    MTR_EMIT_STATUS_UNPROCESSED, /* AWS asks for a retry */
    MTR_EMIT_STATUS_UNKNOWN      /* a Status this version does not know; status_text has it */
} mtr_emit_status_t;

typedef struct mtr_emit_answer {
    mtr_emit_status_t status;
    char metering_record_id[128];
    char status_text[64];
} mtr_emit_answer_t;

/* Reads a 2xx BatchMeterUsage response and fills answers[i] for records[i].
 * Results and unprocessed entries that match no record are ignored (and
 * counted in *n_unmatched when it is not NULL). A body that is not a JSON
 * object, or whose Results / UnprocessedRecords are not arrays, gives
 * MTR_ERR_PARSE: the outcome of the request is then unknown. */
mtr_err_t mtr_emit_codec_parse_response(const char *body, size_t len,
                                        const mtr_record_t *const *records, size_t n,
                                        mtr_emit_answer_t *answers, size_t *n_unmatched,
                                        char *errstr, size_t errstr_size);

/* What the emitter does after a response or a failed exchange. */
typedef enum mtr_emit_action {
    MTR_EMIT_ACTION_READ_RESULTS, /* 2xx: parse the per-record answers */
    MTR_EMIT_ACTION_RETRY,        /* throttling, 5xx, garbage: same records, after a backoff */
    MTR_EMIT_ACTION_STALE,        /* TimestampOutOfBounds: isolate, then re-home the record */
    MTR_EMIT_ACTION_BISECT,       /* request-level validation error: isolate and park */
    MTR_EMIT_ACTION_DEFER         /* auth or a disabled API: alert; records stay for later */
} mtr_emit_action_t;

typedef struct mtr_emit_error {
    mtr_err_t err;
    mtr_emit_action_t action;
    char type[96];     /* AWS error type without namespace, "" when none */
    char message[256]; /* AWS's message field, "" when none */
} mtr_emit_error_t;

/* Classifies an HTTP answer. error_type_header is the x-amzn-ErrorType
 * value or NULL. Order: header type, else JSON `__type`, each with any
 * "namespace#" prefix and ":suffix" stripped; then the HTTP status for
 * answers without a type. A non-2xx answer whose body is not JSON and that
 * has no type header counts as a transport failure (retry). */
void mtr_emit_codec_classify(long http_status, const char *error_type_header, const char *body,
                             size_t len, mtr_emit_error_t *out);

/* The bare error type: "com.amazonaws.x#ThrottlingException" and
 * "ThrottlingException:http://internal..." both give "ThrottlingException". */
void mtr_emit_codec_error_type(const char *raw, char *out, size_t out_size);

const char *mtr_emit_action_name(mtr_emit_action_t action);

#endif
