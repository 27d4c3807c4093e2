/* Progress of long on-call work on stderr: a bar redrawn in place on a
 * terminal, a plain line every few seconds otherwise (logs, CI), and a
 * final line with the total and the rate. Counts are the caller's unit
 * (offsets, events, records).
 *
 * One thread. */
#ifndef MTR_CLI_PROGRESS_H
#define MTR_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct cli_progress {
    const char *what; /* "replay" */
    const char *unit; /* "offsets" */
    bool tty;
    int64_t start_ms, last_ms;
    uint64_t done, total;
    bool drawn;
} cli_progress_t;

void cli_progress_init(cli_progress_t *p, const char *what, const char *unit);
/* Reports done of total; callable as often as wanted (it draws at most ten
 * times a second, or every five seconds without a terminal). opaque is the
 * cli_progress_t, so it fits module progress callbacks. */
void cli_progress_update(void *opaque, uint64_t done, uint64_t total);
/* Ends the bar with a line "<what>: N <unit> in S s (R/s)". */
void cli_progress_finish(cli_progress_t *p);

#endif
