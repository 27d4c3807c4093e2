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

/* Bills every row with a positive difference as a correction of its hour
 * (except partial rows, on which the replay has no verdict),
 * in one ledger transaction described by `description`. Says on out what
 * was billed. *n and *units_micro: how many corrections and units. */
mtr_err_t replay_submit_corrections(mtr_ledger_t *ledger, const mtr_config_t *config,
                                    const mtr_ledger_audit_t *audit, const char *description,
                                    FILE *out, size_t *n, int64_t *units_micro, char *errstr,
                                    size_t errstr_size);

/* Writes the over-billed rows (negative differences) to path as CSV, one
 * line per (customer, dimension): the fields of an entry of AWS
 * Marketplace's BatchCreateBillingAdjustmentRequest (agreementId,
 * originalInvoiceId, adjustmentAmount, currencyCode USD,
 * adjustmentReasonCode INCORRECT_METERING, description) and what they
 * come from (customer, dimension, hours, units). meterd cannot know
 * agreement and invoice ids or prices: invoices_path (may be NULL) is a CSV
 * exported from the seller's billing event data feed with columns
 * customer, agreement_id and optionally invoice_id, dimension, unit_price;
 * fields it does not fill are left empty for the seller. Says on out what
 * was written and what is left to fill. */
mtr_err_t replay_write_refund_file(const char *path, const char *invoices_path,
                                   const mtr_ledger_audit_t *audit, FILE *out, char *errstr,
                                   size_t errstr_size);

#endif
