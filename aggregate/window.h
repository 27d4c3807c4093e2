/* The window rules of the exactly-once protocol (DESIGN.md section 4) as pure
 * functions over plain data: no Kafka, no clock reads, no I/O. The consumer
 * feeds each partition's messages through mtr_agg_partition_observe, asks
 * mtr_agg_close_due which hour (if any) may close, closes it on every owned
 * partition with mtr_agg_partition_close, and commits
 * mtr_agg_partition_commit_offset with the close-log tail.
 *
 *   watermark(p)   = max event time seen - lateness
 *   close H        when every owned partition has watermark >= end of H, or
 *                  is caught up to its high watermark and wall >= end of H +
 *                  lateness (a partition that already closed H never blocks
 *                  it); all owned partitions close H together, oldest first
 *   effective hour = max(hour(t), first hour not closed as of o)
 *   skip           effective hour already closed (in the close log)
 *   commit offset  smallest offset in a still-open window, else position
 *
 * Ownership: a partition state owns its close log and open-window list
 * (init/free). Threads: one at a time (the shard thread owning p). */
#ifndef MTR_AGG_WINDOW_H
#define MTR_AGG_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "aggregate/closelog.h"

#define MTR_AGG_NO_TIME INT64_MIN /* no event seen yet */

/* One hour that holds events of this partition, and the smallest offset of
 * them (what the commit offset must not pass). */
typedef struct mtr_agg_open_window {
    int64_t hour_ms;
    int64_t min_offset;
} mtr_agg_open_window_t;

typedef struct mtr_agg_partition {
    int32_t partition;
    int64_t max_event_ms;   /* MTR_AGG_NO_TIME until the first event */
    int64_t position;       /* next offset to consume */
    int64_t high_watermark; /* broker's end offset; -1 while unknown */
    mtr_agg_closelog_t log;
    mtr_agg_open_window_t *open; /* ascending hour */
    size_t n_open;
    size_t cap_open;
} mtr_agg_partition_t;

typedef enum mtr_agg_verdict {
    MTR_AGG_ADD, /* aggregate the event into *effective_hour */
    MTR_AGG_SKIP /* its effective hour is closed: it was already counted */
} mtr_agg_verdict_t;

/* Starts (or resumes) ownership of a partition at start_offset (the
 * committed offset) with the close log read back from the commit metadata
 * or the ledger (copied; NULL for none). */
void mtr_agg_partition_init(mtr_agg_partition_t *p, int32_t partition, int64_t start_offset,
                            const mtr_agg_closelog_t *log);
void mtr_agg_partition_free(mtr_agg_partition_t *p);

/* watermark(p), or MTR_AGG_NO_TIME before the first event. */
int64_t mtr_agg_watermark(const mtr_agg_partition_t *p, int64_t lateness_ms);

/* Effective hour of an event at offset with event time event_ms. */
int64_t mtr_agg_effective_hour(const mtr_agg_closelog_t *log, int64_t event_ms, int64_t offset);

/* Feeds one valid event at offset (offsets ascending). Updates the
 * watermark and position, and returns whether to count it and in which hour
 * (the open-window list learns the hour and its smallest offset). */
mtr_agg_verdict_t mtr_agg_partition_observe(mtr_agg_partition_t *p, int64_t event_ms,
                                            int64_t offset, int64_t *effective_hour);
/* A message that is not aggregated (dead-lettered, filtered): the position
 * moves past it. */
void mtr_agg_partition_skip_message(mtr_agg_partition_t *p, int64_t offset);

/* True while p re-reads offsets below its last close (after a restart):
 * those events' hours were fixed by the log, and no new hour may close until
 * p has passed the last close's offset (the log's offsets must not go back). */
bool mtr_agg_partition_replaying(const mtr_agg_partition_t *p);

/* Whether p lets hour_ms close now. */
bool mtr_agg_partition_ready(const mtr_agg_partition_t *p, int64_t hour_ms, int64_t wall_ms,
                             int64_t lateness_ms);

/* The oldest hour still open on any of the partitions, or MTR_AGG_NO_HOUR. */
int64_t mtr_agg_oldest_open_hour(const mtr_agg_partition_t *const *parts, size_t n);

/* The hour the instance should close now (the oldest open one, if every
 * partition is ready for it), or MTR_AGG_NO_HOUR. Call again after closing:
 * several hours may be due. */
int64_t mtr_agg_close_due(const mtr_agg_partition_t *const *parts, size_t n, int64_t wall_ms,
                          int64_t lateness_ms);

/* Closes hour_ms on p: logs (hour_ms, position) unless p already closed it,
 * and forgets its open windows up to hour_ms. MTR_ERR_STATE (nothing
 * changed) if p is replaying and has not closed hour_ms: only close hours
 * that mtr_agg_close_due returned, or check mtr_agg_partition_replaying. */
mtr_err_t mtr_agg_partition_close(mtr_agg_partition_t *p, int64_t hour_ms);

/* The offset to commit for p now. */
int64_t mtr_agg_partition_commit_offset(const mtr_agg_partition_t *p);

#endif
