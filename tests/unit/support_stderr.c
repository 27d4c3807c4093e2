/* Capturing stderr in unit tests (support_stderr.h). */
#include "support_stderr.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/mem.h"

void stderr_capture_begin(stderr_capture_t *c)
{
    fflush(stderr);
    c->file = tmpfile();
    if (!c->file)
        abort();
    c->saved = dup(STDERR_FILENO);
    if (c->saved < 0 || dup2(fileno(c->file), STDERR_FILENO) < 0)
        abort();
}

char *stderr_capture_end(stderr_capture_t *c)
{
    fflush(stderr);
    dup2(c->saved, STDERR_FILENO);
    close(c->saved);
    long n = ftell(c->file);
    char *text = mtr_calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    rewind(c->file);
    if (n > 0 && fread(text, 1, (size_t)n, c->file) != (size_t)n)
        abort();
    fclose(c->file);
    return text;
}

size_t stderr_lines_with(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        const char *hit = strstr(line, needle);
        if (hit && hit < line + len)
            n++;
        line += len + (end ? 1 : 0);
    }
    return n;
}
