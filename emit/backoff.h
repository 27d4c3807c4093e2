/* Exponential backoff with full jitter: the delay before retry k (k >= 1)
 * is uniform in [0, min(cap, base * 2^(k-1))]. Full jitter spreads the
 * retries of many clients that failed together (AWS Architecture Blog,
 * "Exponential Backoff And Jitter").
 *
 * The random source is injectable so tests get exact delays. A backoff is
 * plain data owned by its user; one thread at a time. */
#ifndef MTR_EMIT_BACKOFF_H
#define MTR_EMIT_BACKOFF_H

#include <stdint.h>

/* Returns 64 random bits. */
typedef uint64_t (*mtr_emit_rng_fn)(void *ctx);

typedef struct mtr_emit_backoff {
    int64_t base_ms;
    int64_t cap_ms;
    mtr_emit_rng_fn rng; /* NULL: the built-in xorshift generator below */
    void *rng_ctx;
    uint64_t state; /* the built-in generator's state */
} mtr_emit_backoff_t;

/* base_ms >= 1, cap_ms >= base_ms (both are clamped to that). seed feeds
 * the built-in generator when rng is NULL. */
void mtr_emit_backoff_init(mtr_emit_backoff_t *b, int64_t base_ms, int64_t cap_ms,
                           mtr_emit_rng_fn rng, void *rng_ctx, uint64_t seed);

/* The ceiling of retry `attempt`'s delay: min(cap, base * 2^(attempt-1)). */
int64_t mtr_emit_backoff_ceiling_ms(const mtr_emit_backoff_t *b, int attempt);

/* The delay before retry `attempt` (1 = the first retry), full jitter. */
int64_t mtr_emit_backoff_delay_ms(mtr_emit_backoff_t *b, int attempt);

#endif
