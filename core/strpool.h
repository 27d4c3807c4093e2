/* A string pool: NUL-terminated copies carved out of 64 KiB chunks, all
 * freed at once. For results that hold many short strings (customers,
 * dimensions) which live exactly as long as the result.
 *
 * Ownership: the pool owns every copy. One thread at a time. */
#ifndef MTR_CORE_STRPOOL_H
#define MTR_CORE_STRPOOL_H

#include <stddef.h>

typedef struct mtr_strpool_chunk mtr_strpool_chunk_t;

/* Zero-initialised is an empty pool. */
typedef struct mtr_strpool {
    mtr_strpool_chunk_t *head;
} mtr_strpool_t;

/* Copies s[0..len) NUL-terminated into the pool. */
char *mtr_strpool_copy(mtr_strpool_t *pool, const char *s, size_t len);
void mtr_strpool_free(mtr_strpool_t *pool);

#endif
