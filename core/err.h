/* The one error enum: every fallible function returns an mtr_err_t and, where
 * a human needs the details, fills a caller-provided errstr buffer naming the
 * thing and the fix. Each code has a stable name (for logs, metrics and
 * dead-letter headers), a description and a retry class. */
#ifndef MTR_ERR_H
#define MTR_ERR_H

#include <stdbool.h>
#include <stddef.h>

typedef enum mtr_err {
    MTR_OK = 0,
    MTR_ERR_INVALID_ARG, /* bad flag, bad call argument */
    MTR_ERR_CONFIG,      /* configuration file problem */
    MTR_ERR_IO,          /* file system or socket error */
    MTR_ERR_PARSE,       /* malformed input (JSON, CSV, HTTP) */
    MTR_ERR_OVERFLOW,    /* a checked arithmetic result does not fit */
    MTR_ERR_NOT_FOUND,   /* a looked-up thing does not exist */
    MTR_ERR_EXISTS,      /* a thing to create already exists */
    MTR_ERR_TIMEOUT,     /* an operation ran out of time; outcome unknown */
    MTR_ERR_TRANSPORT,   /* connection failed or dropped; outcome unknown */
    MTR_ERR_THROTTLED,   /* the peer asked us to slow down */
    MTR_ERR_SERVER,      /* the peer failed (5xx) */
    MTR_ERR_AUTH,        /* credentials missing, expired or rejected */
    MTR_ERR_REJECTED,    /* the peer refused the request as invalid */
    MTR_ERR_DB,          /* ledger (SQLite) failure */
    MTR_ERR_KAFKA,       /* Kafka client failure */
    MTR_ERR_STATE,       /* the call is not valid in the current state */
    MTR_ERR__COUNT
} mtr_err_t;

typedef enum mtr_retry_class {
    MTR_RETRY_NEVER,   /* the same call will fail the same way */
    MTR_RETRY_BACKOFF, /* transient: retry the same call with backoff */
    MTR_RETRY_FATAL    /* the process cannot go on safely */
} mtr_retry_class_t;

/* Stable upper-case name, e.g. "TIMEOUT". */
const char *mtr_err_name(mtr_err_t err);
/* One-line description for humans. */
const char *mtr_err_str(mtr_err_t err);
mtr_retry_class_t mtr_err_retry_class(mtr_err_t err);
bool mtr_err_is_retriable(mtr_err_t err);

/* snprintf into errstr (may be NULL or size 0), returning err, so that
 * `return mtr_err_set(errstr, size, MTR_ERR_CONFIG, "...", ...);` reads as one
 * statement. */
mtr_err_t mtr_err_set(char *errstr, size_t size, mtr_err_t err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
