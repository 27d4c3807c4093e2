/* The usage record: a quantity for one (product scope, customer,
 * dimension, hour), with its optional usage allocations, and the ledger row
 * it came from. The ledger keeps and hands out records, the emitter sends
 * them to BatchMeterUsage: this is their shared vocabulary, with AWS's
 * limits on one record.
 *
 * Ownership: records and every string and array they point to belong to the
 * caller (the ledger) and must stay valid and unchanged for the whole
 * mtr_emitter_send() call that receives them. The emitter never writes to a
 * record; what it learns comes back through the result callback. */
#ifndef MTR_CORE_RECORD_H
#define MTR_CORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

/* AWS limits on one record (BatchMeterUsage API reference). */
#define MTR_RECORD_MAX_TAGS        5
#define MTR_RECORD_MAX_ALLOCATIONS 2500
#define MTR_RECORD_MAX_QUANTITY    2147483647LL

typedef struct mtr_record_tag {
    const char *key;
    const char *value;
} mtr_record_tag_t;

typedef struct mtr_record_allocation {
    int64_t quantity; /* AllocatedUsageQuantity */
    mtr_record_tag_t tags[MTR_RECORD_MAX_TAGS];
    size_t n_tags; /* 0: the untagged bucket */
} mtr_record_allocation_t;

typedef struct mtr_record {
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
    int64_t quantity;      /* AWS integer, 0..MTR_RECORD_MAX_QUANTITY */
    const mtr_record_allocation_t *allocations;
    size_t n_allocations; /* 0: no UsageAllocations */
    int64_t id;           /* the caller's id (ledger row), reported back */
    int attempts;         /* requests that carried this record before */
} mtr_record_t;

/* The customer string, whichever field holds it. */
static inline const char *mtr_record_customer(const mtr_record_t *r)
{
    return r->customer_identifier ? r->customer_identifier : r->customer_aws_account_id;
}

#endif
