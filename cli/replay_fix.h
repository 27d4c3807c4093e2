/* What `meterd replay` does with the differences it found, when asked:
 * bill the positive ones as corrections (--submit-corrections) and write
 * the negative ones as the input of a refund request (--refund-file). */
#ifndef MTR_CLI_REPLAY_FIX_H
#define MTR_CLI_REPLAY_FIX_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/config.h"
#include "core/err.h"
#include "ledger/ledger_audit.h"

/* Bills every row with a positive difference as a correction of its hour,
 * in one ledger transaction described by `description`. Says on out what
 * was billed. *n and *units_micro: how many corrections and units. */
mtr_err_t replay_submit_corrections(mtr_ledger_t *ledger, const mtr_config_t *config,
                                    const mtr_ledger_audit_t *audit, const char *description,
                                    FILE *out, size_t *n, int64_t *units_micro, char *errstr,
                                    size_t errstr_size);

#endif
