/* The per-partition close log and its compact text form for the Kafka
 * commit metadata. */
#include "aggregate/closelog.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/mem.h"

void mtr_agg_closelog_init(mtr_agg_closelog_t *log)
{
    memset(log, 0, sizeof *log);
}

void mtr_agg_closelog_free(mtr_agg_closelog_t *log)
{
    mtr_free(log->items);
    memset(log, 0, sizeof *log);
}

void mtr_agg_closelog_copy(mtr_agg_closelog_t *dst, const mtr_agg_closelog_t *src)
{
    mtr_agg_closelog_init(dst);
    if (!src || src->n == 0)
        return;
    dst->items = mtr_malloc(src->n * sizeof *dst->items);
    memcpy(dst->items, src->items, src->n * sizeof *dst->items);
    dst->n = dst->cap = src->n;
}

mtr_err_t mtr_agg_closelog_append(mtr_agg_closelog_t *log, int64_t hour_ms, int64_t offset,
                                  char *errstr, size_t errstr_size)
{
    if (hour_ms != mtr_hour_floor_ms(hour_ms) || hour_ms == MTR_AGG_NO_HOUR || offset < 0)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "close log: hour %" PRId64 " / offset %" PRId64
                           " is not an hour start and a non-negative offset",
                           hour_ms, offset);
    if (log->n > 0) {
        mtr_agg_close_t *last = &log->items[log->n - 1];
        if (hour_ms <= last->hour_ms || offset < last->offset)
            return mtr_err_set(errstr, errstr_size, MTR_ERR_STATE,
                               "close log: close of hour %" PRId64 " at offset %" PRId64
                               " goes back before hour %" PRId64 " at offset %" PRId64
                               " (closes must go in hour order, offsets forward)",
                               hour_ms, offset, last->hour_ms, last->offset);
        /* Same offset: the later hour says everything the earlier one did. */
        if (offset == last->offset) {
            last->hour_ms = hour_ms;
            return MTR_OK;
        }
    }
    if (log->n == log->cap) {
        log->cap = log->cap ? log->cap * 2 : 8;
        log->items = mtr_realloc(log->items, log->cap * sizeof *log->items);
    }
    log->items[log->n].hour_ms = hour_ms;
    log->items[log->n].offset = offset;
    log->n++;
    return MTR_OK;
}

int64_t mtr_agg_closelog_closed_through(const mtr_agg_closelog_t *log, int64_t offset)
{
    /* Binary search for the last entry with co <= offset. */
    size_t lo = 0, hi = log->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (log->items[mid].offset <= offset)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == 0 ? MTR_AGG_NO_HOUR : log->items[lo - 1].hour_ms;
}

int64_t mtr_agg_closelog_last_hour(const mtr_agg_closelog_t *log)
{
    return log->n == 0 ? MTR_AGG_NO_HOUR : log->items[log->n - 1].hour_ms;
}

void mtr_agg_closelog_trim(mtr_agg_closelog_t *log, int64_t commit_offset)
{
    size_t keep_from = 0;
    for (size_t i = 0; i < log->n && log->items[i].offset <= commit_offset; i++)
        keep_from = i;
    if (keep_from == 0)
        return; /* also covers an empty log */
    memmove(log->items, log->items + keep_from, (log->n - keep_from) * sizeof *log->items);
    log->n -= keep_from;
}

mtr_err_t mtr_agg_closelog_format(const mtr_agg_closelog_t *log, char *buf, size_t size,
                                  char *errstr, size_t errstr_size)
{
    size_t limit = size < MTR_AGG_CLOSELOG_TEXT_MAX ? size : MTR_AGG_CLOSELOG_TEXT_MAX;
    size_t len = 0;
    int w = snprintf(buf, limit, "v1;");
    if (w < 0 || (size_t)w >= limit)
        goto overflow;
    len = (size_t)w;
    for (size_t i = 0; i < log->n; i++) {
        const mtr_agg_close_t *c = &log->items[i];
        int64_t h = c->hour_ms / MTR_MS_PER_HOUR;
        int64_t o = c->offset;
        if (i > 0) {
            h -= log->items[i - 1].hour_ms / MTR_MS_PER_HOUR;
            o -= log->items[i - 1].offset;
        }
        w = snprintf(buf + len, limit - len, "%s%" PRId64 "@%" PRId64, i ? "," : "", h, o);
        if (w < 0 || (size_t)w >= limit - len)
            goto overflow;
        len += (size_t)w;
    }
    return MTR_OK;
overflow:
    if (size > 0)
        buf[0] = '\0';
    return mtr_err_set(errstr, errstr_size, MTR_ERR_OVERFLOW,
                       "close log: %zu entries do not fit in %zu bytes of commit metadata "
                       "(trim it to the commit offset first)",
                       log->n, limit);
}

/* Reads a decimal int64 (optionally negative) at *p, moving *p past it. */
static bool read_int(const char **p, const char *end, bool allow_negative, int64_t *out)
{
    const char *s = *p;
    bool neg = false;
    if (s < end && *s == '-' && allow_negative) {
        neg = true;
        s++;
    }
    if (s >= end || *s < '0' || *s > '9')
        return false;
    uint64_t v = 0;
    while (s < end && *s >= '0' && *s <= '9') {
        v = v * 10 + (uint64_t)(*s - '0');
        if (v > (uint64_t)INT64_MAX)
            return false;
        s++;
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    *p = s;
    return true;
}

mtr_err_t mtr_agg_closelog_parse(const char *text, size_t len, mtr_agg_closelog_t *out,
                                 char *errstr, size_t errstr_size)
{
    mtr_agg_closelog_init(out);
    if (!text || len == 0)
        return MTR_OK;
    const char *p = text, *end = text + len;
    if (len < 3 || memcmp(p, "v1;", 3) != 0)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                           "close log: metadata does not start with \"v1;\" (written by an "
                           "unknown version or another tool; reset the group's offsets with "
                           "`meterd offsets` if it is not meterd's)");
    p += 3;
    int64_t hour = 0, offset = 0;
    for (size_t i = 0; p < end; i++) {
        int64_t h, o;
        if (i > 0) {
            if (*p != ',')
                goto bad;
            p++;
        }
        if (!read_int(&p, end, i == 0, &h) || p >= end || *p != '@')
            goto bad;
        p++;
        if (!read_int(&p, end, false, &o))
            goto bad;
        if (i > 0 && h <= 0)
            goto bad;
        if (__builtin_add_overflow(hour, h, &hour) || __builtin_add_overflow(offset, o, &offset))
            goto bad;
        int64_t hour_ms;
        if (__builtin_mul_overflow(hour, MTR_MS_PER_HOUR, &hour_ms) || hour_ms == MTR_AGG_NO_HOUR)
            goto bad;
        if (mtr_agg_closelog_append(out, hour_ms, offset, NULL, 0) != MTR_OK)
            goto bad;
    }
    return MTR_OK;
bad:
    mtr_agg_closelog_free(out);
    return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                       "close log: malformed metadata at byte %zu of %zu (expected "
                       "hour@offset entries separated by ',')",
                       (size_t)(p - text), len);
}
