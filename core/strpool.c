/* String pool chunks. */
#include "core/strpool.h"

#include <string.h>

#include "core/mem.h"

#define CHUNK_BYTES 65536

struct mtr_strpool_chunk {
    mtr_strpool_chunk_t *next;
    size_t used, size;
    char data[];
};

char *mtr_strpool_copy(mtr_strpool_t *pool, const char *s, size_t len)
{
    mtr_strpool_chunk_t *c = pool->head;
    if (!c || c->size - c->used < len + 1) {
        size_t size = len + 1 > CHUNK_BYTES ? len + 1 : CHUNK_BYTES;
        c = mtr_malloc(sizeof *c + size);
        c->next = pool->head;
        c->used = 0;
        c->size = size;
        pool->head = c;
    }
    char *dst = c->data + c->used;
    memcpy(dst, s, len);
    dst[len] = '\0';
    c->used += len + 1;
    return dst;
}

void mtr_strpool_free(mtr_strpool_t *pool)
{
    while (pool->head) {
        mtr_strpool_chunk_t *next = pool->head->next;
        mtr_free(pool->head);
        pool->head = next;
    }
}
