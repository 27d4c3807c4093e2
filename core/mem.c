/* Allocation with the abort-on-exhaustion policy of mem.h. */
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(size_t size)
{
    fprintf(stderr,
            "meterd: out of memory allocating %zu bytes; aborting "
            "(state resumes from the last durable close)\n",
            size);
    abort();
}

void *mtr_malloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        out_of_memory(size);
    return p;
}

void *mtr_calloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        out_of_memory(count * size);
    return p;
}

void *mtr_realloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        out_of_memory(size);
    return p;
}

char *mtr_strdup(const char *s)
{
    return mtr_strndup(s, strlen(s));
}

char *mtr_strndup(const char *s, size_t n)
{
    char *p = mtr_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void mtr_free(void *ptr)
{
    free(ptr);
}
