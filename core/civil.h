/* Calendar arithmetic shared by every parser of dates (event times, ISO 8601
 * credential expiries, SigV4 dates, command-line times): days since
 * 1970-01-01 of a proleptic Gregorian date and fixed-width digit runs. Pure,
 * no time zone, no libc. */
#ifndef MTR_CIVIL_H
#define MTR_CIVIL_H

#include <stdbool.h>
#include <stdint.h>

/* Days from 1970-01-01 to y-m-d (m 1..12, d 1..31), H. Hinnant's
 * algorithm: no table, valid for any year. */
static inline int64_t mtr_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The value of the n ASCII digits at s; false if any is not a digit. */
static inline bool mtr_civil_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

#endif
