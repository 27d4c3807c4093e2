/* Event times: RFC 3339 text and epoch seconds/milliseconds to Unix ms,
 * and the plausibility window (not before 2000, not past the allowed clock
 * skew, not older than the maximum event age). */
#include <math.h>
#include <string.h>

#include "core/civil.h"
#include "core/event_int.h"

/* Epoch numbers below this are seconds (1e11 s is the year 5138), at or
 * above it milliseconds (1e11 ms is 1973). */
#define EPOCH_SECONDS_LIMIT 1e11

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int days_in_month(int y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dim[m - 1];
}

bool mtr_event_parse_rfc3339(const char *s, size_t len, int64_t *out_ms)
{
    /* YYYY-MM-DDTHH:MM:SS is 19 bytes, the shortest zone "Z" one more. */
    if (len < 20 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':')
        return false;
    if (s[10] != 'T' && s[10] != 't' && s[10] != ' ')
        return false;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h < 0 || h > 23 ||
        mi < 0 || mi > 59 || sec < 0 || sec > 60) /* 60: a leap second */
        return false;
    size_t i = 19;
    int ms = 0;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (i - start < 3)
                ms = ms * 10 + (s[i] - '0');
            i++;
        }
        if (i == start)
            return false;
        for (size_t k = i - start; k < 3; k++)
            ms *= 10;
    }
    if (i >= len)
        return false;
    int offset_min = 0;
    if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
        offset_min = 0;
    } else if ((s[i] == '+' || s[i] == '-') && i + 6 == len && s[i + 3] == ':') {
        int oh = digits(s + i + 1, 2), om = digits(s + i + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return false;
        offset_min = (oh * 60 + om) * (s[i] == '-' ? -1 : 1);
    } else {
        return false;
    }
    int64_t secs =
        mtr_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - (int64_t)offset_min * 60;
    *out_ms = secs * 1000 + ms;
    return true;
}

mtr_event_reason_t evt_time_check(evt_ctx_t *ctx, int64_t t, const char *field)
{
    const mtr_config_t *cfg = ctx->dec->cfg;
    if (t < MTR_EVENT_MIN_TIME_MS)
        return evt_reject(ctx, MTR_EVENT_BAD_TIMESTAMP,
                          "%s is %lld ms, before 2000-01-01; send RFC 3339 or epoch seconds or "
                          "milliseconds",
                          field, (long long)t);
    int64_t now = mtr_clock_wall_ms(ctx->dec->clock);
    if (cfg->window.max_future_skew_ms > 0 && t > now + cfg->window.max_future_skew_ms)
        return evt_reject(ctx, MTR_EVENT_FUTURE_TIMESTAMP,
                          "%s is %lld ms ahead of this host's clock (limit %lld ms, "
                          "window.max_future_skew); fix the producer's clock",
                          field, (long long)(t - now), (long long)cfg->window.max_future_skew_ms);
    if (cfg->window.max_event_age_ms > 0 && t < now - cfg->window.max_event_age_ms)
        return evt_reject(ctx, MTR_EVENT_ANCIENT_TIMESTAMP,
                          "%s is %lld ms old (limit %lld ms, window.max_event_age); AWS no "
                          "longer accepts usage that old",
                          field, (long long)(now - t), (long long)cfg->window.max_event_age_ms);
    return MTR_EVENT_OK;
}

mtr_event_reason_t evt_time_text(evt_ctx_t *ctx, const char *s, size_t len, const char *field,
                                 int64_t *out_ms)
{
    char show[EVT_SHOW_BUF];
    int64_t t = 0;
    bool all_digits = len > 0 && len <= 16;
    for (size_t i = 0; i < len && all_digits; i++)
        all_digits = s[i] >= '0' && s[i] <= '9';
    if (all_digits) {
        for (size_t i = 0; i < len; i++)
            t = t * 10 + (s[i] - '0');
        if ((double)t < EPOCH_SECONDS_LIMIT)
            t *= 1000;
    } else if (!mtr_event_parse_rfc3339(s, len, &t)) {
        return evt_reject(ctx, MTR_EVENT_BAD_TIMESTAMP,
                          "%s value %s is not a time; send RFC 3339 (2026-11-26T10:15:03Z) or "
                          "epoch seconds or milliseconds",
                          field, evt_show(s, len, show, sizeof show));
    }
    mtr_event_reason_t r = evt_time_check(ctx, t, field);
    if (r == MTR_EVENT_OK)
        *out_ms = t;
    return r;
}

mtr_event_reason_t evt_time(evt_ctx_t *ctx, const cJSON *item, const char *field, int64_t *out_ms)
{
    if (evt_is_string(item))
        return evt_time_text(ctx, item->valuestring, strlen(item->valuestring), field, out_ms);
    if (!evt_is_number(item))
        return evt_reject(ctx, MTR_EVENT_BAD_TIMESTAMP,
                          "%s is %s; send RFC 3339 text or epoch seconds or "
                          "milliseconds",
                          field, evt_type_name(item));
    double v = item->valuedouble;
    /* 1e16 ms is the year 318857: anything larger is not a time. */
    if (!isfinite(v) || v < 0 || v >= 1e16)
        return evt_reject(ctx, MTR_EVENT_BAD_TIMESTAMP,
                          "%s value %g is not an epoch time; send seconds or "
                          "milliseconds since 1970",
                          field, v);
    int64_t t = v < EPOCH_SECONDS_LIMIT ? (int64_t)llround(v * 1000.0) : (int64_t)v;
    mtr_event_reason_t r = evt_time_check(ctx, t, field);
    if (r == MTR_EVENT_OK)
        *out_ms = t;
    return r;
}
