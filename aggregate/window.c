/* The window rules of the exactly-once protocol, as pure state transitions
 * on a partition's plain data (see window.h). */
#include "aggregate/window.h"

#include <string.h>

#include "core/clock.h"
#include "core/mem.h"

void mtr_agg_partition_init(mtr_agg_partition_t *p, int32_t partition, int64_t start_offset,
                            const mtr_agg_closelog_t *log)
{
    memset(p, 0, sizeof *p);
    p->partition = partition;
    p->max_event_ms = MTR_AGG_NO_TIME;
    p->position = start_offset;
    p->high_watermark = -1;
    mtr_agg_closelog_copy(&p->log, log);
}

void mtr_agg_partition_free(mtr_agg_partition_t *p)
{
    mtr_agg_closelog_free(&p->log);
    mtr_free(p->open);
    memset(p, 0, sizeof *p);
}

int64_t mtr_agg_watermark(const mtr_agg_partition_t *p, int64_t lateness_ms)
{
    if (p->max_event_ms == MTR_AGG_NO_TIME)
        return MTR_AGG_NO_TIME;
    return p->max_event_ms - lateness_ms;
}

int64_t mtr_agg_effective_hour(const mtr_agg_closelog_t *log, int64_t event_ms, int64_t offset)
{
    int64_t hour = mtr_hour_floor_ms(event_ms);
    int64_t closed = mtr_agg_closelog_closed_through(log, offset);
    if (closed != MTR_AGG_NO_HOUR && hour <= closed)
        return closed + MTR_MS_PER_HOUR; /* folded into the oldest open hour */
    return hour;
}

static void note_open(mtr_agg_partition_t *p, int64_t hour_ms, int64_t offset)
{
    size_t i = 0;
    while (i < p->n_open && p->open[i].hour_ms < hour_ms)
        i++;
    if (i < p->n_open && p->open[i].hour_ms == hour_ms) {
        if (offset < p->open[i].min_offset)
            p->open[i].min_offset = offset;
        return;
    }
    if (p->n_open == p->cap_open) {
        p->cap_open = p->cap_open ? p->cap_open * 2 : 4;
        p->open = mtr_realloc(p->open, p->cap_open * sizeof *p->open);
    }
    if (i < p->n_open)
        memmove(p->open + i + 1, p->open + i, (p->n_open - i) * sizeof *p->open);
    p->open[i].hour_ms = hour_ms;
    p->open[i].min_offset = offset;
    p->n_open++;
}

mtr_agg_verdict_t mtr_agg_partition_observe(mtr_agg_partition_t *p, int64_t event_ms,
                                            int64_t offset, int64_t *effective_hour)
{
    if (p->max_event_ms == MTR_AGG_NO_TIME || event_ms > p->max_event_ms)
        p->max_event_ms = event_ms;
    if (offset + 1 > p->position)
        p->position = offset + 1;
    int64_t e = mtr_agg_effective_hour(&p->log, event_ms, offset);
    *effective_hour = e;
    int64_t last = mtr_agg_closelog_last_hour(&p->log);
    if (last != MTR_AGG_NO_HOUR && e <= last)
        return MTR_AGG_SKIP;
    note_open(p, e, offset);
    return MTR_AGG_ADD;
}

void mtr_agg_partition_skip_message(mtr_agg_partition_t *p, int64_t offset)
{
    if (offset + 1 > p->position)
        p->position = offset + 1;
}

bool mtr_agg_partition_replaying(const mtr_agg_partition_t *p)
{
    return p->log.n > 0 && p->position < p->log.items[p->log.n - 1].offset;
}

bool mtr_agg_partition_ready(const mtr_agg_partition_t *p, int64_t hour_ms, int64_t wall_ms,
                             int64_t lateness_ms)
{
    int64_t last = mtr_agg_closelog_last_hour(&p->log);
    if (last != MTR_AGG_NO_HOUR && hour_ms <= last)
        return true; /* already closed here: nothing can land in it */
    if (mtr_agg_partition_replaying(p))
        return false;
    int64_t end = hour_ms + MTR_MS_PER_HOUR;
    int64_t wm = mtr_agg_watermark(p, lateness_ms);
    if (wm != MTR_AGG_NO_TIME && wm >= end)
        return true;
    bool caught_up = p->high_watermark >= 0 && p->position >= p->high_watermark;
    return caught_up && wall_ms >= end + lateness_ms;
}

int64_t mtr_agg_oldest_open_hour(const mtr_agg_partition_t *const *parts, size_t n)
{
    int64_t oldest = MTR_AGG_NO_HOUR;
    for (size_t i = 0; i < n; i++) {
        if (parts[i]->n_open == 0)
            continue;
        int64_t h = parts[i]->open[0].hour_ms;
        if (oldest == MTR_AGG_NO_HOUR || h < oldest)
            oldest = h;
    }
    return oldest;
}

int64_t mtr_agg_close_due(const mtr_agg_partition_t *const *parts, size_t n, int64_t wall_ms,
                          int64_t lateness_ms)
{
    int64_t hour = mtr_agg_oldest_open_hour(parts, n);
    if (hour == MTR_AGG_NO_HOUR)
        return MTR_AGG_NO_HOUR;
    for (size_t i = 0; i < n; i++)
        if (!mtr_agg_partition_ready(parts[i], hour, wall_ms, lateness_ms))
            return MTR_AGG_NO_HOUR;
    return hour;
}

mtr_err_t mtr_agg_partition_close(mtr_agg_partition_t *p, int64_t hour_ms)
{
    int64_t last = mtr_agg_closelog_last_hour(&p->log);
    if (last == MTR_AGG_NO_HOUR || hour_ms > last) {
        mtr_err_t err = mtr_agg_closelog_append(&p->log, hour_ms, p->position, NULL, 0);
        if (err != MTR_OK)
            return err;
    }
    size_t drop = 0;
    while (drop < p->n_open && p->open[drop].hour_ms <= hour_ms)
        drop++;
    if (drop > 0) {
        memmove(p->open, p->open + drop, (p->n_open - drop) * sizeof *p->open);
        p->n_open -= drop;
    }
    return MTR_OK;
}

int64_t mtr_agg_partition_commit_offset(const mtr_agg_partition_t *p)
{
    int64_t c = p->position;
    for (size_t i = 0; i < p->n_open; i++)
        if (p->open[i].min_offset < c)
            c = p->open[i].min_offset;
    return c;
}
