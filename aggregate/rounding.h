/* Turning a micro-unit aggregate into AWS's integer quantity with the
 * dimension's rounding, carrying the remainder into the next hour so that
 * rounding neither loses nor invents usage: over any run of hours, the units
 * billed equal the true total rounded once, and
 *     billed_units * 1e6 + carry == sum of micro-units so far.
 *
 * The carry is a signed micro-unit amount per (customer, dimension):
 *   down:    units = floor(total)       carry in [0, 1e6)
 *            0.4, 0.4, 0.4 -> 0, 0, 1 (carry 0.4, 0.8, 0.2)
 *   up:      units = ceil(total)        carry in (-1e6, 0]
 *            a negative carry is usage already billed: 0.4 -> 1 (carry -0.6),
 *            then 0.6 -> 0 (carry 0), so the next 0.6 costs nothing
 *   nearest: units = floor(total + 0.5) carry in [-0.5e6, 0.5e6)
 * where total = this hour's micro-units + carry. Units are never negative: a
 * negative total (a carry from an "up" hour under a changed rule) bills 0
 * and stays in the carry.
 *
 * Pure functions; the caller keeps (and persists) one carry per
 * (scope, customer, dimension). */
#ifndef MTR_AGG_ROUNDING_H
#define MTR_AGG_ROUNDING_H

#include <stdint.h>

#include "core/config.h"
#include "core/err.h"

typedef struct mtr_agg_carry {
    int64_t micro; /* 0 for a new (customer, dimension) */
} mtr_agg_carry_t;

/* Rounds one hour's micro-units (>= 0) with *carry, stores the integer
 * quantity in *units and updates *carry. MTR_ERR_INVALID_ARG for a negative
 * amount, a carry not in (-1e6, 1e6) or an unknown mode; MTR_ERR_OVERFLOW if
 * the total does not fit. *carry is unchanged on error. */
mtr_err_t mtr_agg_round(mtr_rounding_t mode, int64_t micro, mtr_agg_carry_t *carry, int64_t *units,
                        char *errstr, size_t errstr_size);

#endif
