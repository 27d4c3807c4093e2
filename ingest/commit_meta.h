/* The metadata string meterd puts in every Kafka offset commit, so that
 * whichever instance owns the partition next knows which hours are closed
 * and who closed them:
 *
 *   <close-log text> "|" <writer> { "," <writer> }
 *
 * The close-log text is aggregate/closelog.h's "v1;..." form; one writer id
 * per close-log entry ("-" when unknown) names the ledger that closed it.
 * Example: "v1;493512@1200,1@57|9f2c6a01b3d4e5f6,9f2c6a01b3d4e5f6".
 * A commit with no metadata (another tool committed) parses as an empty log.
 *
 * Pure functions; any thread. */
#ifndef MTR_INGEST_COMMIT_META_H
#define MTR_INGEST_COMMIT_META_H

#include <stddef.h>

#include "aggregate/closelog.h"
#include "core/err.h"

#define MTR_COMMIT_META_MAX 2048
#define MTR_WRITER_ID_MAX   32

/* A parsed commit metadata string: the close log and one writer per entry. */
typedef struct mtr_commit_meta {
    mtr_agg_closelog_t log;
    char (*writers)[MTR_WRITER_ID_MAX + 1]; /* log.n entries */
} mtr_commit_meta_t;

/* Parses text (NULL or "" gives an empty log). *out is initialised even on
 * error and must be freed with mtr_commit_meta_free. */
mtr_err_t mtr_commit_meta_parse(const char *text, size_t len, mtr_commit_meta_t *out, char *errstr,
                                size_t errstr_size);
void mtr_commit_meta_free(mtr_commit_meta_t *meta);

/* The writer of the entry (hour_ms, offset) in meta, or NULL when meta has no
 * such entry. */
const char *mtr_commit_meta_writer(const mtr_commit_meta_t *meta, int64_t hour_ms, int64_t offset);

/* Formats log with its writers: entries found in `inherited` keep their
 * writer there, every other entry is `self`'s. */
mtr_err_t mtr_commit_meta_format(const mtr_agg_closelog_t *log, const mtr_commit_meta_t *inherited,
                                 const char *self, char *buf, size_t size, char *errstr,
                                 size_t errstr_size);

#endif
