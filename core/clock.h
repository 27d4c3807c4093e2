/* Injectable clock. Everything that asks "what time is it" (window close
 * decisions, the future-skew check, SigV4 dates, backoff) goes through an
 * mtr_clock so tests can set and advance time. Times are milliseconds. */
#ifndef MTR_CLOCK_H
#define MTR_CLOCK_H

#include <stdint.h>

typedef struct mtr_clock mtr_clock_t;
struct mtr_clock {
    int64_t (*wall_ms)(mtr_clock_t *clock);      /* Unix epoch milliseconds, UTC */
    int64_t (*monotonic_ms)(mtr_clock_t *clock); /* for intervals and timeouts */
    int64_t fixed_wall_ms;                       /* used by the manual clock */
    int64_t fixed_monotonic_ms;
};

/* The real system clock (shared, never freed). */
mtr_clock_t *mtr_clock_system(void);

/* A manual clock for tests: both readings stay where set. */
void mtr_clock_manual_init(mtr_clock_t *clock, int64_t wall_ms);
void mtr_clock_manual_advance(mtr_clock_t *clock, int64_t delta_ms);

static inline int64_t mtr_clock_wall_ms(mtr_clock_t *clock)
{
    return clock->wall_ms(clock);
}

static inline int64_t mtr_clock_monotonic_ms(mtr_clock_t *clock)
{
    return clock->monotonic_ms(clock);
}

#define MTR_MS_PER_HOUR 3600000LL

/* Start of the UTC hour holding t (floor, correct for negative t too). */
static inline int64_t mtr_hour_floor_ms(int64_t t_ms)
{
    int64_t r = t_ms % MTR_MS_PER_HOUR;
    return t_ms - (r < 0 ? r + MTR_MS_PER_HOUR : r);
}

#endif
