/* Test support: what the process writes to stderr (the log) between begin
 * and end, and counting its lines that contain a text. */
#ifndef MTR_TEST_SUPPORT_STDERR_H
#define MTR_TEST_SUPPORT_STDERR_H

#include <stddef.h>
#include <stdio.h>

typedef struct stderr_capture {
    FILE *file;
    int saved;
} stderr_capture_t;

void stderr_capture_begin(stderr_capture_t *c);
/* Restores stderr and returns what was written (free with mtr_free). */
char *stderr_capture_end(stderr_capture_t *c);
/* The number of lines of text that contain needle. */
size_t stderr_lines_with(const char *text, const char *needle);

#endif
