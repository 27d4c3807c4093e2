/* Rounding a micro-unit aggregate to AWS's integer with a remainder carry
 * (see rounding.h for what the carry means per mode). */
#include "aggregate/rounding.h"

#include <inttypes.h>

#define UNIT 1000000LL

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

mtr_err_t mtr_agg_round(mtr_rounding_t mode, int64_t micro, mtr_agg_carry_t *carry, int64_t *units,
                        char *errstr, size_t errstr_size)
{
    if (micro < 0)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "rounding: negative quantity %" PRId64 " micro-units "
                           "(corrections go through the ledger, not the hour sum)",
                           micro);
    if (carry->micro <= -UNIT || carry->micro >= UNIT)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "rounding: carry %" PRId64 " micro-units is not within one unit "
                           "(the stored carry is corrupt)",
                           carry->micro);
    int64_t total;
    if (__builtin_add_overflow(micro, carry->micro, &total))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_OVERFLOW,
                           "rounding: %" PRId64 " + carry %" PRId64 " overflows", micro,
                           carry->micro);
    int64_t u;
    switch (mode) {
    case MTR_ROUND_DOWN:
        u = floor_div(total, UNIT);
        break;
    case MTR_ROUND_UP:
        /* ceil(total / UNIT) = -floor(-total / UNIT); -total cannot overflow
         * because total > INT64_MIN here (micro >= 0, carry > -UNIT). */
        u = -floor_div(-total, UNIT);
        break;
    case MTR_ROUND_NEAREST:
        if (total > INT64_MAX - UNIT / 2)
            u = floor_div(total, UNIT) + ((total % UNIT) >= UNIT / 2 ? 1 : 0);
        else
            u = floor_div(total + UNIT / 2, UNIT);
        break;
    default:
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "rounding: unknown mode %d (expected up, down, nearest)", (int)mode);
    }
    if (u < 0)
        u = 0; /* a negative total stays in the carry; never bill below zero */
    int64_t billed;
    if (__builtin_mul_overflow(u, UNIT, &billed))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_OVERFLOW,
                           "rounding: %" PRId64 " micro-units round to more units than fit", total);
    *units = u;
    carry->micro = total - billed;
    return MTR_OK;
}
