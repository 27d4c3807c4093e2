/* Request pacing: a token bucket that lets calls_per_second calls through on
 * average and up to `burst` at once after a quiet spell. AWS allows about 10
 * BatchMeterUsage calls per second per account and region; staying under it
 * avoids throttling instead of paying for it with retries.
 *
 * Time comes from an mtr_clock (monotonic reading), so tests drive it with a
 * manual clock. A pacer is plain data owned by its user; one thread at a
 * time. */
#ifndef MTR_EMIT_PACER_H
#define MTR_EMIT_PACER_H

#include <stdint.h>

#include "core/clock.h"

typedef struct mtr_emit_pacer {
    mtr_clock_t *clock;
    double rate;   /* tokens per millisecond; 0: pacing off */
    double burst;  /* bucket size, >= 1 */
    double tokens; /* starts full */
    int64_t last_ms;
} mtr_emit_pacer_t;

/* calls_per_second <= 0 turns pacing off; burst < 1 counts as 1. */
void mtr_emit_pacer_init(mtr_emit_pacer_t *p, mtr_clock_t *clock, double calls_per_second,
                         double burst);

/* Takes a token and returns 0 when a call may start now; otherwise takes
 * nothing and returns the milliseconds until a token will be there (>= 1). */
int64_t mtr_emit_pacer_try_acquire(mtr_emit_pacer_t *p);

#endif
