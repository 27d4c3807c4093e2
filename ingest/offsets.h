/* What Kafka holds for meterd's consumer group, partition by partition:
 * committed offset, log start and end, lag, the live member that owns the
 * partition, and the close log meterd keeps in the commit metadata decoded
 * (how many hours it has closed, through which hour, and which ledger
 * closed them). What `kafka-consumer-groups --describe` shows, plus what
 * only meterd knows. Read-only: the client never joins the group and never
 * commits.
 *
 * Ownership: mtr_offsets_t owns every string and array; free with
 * mtr_offsets_free. One thread. */
#ifndef MTR_INGEST_OFFSETS_H
#define MTR_INGEST_OFFSETS_H

#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/err.h"

typedef enum mtr_offsets_meta {
    MTR_OFFSETS_META_NONE,    /* nothing committed, or committed without metadata */
    MTR_OFFSETS_META_METERD,  /* meterd's close log */
    MTR_OFFSETS_META_FOREIGN, /* metadata meterd cannot read (another tool's) */
} mtr_offsets_meta_t;

typedef struct mtr_offsets_partition {
    char *topic;
    int32_t partition;
    int64_t committed; /* -1: nothing committed */
    int64_t log_start; /* -1: unknown (the query failed) */
    int64_t log_end;   /* -1: unknown */
    int64_t lag;       /* log_end - committed (or - log_start); -1: unknown */
    char *member;      /* "client-id@host" of the live owner; NULL: none */
    mtr_offsets_meta_t meta;
    size_t closed_hours;       /* entries in the close log */
    int64_t closed_through_ms; /* last hour closed as of `committed`; INT64_MIN: none */
    char *writer;              /* ledger that closed that hour ("-": unknown); NULL: none */
} mtr_offsets_partition_t;

typedef struct mtr_offsets {
    char *group;
    char *state;    /* "Stable", "Empty", ...; "Unknown" when the broker would not say */
    size_t members; /* live members */
    mtr_offsets_partition_t *parts;
    size_t n_parts;
} mtr_offsets_t;

/* Describes config's group over every partition of its topics, waiting at
 * most timeout_ms per request. Fails with a message that names the topic
 * or the broker when the cluster cannot be asked. */
mtr_err_t mtr_offsets_describe(const mtr_config_t *config, int timeout_ms, mtr_offsets_t *out,
                               char *errstr, size_t errstr_size);
void mtr_offsets_free(mtr_offsets_t *offsets);

#endif
