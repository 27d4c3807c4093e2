/* Times on the command line. */
#include "cli/times.h"

#include <string.h>
#include <time.h>

#include "core/civil.h"
#include "core/clock.h"

bool cli_parse_time(const char *s, int64_t *start, int64_t *end)
{
    int y, mo, d, h = 0, mi = 0, sec = 0;
    size_t len = strlen(s);
    if (len < 10 || !mtr_civil_digits(s, 4, &y) || s[4] != '-' ||
        !mtr_civil_digits(s + 5, 2, &mo) || s[7] != '-' || !mtr_civil_digits(s + 8, 2, &d) ||
        mo < 1 || mo > 12 || d < 1 || d > 31)
        return false;
    int64_t span = 24 * MTR_MS_PER_HOUR, frac_ms = 0, offset_ms = 0;
    const char *p = s + 10;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        if (!mtr_civil_digits(p + 1, 2, &h) || h > 23)
            return false;
        p += 3;
        span = MTR_MS_PER_HOUR;
        if (*p == ':') {
            if (!mtr_civil_digits(p + 1, 2, &mi) || mi > 59)
                return false;
            p += 3;
            span = 60000;
            if (*p == ':') {
                if (!mtr_civil_digits(p + 1, 2, &sec) || sec > 60)
                    return false;
                p += 3;
                span = 1000;
                if (*p == '.') {
                    int64_t scale = 100;
                    if (p[1] < '0' || p[1] > '9')
                        return false;
                    for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10)
                        frac_ms += (*p - '0') * scale;
                    span = 1;
                }
            }
        }
        if (*p == 'Z' || *p == 'z') {
            p++;
        } else if (*p == '+' || *p == '-') {
            int oh, om;
            if (!mtr_civil_digits(p + 1, 2, &oh) || p[3] != ':' ||
                !mtr_civil_digits(p + 4, 2, &om) || oh > 23 || om > 59)
                return false;
            offset_ms = (oh * 60 + om) * 60000LL * (*p == '+' ? 1 : -1);
            p += 6;
        }
    }
    if (*p)
        return false;
    *start = (mtr_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) * 1000 + frac_ms -
             offset_ms;
    *end = *start + span - 1;
    return true;
}

void cli_format_hour(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
