/* Exact decimal → micro-unit conversion, formatting and close-time rounding
 * of usage quantities (see quantity.h). */
#include "core/quantity.h"

#include <stdio.h>
#include <string.h>

/* Exponents beyond this are saturated while parsing: any value that needs
 * one either overflows or is all zeros, so the exact size no longer
 * matters and the counter cannot overflow. */
#define EXP_CLAMP 100000

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

mtr_quantity_status_t mtr_quantity_parse(const char *text, size_t len, int64_t *out)
{
    const char *p = text, *end = text + len;
    bool negative = false;

    if (p < end && *p == '-') {
        negative = true;
        p++;
    }
    /* Integer part: "0" or a non-zero digit followed by digits. */
    const char *int_start = p;
    if (p == end || !is_digit(*p))
        return MTR_QUANTITY_SYNTAX;
    if (*p == '0') {
        p++;
    } else {
        while (p < end && is_digit(*p))
            p++;
    }
    const char *int_end = p;
    const char *frac_start = p, *frac_end = p;
    if (p < end && *p == '.') {
        frac_start = ++p;
        while (p < end && is_digit(*p))
            p++;
        frac_end = p;
        if (frac_end == frac_start)
            return MTR_QUANTITY_SYNTAX;
    }
    long exp = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool exp_negative = false;
        if (p < end && (*p == '+' || *p == '-'))
            exp_negative = *p++ == '-';
        if (p == end || !is_digit(*p))
            return MTR_QUANTITY_SYNTAX;
        while (p < end && is_digit(*p)) {
            if (exp < EXP_CLAMP)
                exp = exp * 10 + (*p - '0');
            p++;
        }
        if (exp_negative)
            exp = -exp;
    }
    if (p != end)
        return MTR_QUANTITY_SYNTAX;

    /* The value is digits(int ++ frac) * 10^scale. Walk the digits as one
     * sequence without copying: index i < n_int reads the integer part. */
    size_t n_int = (size_t)(int_end - int_start);
    size_t n_frac = (size_t)(frac_end - frac_start);
    size_t first = 0, last = n_int + n_frac; /* [first, last) */
#define DIGIT_AT(i) ((i) < n_int ? int_start[(i)] : frac_start[(i)-n_int])
    long scale = exp - (long)n_frac + MTR_QUANTITY_DECIMALS;

    while (first < last && DIGIT_AT(first) == '0')
        first++;
    if (first == last) {
        *out = 0; /* any spelling of zero, "-0" included */
        return MTR_QUANTITY_OK;
    }
    if (negative)
        return MTR_QUANTITY_NEGATIVE;
    /* Trailing zeros below the micro digit are harmless; anything else
     * there is precision we would have to drop. */
    while (scale < 0 && DIGIT_AT(last - 1) == '0') {
        last--;
        scale++;
    }
    if (scale < 0)
        return MTR_QUANTITY_PRECISION;
    /* INT64_MAX has 19 digits: more significant digits cannot fit. */
    if ((long)(last - first) + scale > 19)
        return MTR_QUANTITY_OVERFLOW;

    int64_t v = 0;
    for (size_t i = first; i < last; i++) {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, DIGIT_AT(i) - '0', &v))
            return MTR_QUANTITY_OVERFLOW;
    }
#undef DIGIT_AT
    for (long s = 0; s < scale; s++) {
        if (__builtin_mul_overflow(v, 10, &v))
            return MTR_QUANTITY_OVERFLOW;
    }
    *out = v;
    return MTR_QUANTITY_OK;
}

const char *mtr_quantity_status_name(mtr_quantity_status_t status)
{
    switch (status) {
    case MTR_QUANTITY_OK:
        return "ok";
    case MTR_QUANTITY_SYNTAX:
        return "syntax";
    case MTR_QUANTITY_NEGATIVE:
        return "negative";
    case MTR_QUANTITY_PRECISION:
        return "precision";
    case MTR_QUANTITY_OVERFLOW:
        return "overflow";
    }
    return "unknown";
}

size_t mtr_quantity_format(int64_t micro, char *buf, size_t size)
{
    /* Work on the magnitude as unsigned so INT64_MIN formats too. */
    uint64_t mag = micro < 0 ? (uint64_t)0 - (uint64_t)micro : (uint64_t)micro;
    uint64_t whole = mag / (uint64_t)MTR_QUANTITY_SCALE;
    uint64_t frac = mag % (uint64_t)MTR_QUANTITY_SCALE;
    char digits[8] = "";
    if (frac) {
        snprintf(digits, sizeof digits, "%06llu", (unsigned long long)frac);
        size_t n = strlen(digits);
        while (n > 0 && digits[n - 1] == '0')
            digits[--n] = '\0';
    }
    int n = snprintf(buf, size, "%s%llu%s%s", micro < 0 ? "-" : "", (unsigned long long)whole,
                     frac ? "." : "", digits);
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : (size ? size - 1 : 0);
}

void mtr_quantity_round(int64_t total, mtr_rounding_t rule, int64_t *units, int64_t *remainder)
{
    const int64_t s = MTR_QUANTITY_SCALE;
    /* Floor division, correct for negative totals (a carried remainder
     * after rounding up is negative). */
    int64_t q = total / s, r = total % s;
    if (r < 0) {
        q--;
        r += s;
    }
    switch (rule) {
    case MTR_ROUND_DOWN:
        break;
    case MTR_ROUND_UP:
        if (r > 0) {
            q++;
            r -= s;
        }
        break;
    case MTR_ROUND_NEAREST:
        if (r >= s / 2) {
            q++;
            r -= s;
        }
        break;
    }
    *units = q;
    *remainder = r;
}
