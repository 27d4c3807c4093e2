/* The report of `meterd replay`: the differing rows (table, CSV or JSON),
 * the per-partition table, the summary that says what the result means,
 * and for --dead-letter the reasons table. */
#ifndef MTR_CLI_REPLAY_REPORT_H
#define MTR_CLI_REPLAY_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ingest/dead_letter_scan.h"
#include "ingest/replay.h"
#include "ledger/ledger_audit.h"

typedef struct replay_outcome {
    size_t under, over; /* rows billed too little, too much */
    size_t unsure;      /* differing rows of partitions not read completely */
    size_t incomplete;  /* such partitions */
} replay_outcome_t;

/* The rows with a difference (every row with all) in format; a table
 * without rows prints nothing. */
void replay_print_rows(const mtr_ledger_audit_t *audit, bool all, const char *format);
/* Each partition's hours, offsets read, counts and coverage (a table). */
void replay_print_partitions(const mtr_replay_t *replay);
/* What was compared and what it means, with an explanation of each
 * partition not read completely. */
replay_outcome_t replay_summarise(FILE *out, const char *hours, const mtr_replay_t *replay,
                                  const mtr_ledger_audit_t *audit, bool submit);
/* --dead-letter: copies now valid and still invalid per reason, examples. */
void replay_print_reasons(const mtr_dlq_scan_t *scan, bool table);

#endif
