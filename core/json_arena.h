/* A per-thread bump arena that cJSON allocates from while it is active, so
 * that parsing one event costs no malloc/free: the tree lives in the arena
 * and is dropped all at once by mtr_json_arena_reset().
 *
 * cJSON's allocator hooks are process-wide, so json_arena installs them once
 * (mtr_json_arena_install_hooks) and routes each call through a thread-local
 * pointer: on a thread with an active arena, cJSON_malloc bumps the arena and
 * cJSON_free of arena memory does nothing; everywhere else they are plain
 * malloc/free (abort on exhaustion, as mem.h). Nothing else in meterd may call
 * cJSON_InitHooks.
 *
 * Rules for callers:
 * - Never cJSON_Delete a tree parsed while an arena was active; reset the
 *   arena instead. The tree is valid until the next reset.
 * - An arena belongs to one thread; activate it only on that thread.
 * - Trees built while no arena is active are ordinary cJSON trees. */
#ifndef MTR_JSON_ARENA_H
#define MTR_JSON_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct mtr_json_arena mtr_json_arena_t;

typedef struct mtr_json_arena_stats {
    size_t capacity;       /* bytes held in blocks right now */
    size_t used;           /* bytes handed out since the last reset */
    uint64_t block_allocs; /* malloc calls made for blocks, ever */
} mtr_json_arena_stats_t;

/* Installs the cJSON hooks (idempotent, thread-safe); call at start-up
 * before other threads use cJSON. mtr_json_arena_new calls it too. */
void mtr_json_arena_install_hooks(void);

/* block_size: the first block (0 = 64 KiB). Blocks grow for large messages;
 * reset keeps up to retain_max bytes (0 = 4 MiB) as one block so a steady
 * stream of similar messages allocates nothing. Caller frees with
 * mtr_json_arena_free (not while active). */
mtr_json_arena_t *mtr_json_arena_new(size_t block_size, size_t retain_max);
void mtr_json_arena_free(mtr_json_arena_t *arena);

/* Makes arena the target of cJSON allocations on the calling thread (NULL:
 * none) and returns the previously active one. */
mtr_json_arena_t *mtr_json_arena_activate(mtr_json_arena_t *arena);

/* Drops everything allocated since the last reset. */
void mtr_json_arena_reset(mtr_json_arena_t *arena);

/* Bump allocation (16-byte aligned); never NULL. */
void *mtr_json_arena_alloc(mtr_json_arena_t *arena, size_t size);

mtr_json_arena_stats_t mtr_json_arena_stats(const mtr_json_arena_t *arena);

#endif
