/* System and manual clocks. */
#include "core/clock.h"

#include <time.h>

static int64_t timespec_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t system_wall(mtr_clock_t *clock)
{
    (void)clock;
    return timespec_ms(CLOCK_REALTIME);
}

static int64_t system_monotonic(mtr_clock_t *clock)
{
    (void)clock;
    return timespec_ms(CLOCK_MONOTONIC);
}

static mtr_clock_t system_clock = {system_wall, system_monotonic, 0, 0};

mtr_clock_t *mtr_clock_system(void)
{
    return &system_clock;
}

static int64_t manual_wall(mtr_clock_t *clock)
{
    return clock->fixed_wall_ms;
}

static int64_t manual_monotonic(mtr_clock_t *clock)
{
    return clock->fixed_monotonic_ms;
}

void mtr_clock_manual_init(mtr_clock_t *clock, int64_t wall_ms)
{
    clock->wall_ms = manual_wall;
    clock->monotonic_ms = manual_monotonic;
    clock->fixed_wall_ms = wall_ms;
    clock->fixed_monotonic_ms = 0;
}

void mtr_clock_manual_advance(mtr_clock_t *clock, int64_t delta_ms)
{
    clock->fixed_wall_ms += delta_ms;
    clock->fixed_monotonic_ms += delta_ms;
}
