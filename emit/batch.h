/* The batch builder: groups sendable records into BatchMeterUsage requests.
 * A request holds records of one scope only (one ProductCode; or LicenseArn
 * records of one product, or of one ARN when the product code is unknown),
 * one kind of customer field
 * (AWS refuses CustomerIdentifier and CustomerAWSAccountId in the same
 * request), at most max_records records, a body under max_body bytes, and
 * never two records with the same identity (customer, dimension, hour,
 * license), so that every answer names exactly one record.
 *
 * Ownership: batches hold borrowed pointers to the caller's records; the
 * pointer arrays belong to the batches and are freed with
 * mtr_emit_batches_free(). Thread-safe: no state. */
#ifndef MTR_EMIT_BATCH_H
#define MTR_EMIT_BATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "core/record.h"

/* AWS limits on one request (BatchMeterUsage API reference). AWS requires
 * requests "less than 1 MB"; stay below the decimal megabyte so neither
 * reading of "MB" is crossed. */
#define MTR_EMIT_MAX_RECORDS_PER_REQUEST 25
#define MTR_EMIT_MAX_BODY_BYTES          1000000

typedef struct mtr_emit_batch {
    const mtr_record_t **records;
    size_t n;
    size_t body_size; /* exact size of mtr_emit_codec_request() for these records */
} mtr_emit_batch_t;

typedef struct mtr_emit_batches {
    mtr_emit_batch_t *items;
    size_t count;
    /* Records that do not fit in a request even alone (body >= max_body). */
    const mtr_record_t **oversize;
    size_t n_oversize;
} mtr_emit_batches_t;

/* Groups records[0..n) (pointers, any order). Batches of one scope follow
 * each other, records within a scope sorted by customer, dimension, hour.
 * max_records and max_body are normally MTR_EMIT_MAX_RECORDS_PER_REQUEST and
 * MTR_EMIT_MAX_BODY_BYTES; tests pass smaller ones. Every record ends up in
 * exactly one batch or in oversize. */
void mtr_emit_batch_build(const mtr_record_t *const *records, size_t n, size_t max_records,
                          size_t max_body, mtr_emit_batches_t *out);
void mtr_emit_batches_free(mtr_emit_batches_t *batches);

/* True when a and b may share a request (same scope and customer kind). */
bool mtr_emit_batch_same_scope(const mtr_record_t *a, const mtr_record_t *b);

#endif
