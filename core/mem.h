/* The one allocator wrapper. Memory comes from jemalloc (linked into the
 * binaries, replacing malloc process-wide; the sanitizer builds use the
 * sanitizer's allocator instead).
 *
 * Out-of-memory policy: meterd cannot bill correctly with a partial state,
 * and a restart resumes from the last durable close, so running out of
 * memory logs the size asked for and aborts. Callers never check for NULL. */
#ifndef MTR_MEM_H
#define MTR_MEM_H

#include <stddef.h>

void *mtr_malloc(size_t size);
void *mtr_calloc(size_t count, size_t size);
void *mtr_realloc(void *ptr, size_t size);
char *mtr_strdup(const char *s);
char *mtr_strndup(const char *s, size_t n);
void mtr_free(void *ptr);

#endif
