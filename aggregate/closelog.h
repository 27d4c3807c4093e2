/* The close log of one partition: for each close, the hour closed and the
 * offset co(p,H) the partition had reached (next offset to consume) when it
 * closed. Closes go in hour order and offsets never go back, so "hours
 * closed as of offset o" is always a prefix of hours: the log is a step
 * function offset -> closed-through hour, and two closes at the same offset
 * keep only the later hour.
 *
 * It travels in the Kafka commit metadata as a compact versioned string:
 *   "v1;" [ hour "@" offset { "," dhour "@" doffset } ]
 * hour = hours since the Unix epoch (UTC); the first entry is absolute, the
 * next ones are deltas from the previous entry (dhour > 0, doffset >= 0).
 * Example: "v1;493512@1200,1@57,3@0". At most MTR_AGG_CLOSELOG_TEXT_MAX bytes.
 *
 * Ownership: the struct owns its items array (init/free). Pure data: no I/O,
 * no locks; one thread at a time. */
#ifndef MTR_AGG_CLOSELOG_H
#define MTR_AGG_CLOSELOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define MTR_AGG_NO_HOUR           INT64_MIN /* "no hour": nothing closed yet */
#define MTR_AGG_CLOSELOG_TEXT_MAX 512       /* bytes, including the NUL */

typedef struct mtr_agg_close {
    int64_t hour_ms; /* start of the closed hour */
    int64_t offset;  /* co(p,H): the partition's position when H closed */
} mtr_agg_close_t;

typedef struct mtr_agg_closelog {
    mtr_agg_close_t *items; /* hour and offset ascending */
    size_t n;
    size_t cap;
} mtr_agg_closelog_t;

void mtr_agg_closelog_init(mtr_agg_closelog_t *log);
void mtr_agg_closelog_free(mtr_agg_closelog_t *log);
void mtr_agg_closelog_copy(mtr_agg_closelog_t *dst, const mtr_agg_closelog_t *src);

/* Records that hour_ms closed at offset. Fails with MTR_ERR_STATE if it
 * would break the order (hour not after the last, offset before the last). */
mtr_err_t mtr_agg_closelog_append(mtr_agg_closelog_t *log, int64_t hour_ms, int64_t offset,
                                  char *errstr, size_t errstr_size);

/* The last hour closed as of offset (largest H with co(p,H) <= offset), or
 * MTR_AGG_NO_HOUR. */
int64_t mtr_agg_closelog_closed_through(const mtr_agg_closelog_t *log, int64_t offset);
/* The last hour closed at all, or MTR_AGG_NO_HOUR. */
int64_t mtr_agg_closelog_last_hour(const mtr_agg_closelog_t *log);

/* Drops entries that no replay from commit_offset can need: everything
 * before the last entry with co <= commit_offset. */
void mtr_agg_closelog_trim(mtr_agg_closelog_t *log, int64_t commit_offset);

/* Writes the text form into buf (NUL-terminated). MTR_ERR_OVERFLOW if it
 * does not fit in min(size, MTR_AGG_CLOSELOG_TEXT_MAX). */
mtr_err_t mtr_agg_closelog_format(const mtr_agg_closelog_t *log, char *buf, size_t size,
                                  char *errstr, size_t errstr_size);
/* Parses the text form (len bytes, no NUL needed) into *out (initialised by
 * this call; freed by the caller even on error). Garbage gives
 * MTR_ERR_PARSE, never a crash. An empty string or NULL parses as an empty
 * log (a group that never committed metadata). */
mtr_err_t mtr_agg_closelog_parse(const char *text, size_t len, mtr_agg_closelog_t *out,
                                 char *errstr, size_t errstr_size);

#endif
