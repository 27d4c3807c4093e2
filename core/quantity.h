/* Fixed-point usage quantities: decimals as int64 micro-units (1 unit =
 * 1 000 000 micro), parsed exactly from their decimal text (never through a
 * double, so ten events of 0.1 sum to exactly 1), with overflow-checked
 * arithmetic and the dimension rounding rules used when an hour closes.
 *
 * Pure functions: any thread may call them; no allocation. */
#ifndef MTR_QUANTITY_H
#define MTR_QUANTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

#define MTR_QUANTITY_SCALE    1000000LL /* micro-units per unit */
#define MTR_QUANTITY_DECIMALS 6
/* Longest text mtr_quantity_format writes, with the NUL. */
#define MTR_QUANTITY_FORMAT_MAX 28

typedef enum mtr_quantity_status {
    MTR_QUANTITY_OK = 0,
    MTR_QUANTITY_SYNTAX,    /* not a decimal number: "abc", "1.", "NaN", "" */
    MTR_QUANTITY_NEGATIVE,  /* a well-formed number below zero */
    MTR_QUANTITY_PRECISION, /* non-zero digits past the 6th decimal place */
    MTR_QUANTITY_OVERFLOW   /* does not fit int64 micro-units */
} mtr_quantity_status_t;

/* Parses JSON number syntax (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`)
 * from text[0..len) (no NUL needed) into micro-units. Trailing zeros past the
 * 6th decimal are accepted ("1.0000000"); exponents are applied exactly
 * ("1.5e3" = 1500, "25e-7" is too precise). "-0" is zero. *out is written
 * only on MTR_QUANTITY_OK. */
mtr_quantity_status_t mtr_quantity_parse(const char *text, size_t len, int64_t *out);

/* Stable lower-case name of a status ("syntax", "negative", ...). */
const char *mtr_quantity_status_name(mtr_quantity_status_t status);

/* *out = a + b; false (and *out untouched) when the sum overflows int64. */
static inline bool mtr_quantity_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return false;
    *out = r;
    return true;
}

/* Writes micro as a decimal with no trailing zeros ("1.25", "3", "-0.5") and
 * returns its length; buf needs MTR_QUANTITY_FORMAT_MAX bytes. */
size_t mtr_quantity_format(int64_t micro, char *buf, size_t size);

/* Splits total (an hour's sum plus the carry from earlier hours) into the
 * whole units billed to AWS under rule and the remainder carried to the next
 * hour: units * SCALE + remainder == total, always. UP gives remainder in
 * (-SCALE, 0], DOWN [0, SCALE), NEAREST (half up) [-SCALE/2, SCALE/2). */
void mtr_quantity_round(int64_t total, mtr_rounding_t rule, int64_t *units, int64_t *remainder);

#endif
