/* Token-bucket pacing on the injectable monotonic clock. */
#include "emit/pacer.h"

#include <math.h>

void mtr_emit_pacer_init(mtr_emit_pacer_t *p, mtr_clock_t *clock, double calls_per_second,
                         double burst)
{
    p->clock = clock;
    /* Two readings of a millisecond clock can be up to 1 ms closer than
     * the real time between them. Spreading each second's calls over
     * 1001 ms of readings keeps every real second at or under the rate
     * (AWS counts real seconds). */
    p->rate = calls_per_second > 0 ? calls_per_second / 1001.0 : 0;
    p->burst = burst < 1 ? 1 : burst;
    p->tokens = p->burst;
    p->last_ms = mtr_clock_monotonic_ms(clock);
}

int64_t mtr_emit_pacer_try_acquire(mtr_emit_pacer_t *p)
{
    if (p->rate == 0)
        return 0;
    int64_t now = mtr_clock_monotonic_ms(p->clock);
    if (now > p->last_ms) {
        p->tokens = fmin(p->burst, p->tokens + (double)(now - p->last_ms) * p->rate);
        p->last_ms = now;
    }
    /* A small tolerance absorbs floating-point dust (0.1 * 10 != 1.0). */
    if (p->tokens >= 1.0 - 1e-9) {
        p->tokens -= 1.0;
        return 0;
    }
    int64_t wait = (int64_t)ceil((1.0 - p->tokens) / p->rate);
    return wait < 1 ? 1 : wait;
}
