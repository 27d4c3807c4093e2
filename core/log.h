/* Logging: one line per event on stderr, "time level module: message".
 * Thread-safe (each line is one write). Never pass a secret to these
 * functions; config and credential code print redacted forms only.
 *
 * Rate limiting for problems that can repeat per event (bad input): a
 * mtr_log_limiter lets `burst` lines through per `interval_ms` and, on the
 * next line it lets through, says how many it held back since the last one:
 * "... (37 similar lines suppressed since the last one)". */
#ifndef MTR_LOG_H
#define MTR_LOG_H

#include <stdatomic.h>
#include <stdint.h>

typedef enum mtr_log_level {
    MTR_LOG_DEBUG,
    MTR_LOG_INFO,
    MTR_LOG_WARN,
    MTR_LOG_ERROR
} mtr_log_level_t;

void mtr_log_set_level(mtr_log_level_t level);
mtr_log_level_t mtr_log_get_level(void);
/* Parses "debug", "info", "warn", "error"; returns -1 for anything else. */
int mtr_log_level_parse(const char *name);

void mtr_log(mtr_log_level_t level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define mtr_debug(mod, ...) mtr_log(MTR_LOG_DEBUG, mod, __VA_ARGS__)
#define mtr_info(mod, ...)  mtr_log(MTR_LOG_INFO, mod, __VA_ARGS__)
#define mtr_warn(mod, ...)  mtr_log(MTR_LOG_WARN, mod, __VA_ARGS__)
#define mtr_error(mod, ...) mtr_log(MTR_LOG_ERROR, mod, __VA_ARGS__)

struct mtr_clock;

typedef struct mtr_log_limiter {
    uint32_t burst;
    int64_t interval_ms;
    struct mtr_clock *clock; /* NULL: the system's monotonic clock (tests set one) */
    _Atomic int64_t window_start_ms;
    _Atomic uint32_t used;
    _Atomic uint64_t suppressed;
} mtr_log_limiter_t;

#define MTR_LOG_LIMITER_INIT(burst_, interval_ms_)                                                 \
    {                                                                                              \
        .burst = (burst_), .interval_ms = (interval_ms_)                                           \
    }

/* Logs like mtr_log when the limiter allows it; otherwise counts the line as
 * suppressed. */
void mtr_log_limited(mtr_log_limiter_t *lim, mtr_log_level_t level, const char *module,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
