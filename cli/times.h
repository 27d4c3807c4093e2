/* Times as the on-call commands take and print them: RFC 3339, or a UTC
 * prefix of it for a whole hour or day. Any thread. */
#ifndef MTR_CLI_TIMES_H
#define MTR_CLI_TIMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* RFC 3339, or a UTC prefix: YYYY-MM-DD, YYYY-MM-DDTHH, YYYY-MM-DDTHH:MM.
 * *start is the first millisecond, *end the last one the text covers. */
bool cli_parse_time(const char *s, int64_t *start, int64_t *end);

/* ms as "2026-11-26T10:00:00Z" (buf of at least 21 bytes). */
void cli_format_hour(int64_t ms, char *buf, size_t size);

#endif
