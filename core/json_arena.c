/* The thread-local bump arena behind cJSON's allocator hooks (see
 * json_arena.h for the rules). */
#include "core/json_arena.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/mem.h"

#define ALIGN              16
#define DEFAULT_BLOCK      (64u * 1024u)
#define DEFAULT_RETAIN_MAX (4u * 1024u * 1024u)

typedef struct block {
    struct block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    /* data follows, ALIGN-aligned (the header is 24 bytes, padded) */
} block_t;

#define BLOCK_HEADER ((sizeof(block_t) + ALIGN - 1) & ~(size_t)(ALIGN - 1))

struct mtr_json_arena {
    block_t *head; /* current block; older ones follow */
    size_t retain_max;
    size_t used_before_head; /* bytes handed out from blocks behind head */
    uint64_t block_allocs;
};

/* The calling thread's active arena and a copy of its head block's free
 * window, so that cJSON's allocation hook (called for every node and
 * string) is two thread-local loads, a compare and a store. While an arena
 * is active its head->used is stale: tl_save writes the window back before
 * anything else reads or changes the blocks, tl_load reads it again. */
static unsigned char no_window[1]; /* cur == end: every request is slow */

static _Thread_local struct {
    unsigned char *cur, *end;
    mtr_json_arena_t *arena;
} tl = {no_window, no_window, NULL};

static unsigned char *block_data(block_t *b)
{
    return (unsigned char *)b + BLOCK_HEADER;
}

static block_t *block_new(mtr_json_arena_t *a, size_t size)
{
    block_t *b = mtr_malloc(BLOCK_HEADER + size);
    b->next = NULL;
    b->size = size;
    b->used = 0;
    a->block_allocs++;
    return b;
}

/* A new block for a request the current one cannot hold. Kept out of line
 * so the bump path below stays a handful of instructions. */
__attribute__((noinline)) static void *alloc_slow(mtr_json_arena_t *a, size_t size)
{
    block_t *b = a->head;
    /* Grow geometrically so a huge message costs few blocks. */
    size_t want = b->size * 2;
    if (want < size)
        want = size;
    block_t *nb = block_new(a, want);
    nb->next = b;
    a->head = nb;
    a->used_before_head += b->used;
    nb->used = size;
    return block_data(nb);
}

static inline void *bump(mtr_json_arena_t *a, size_t size)
{
    size = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    block_t *b = a->head;
    if (__builtin_expect(b->size - b->used < size, 0))
        return alloc_slow(a, size);
    void *p = block_data(b) + b->used;
    b->used += size;
    return p;
}

static void tl_save(void)
{
    if (tl.arena)
        tl.arena->head->used = (size_t)(tl.cur - block_data(tl.arena->head));
}

static void tl_load(mtr_json_arena_t *a)
{
    tl.arena = a;
    if (a) {
        tl.cur = block_data(a->head) + a->head->used;
        tl.end = block_data(a->head) + a->head->size;
    } else {
        tl.cur = tl.end = no_window;
    }
}

/* The active arena's head block is full (or no arena is active). */
__attribute__((noinline)) static void *tl_alloc_slow(size_t size)
{
    mtr_json_arena_t *a = tl.arena;
    if (!a)
        return mtr_malloc(size);
    tl_save();
    void *p = bump(a, size);
    tl_load(a);
    return p;
}

static inline void *tl_alloc(size_t size)
{
    size += size == 0; /* a distinct pointer even for 0 bytes */
    size = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    unsigned char *p = tl.cur;
    if (__builtin_expect((size_t)(tl.end - p) < size, 0))
        return tl_alloc_slow(size);
    tl.cur = p + size;
    return p;
}

void *mtr_json_arena_alloc(mtr_json_arena_t *a, size_t size)
{
    if (a == tl.arena)
        return tl_alloc(size);
    return bump(a, size);
}

static bool arena_contains(const mtr_json_arena_t *a, const void *p)
{
    const unsigned char *c = p;
    for (block_t *b = a->head; b; b = b->next) {
        const unsigned char *d = block_data(b);
        if (c >= d && c < d + b->size)
            return true;
    }
    return false;
}

static void *hook_malloc(size_t size)
{
    return tl_alloc(size);
}

static void hook_free(void *p)
{
    mtr_json_arena_t *a = tl.arena;
    /* Arena memory is released by reset; cJSON frees partial trees on a
     * parse error, which must not reach free(). */
    if (a && arena_contains(a, p))
        return;
    mtr_free(p);
}

static pthread_once_t hooks_once = PTHREAD_ONCE_INIT;

static void install_hooks_once(void)
{
    cJSON_Hooks hooks = {.malloc_fn = hook_malloc, .free_fn = hook_free};
    cJSON_InitHooks(&hooks);
}

void mtr_json_arena_install_hooks(void)
{
    pthread_once(&hooks_once, install_hooks_once);
}

mtr_json_arena_t *mtr_json_arena_new(size_t block_size, size_t retain_max)
{
    mtr_json_arena_install_hooks();
    mtr_json_arena_t *a = mtr_calloc(1, sizeof *a);
    a->retain_max = retain_max ? retain_max : DEFAULT_RETAIN_MAX;
    a->head = block_new(a, block_size ? block_size : DEFAULT_BLOCK);
    return a;
}

void mtr_json_arena_free(mtr_json_arena_t *a)
{
    if (!a)
        return;
    if (tl.arena == a)
        tl_load(NULL);
    for (block_t *b = a->head, *next; b; b = next) {
        next = b->next;
        mtr_free(b);
    }
    mtr_free(a);
}

mtr_json_arena_t *mtr_json_arena_activate(mtr_json_arena_t *arena)
{
    mtr_json_arena_t *prev = tl.arena;
    tl_save();
    tl_load(arena);
    return prev;
}

void mtr_json_arena_reset(mtr_json_arena_t *a)
{
    bool active = a == tl.arena;
    if (active)
        tl_save();
    if (a->head->next) {
        /* The last message outgrew the first block: keep one block big
         * enough for it (up to retain_max) so the next similar one fits. */
        size_t want = a->used_before_head + a->head->used;
        size_t oldest_size = 0;
        block_t *b = a->head;
        while (b) {
            block_t *next = b->next;
            if (!next)
                oldest_size = b->size;
            mtr_free(b);
            b = next;
        }
        if (want > a->retain_max)
            want = a->retain_max;
        if (want < oldest_size)
            want = oldest_size;
        a->head = block_new(a, want);
    }
    a->head->used = 0;
    a->used_before_head = 0;
    if (active)
        tl_load(a);
}

mtr_json_arena_stats_t mtr_json_arena_stats(const mtr_json_arena_t *a)
{
    size_t head_used = a == tl.arena ? (size_t)(tl.cur - block_data(a->head)) : a->head->used;
    mtr_json_arena_stats_t s = {0, a->used_before_head + head_used, a->block_allocs};
    for (block_t *b = a->head; b; b = b->next)
        s.capacity += b->size;
    return s;
}
