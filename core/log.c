/* Line-at-a-time logging to stderr with a level filter and rate limiting. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

static _Atomic int current_level = MTR_LOG_INFO;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void mtr_log_set_level(mtr_log_level_t level)
{
    current_level = level;
}

mtr_log_level_t mtr_log_get_level(void)
{
    return (mtr_log_level_t)current_level;
}

int mtr_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    return -1;
}

static void log_va(mtr_log_level_t level, const char *module, const char *suffix, const char *fmt,
                   va_list ap)
{
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line,
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s %s: ", tm.tm_year + 1900,
                     tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec / 1000000, level_names[level], module);
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    size_t len = m < 0 ? (size_t)n : (size_t)n + (size_t)m;
    if (len > sizeof line - 64)
        len = sizeof line - 64;
    len += (size_t)snprintf(line + len, sizeof line - len, "%s\n", suffix);
    /* One write per line so concurrent threads never interleave within it. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void mtr_log(mtr_log_level_t level, const char *module, const char *fmt, ...)
{
    if ((int)level < current_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_va(level, module, "", fmt, ap);
    va_end(ap);
}

static int64_t now_ms(const mtr_log_limiter_t *lim)
{
    if (lim->clock)
        return mtr_clock_monotonic_ms(lim->clock);
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void mtr_log_limited(mtr_log_limiter_t *lim, mtr_log_level_t level, const char *module,
                     const char *fmt, ...)
{
    if ((int)level < current_level)
        return;
    int64_t now = now_ms(lim);
    int64_t start = lim->window_start_ms;
    if (now - start >= lim->interval_ms &&
        atomic_compare_exchange_strong(&lim->window_start_ms, &start, now))
        lim->used = 0;
    if (atomic_fetch_add(&lim->used, 1) >= lim->burst) {
        lim->suppressed++;
        return;
    }
    char suffix[128] = "";
    uint64_t held = atomic_exchange(&lim->suppressed, 0);
    if (held)
        snprintf(suffix, sizeof suffix, " (%llu similar line%s suppressed since the last one)",
                 (unsigned long long)held, held == 1 ? "" : "s");
    va_list ap;
    va_start(ap, fmt);
    log_va(level, module, suffix, fmt, ap);
    va_end(ap);
}
