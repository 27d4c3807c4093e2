/* Usage events: decoding one Kafka message (plain JSON, or CloudEvents 1.0
 * in structured or binary mode) into a validated mtr_event_t whose product
 * and dimension are resolved to small indexes into the config, or into a
 * stable rejection reason for the dead-letter topic and the metrics.
 *
 * Threads: a decoder belongs to one thread (it owns a cJSON arena that is
 * active on the decoding thread during each call); make one per consumer
 * thread. The config and clock must outlive the decoder and the config must
 * not change while it exists. */
#ifndef MTR_EVENT_H
#define MTR_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/clock.h"
#include "core/config.h"

#define MTR_EVENT_MAX_TAGS           5
#define MTR_EVENT_MAX_CUSTOMER_BYTES 255
#define MTR_EVENT_MAX_ID_BYTES       255
#define MTR_EVENT_MAX_ARN_BYTES      255
#define MTR_EVENT_MAX_TAG_KEY        100
#define MTR_EVENT_MAX_TAG_VALUE      256
/* 2000-01-01T00:00:00Z: earlier event times are unit mistakes. */
#define MTR_EVENT_MIN_TIME_MS 946684800000LL

/* Stable codes: the names (mtr_event_reason_name) appear in dead-letter
 * headers and metric labels, so existing ones are never renamed. */
typedef enum mtr_event_reason {
    MTR_EVENT_OK = 0,
    MTR_EVENT_TOO_LARGE,
    MTR_EVENT_BAD_UTF8,
    MTR_EVENT_BAD_JSON,
    MTR_EVENT_NOT_AN_OBJECT,
    MTR_EVENT_DUPLICATE_FIELD,
    MTR_EVENT_MISSING_CUSTOMER,
    MTR_EVENT_BOTH_CUSTOMERS,
    MTR_EVENT_BAD_CUSTOMER,
    MTR_EVENT_BAD_ACCOUNT_ID,
    MTR_EVENT_IDENTIFIER_TOO_LONG,
    MTR_EVENT_MISSING_DIMENSION,
    MTR_EVENT_UNKNOWN_DIMENSION,
    MTR_EVENT_UNKNOWN_PRODUCT,
    MTR_EVENT_MISSING_QUANTITY,
    MTR_EVENT_BAD_QUANTITY,
    MTR_EVENT_NEGATIVE_QUANTITY,
    MTR_EVENT_QUANTITY_OVERFLOW,
    MTR_EVENT_BAD_TIMESTAMP,
    MTR_EVENT_FUTURE_TIMESTAMP,
    MTR_EVENT_ANCIENT_TIMESTAMP,
    MTR_EVENT_BAD_TAGS,
    MTR_EVENT_BAD_LICENSE_ARN,
    MTR_EVENT_BAD_ID,
    MTR_EVENT_BAD_CLOUDEVENT,
    MTR_EVENT_UNKNOWN_EVENT_TYPE,
    MTR_EVENT_REASON__COUNT
} mtr_event_reason_t;

/* snake_case code, e.g. "negative_quantity"; "unknown" out of range. */
const char *mtr_event_reason_name(mtr_event_reason_t reason);

/* Bytes that are not NUL-terminated. */
typedef struct mtr_event_str {
    const char *ptr;
    size_t len;
} mtr_event_str_t;

typedef struct mtr_event_tag {
    mtr_event_str_t key;
    mtr_event_str_t value;
} mtr_event_tag_t;

typedef enum mtr_event_format {
    MTR_EVENT_FORMAT_JSON,          /* plain event object */
    MTR_EVENT_FORMAT_CE_STRUCTURED, /* CloudEvents envelope with `data` */
    MTR_EVENT_FORMAT_CE_BINARY      /* ce_* Kafka headers, value = data */
} mtr_event_format_t;

/* A decoded event. Every string points into decoder-owned memory that stays
 * valid until the next mtr_event_decode on the same decoder (copy what must
 * live longer). */
typedef struct mtr_event {
    mtr_event_str_t customer;      /* CustomerIdentifier or CustomerAWSAccountId */
    bool is_account_id;            /* true: customer is a 12-digit account id */
    uint32_t product;              /* index into config->products */
    uint32_t dimension;            /* index into products[product].dimensions */
    mtr_aggregation_t aggregation; /* the dimension's, for convenience */
    int64_t quantity;              /* micro-units; count dimensions: 1 unit */
    int64_t time_ms;               /* event time, Unix epoch ms (UTC) */
    bool time_from_kafka;          /* the event had none: message timestamp */
    mtr_event_str_t id;            /* empty when the event has none */
    mtr_event_str_t source;        /* CloudEvents source when id is the CloudEvents id */
    mtr_event_str_t license_arn;   /* empty when the event has none */
    size_t n_tags;
    mtr_event_tag_t tags[MTR_EVENT_MAX_TAGS];
    mtr_event_format_t format;
} mtr_event_t;

/* One Kafka header: name NUL-terminated, value raw bytes (NULL when the
 * header has no value). */
typedef struct mtr_event_header {
    const char *name;
    const void *value;
    size_t value_len;
} mtr_event_header_t;

/* What the decoder needs from the Kafka message besides the value. */
typedef struct mtr_event_kafka_meta {
    int64_t timestamp_ms;              /* message timestamp; < 0: none */
    const mtr_event_header_t *headers; /* ce_* headers select binary mode */
    size_t n_headers;
} mtr_event_kafka_meta_t;

typedef struct mtr_event_decoder mtr_event_decoder_t;

/* Builds the field-name and dimension lookup tables from cfg. Never fails
 * for a validated config. Free with mtr_event_decoder_free. */
mtr_event_decoder_t *mtr_event_decoder_new(const mtr_config_t *cfg, mtr_clock_t *clock);
void mtr_event_decoder_free(mtr_event_decoder_t *dec);

/* Decodes value[0..len) (no NUL needed). meta may be NULL (no timestamp, no
 * headers). On MTR_EVENT_OK *out holds the event; otherwise *out is
 * unspecified and errstr (may be NULL) names the field, the offending value
 * (truncated) and the fix. Bad input of any kind returns a reason; it never
 * crashes or allocates per call. */
mtr_event_reason_t mtr_event_decode(mtr_event_decoder_t *dec, const void *value, size_t len,
                                    const mtr_event_kafka_meta_t *meta, mtr_event_t *out,
                                    char *errstr, size_t errstr_size);

/* RFC 3339 date-time ("2026-11-26T10:15:03.250+01:00"; 'T' or 't' or ' ',
 * 'Z' or 'z' or a ±hh:mm offset, any number of fraction digits, truncated to
 * ms) → Unix epoch ms. Returns false for anything else. Any thread. */
bool mtr_event_parse_rfc3339(const char *text, size_t len, int64_t *out_ms);

#endif
