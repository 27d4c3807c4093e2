/* Full-jitter exponential backoff. */
#include "emit/backoff.h"

static uint64_t xorshift64star(mtr_emit_backoff_t *b)
{
    uint64_t x = b->state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    b->state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void mtr_emit_backoff_init(mtr_emit_backoff_t *b, int64_t base_ms, int64_t cap_ms,
                           mtr_emit_rng_fn rng, void *rng_ctx, uint64_t seed)
{
    b->base_ms = base_ms < 1 ? 1 : base_ms;
    b->cap_ms = cap_ms < b->base_ms ? b->base_ms : cap_ms;
    b->rng = rng;
    b->rng_ctx = rng_ctx;
    /* xorshift must never hold 0. */
    b->state = seed ? seed : 0x9E3779B97F4A7C15ULL;
}

int64_t mtr_emit_backoff_ceiling_ms(const mtr_emit_backoff_t *b, int attempt)
{
    if (attempt < 1)
        attempt = 1;
    int64_t ceiling = b->base_ms;
    /* Doubling stops at the cap, so this cannot overflow. */
    for (int k = 1; k < attempt && ceiling < b->cap_ms; k++)
        ceiling *= 2;
    return ceiling < b->cap_ms ? ceiling : b->cap_ms;
}

int64_t mtr_emit_backoff_delay_ms(mtr_emit_backoff_t *b, int attempt)
{
    uint64_t ceiling = (uint64_t)mtr_emit_backoff_ceiling_ms(b, attempt);
    uint64_t r = b->rng ? b->rng(b->rng_ctx) : xorshift64star(b);
    return (int64_t)(r % (ceiling + 1));
}
