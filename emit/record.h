/* One usage record as the emitter sends it to BatchMeterUsage: a quantity
 * for one (product scope, customer, dimension, hour), with its optional
 * usage allocations, and the ledger row it came from.
 *
 * Ownership: records and every string and array they point to belong to the
 * caller (the ledger) and must stay valid and unchanged for the whole
 * mtr_emitter_send() call that receives them. The emitter never writes to a
 * record; what it learns comes back through the result callback. */
#ifndef MTR_EMIT_RECORD_H
#define MTR_EMIT_RECORD_H

#include <stddef.h>
#include <stdint.h>

/* AWS limits (BatchMeterUsage API reference). */
#define MTR_EMIT_MAX_RECORDS_PER_REQUEST 25
#define MTR_EMIT_MAX_TAGS_PER_ALLOCATION 5
#define MTR_EMIT_MAX_ALLOCATIONS         2500
/* AWS requires requests "less than 1 MB"; stay below the decimal megabyte so
 * neither reading of "MB" is crossed. */
#define MTR_EMIT_MAX_BODY_BYTES 1000000
#define MTR_EMIT_MAX_QUANTITY   2147483647LL

typedef struct mtr_emit_tag {
    const char *key;
    const char *value;
} mtr_emit_tag_t;

typedef struct mtr_emit_allocation {
    int64_t quantity; /* AllocatedUsageQuantity */
    mtr_emit_tag_t tags[MTR_EMIT_MAX_TAGS_PER_ALLOCATION];
    size_t n_tags; /* 0: the untagged bucket */
} mtr_emit_allocation_t;

typedef struct mtr_emit_record {
    /* Request scope. A record without license_arn goes in a request with
     * ProductCode = product_code. A record with license_arn is sent with its
     * LicenseArn and the request has no ProductCode (AWS takes one or the
     * other); product_code, when also known, lets records of one product but
     * different licenses share a request, otherwise only records with the
     * very same ARN do. */
    const char *product_code;
    const char *license_arn;
    /* Exactly one of the two: CustomerIdentifier (from ResolveCustomer) or
     * CustomerAWSAccountId (digits). AWS refuses requests that mix them. */
    const char *customer_identifier;
    const char *customer_aws_account_id;
    const char *dimension;
    int64_t hour_start_ms; /* sent as Timestamp, epoch seconds */
    int64_t quantity;      /* AWS integer, 0..MTR_EMIT_MAX_QUANTITY */
    const mtr_emit_allocation_t *allocations;
    size_t n_allocations; /* 0: no UsageAllocations */
    int64_t id;           /* the caller's id (ledger row), reported back */
    int attempts;         /* requests that carried this record before */
} mtr_emit_record_t;

/* The customer string, whichever field holds it. */
static inline const char *mtr_emit_record_customer(const mtr_emit_record_t *r)
{
    return r->customer_identifier ? r->customer_identifier : r->customer_aws_account_id;
}

#endif
