/* Names, descriptions and retry classes of mtr_err_t. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>

static const struct {
    const char *name;
    const char *desc;
    mtr_retry_class_t retry;
} err_table[MTR_ERR__COUNT] = {
    [MTR_OK] = {"OK", "success", MTR_RETRY_NEVER},
    [MTR_ERR_INVALID_ARG] = {"INVALID_ARG", "invalid argument", MTR_RETRY_NEVER},
    [MTR_ERR_CONFIG] = {"CONFIG", "configuration error", MTR_RETRY_NEVER},
    [MTR_ERR_IO] = {"IO", "input/output error", MTR_RETRY_BACKOFF},
    [MTR_ERR_PARSE] = {"PARSE", "malformed input", MTR_RETRY_NEVER},
    [MTR_ERR_OVERFLOW] = {"OVERFLOW", "value out of range", MTR_RETRY_NEVER},
    [MTR_ERR_NOT_FOUND] = {"NOT_FOUND", "not found", MTR_RETRY_NEVER},
    [MTR_ERR_EXISTS] = {"EXISTS", "already exists", MTR_RETRY_NEVER},
    [MTR_ERR_TIMEOUT] = {"TIMEOUT", "timed out (outcome unknown)", MTR_RETRY_BACKOFF},
    [MTR_ERR_TRANSPORT] = {"TRANSPORT", "connection failed (outcome unknown)", MTR_RETRY_BACKOFF},
    [MTR_ERR_THROTTLED] = {"THROTTLED", "throttled by the peer", MTR_RETRY_BACKOFF},
    [MTR_ERR_SERVER] = {"SERVER", "peer-side failure", MTR_RETRY_BACKOFF},
    [MTR_ERR_AUTH] = {"AUTH", "authentication failed", MTR_RETRY_NEVER},
    [MTR_ERR_REJECTED] = {"REJECTED", "rejected as invalid by the peer", MTR_RETRY_NEVER},
    [MTR_ERR_DB] = {"DB", "ledger database error", MTR_RETRY_FATAL},
    [MTR_ERR_KAFKA] = {"KAFKA", "Kafka client error", MTR_RETRY_BACKOFF},
    [MTR_ERR_STATE] = {"STATE", "not valid in the current state", MTR_RETRY_NEVER},
};

static int in_range(mtr_err_t err)
{
    return (int)err >= 0 && err < MTR_ERR__COUNT;
}

const char *mtr_err_name(mtr_err_t err)
{
    return in_range(err) ? err_table[err].name : "UNKNOWN";
}

const char *mtr_err_str(mtr_err_t err)
{
    return in_range(err) ? err_table[err].desc : "unknown error";
}

mtr_retry_class_t mtr_err_retry_class(mtr_err_t err)
{
    return in_range(err) ? err_table[err].retry : MTR_RETRY_FATAL;
}

bool mtr_err_is_retriable(mtr_err_t err)
{
    return mtr_err_retry_class(err) == MTR_RETRY_BACKOFF;
}

mtr_err_t mtr_err_set(char *errstr, size_t size, mtr_err_t err, const char *fmt, ...)
{
    if (errstr && size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, size, fmt, ap);
        va_end(ap);
    }
    return err;
}
