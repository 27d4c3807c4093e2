/* Shared benchmark helpers: a monotonic nanosecond timer, peak RSS, a
 * seeded PRNG and a Zipf sampler. Single-threaded use. */
#ifndef MTR_BENCH_UTIL_H
#define MTR_BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>

uint64_t mtr_bench_now_ns(void);
/* Peak resident set size of the process so far, in KiB (getrusage). */
long mtr_bench_peak_rss_kb(void);

/* xorshift-style PRNG (splitmix64): fast and reproducible from a seed. */
typedef struct mtr_bench_rng {
    uint64_t state;
} mtr_bench_rng_t;

static inline uint64_t mtr_bench_rand(mtr_bench_rng_t *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static inline uint64_t mtr_bench_uniform(mtr_bench_rng_t *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)mtr_bench_rand(r) * n) >> 64);
}

/* Zipf over ranks 0..n-1 with exponent s (P(k) ~ 1/(k+1)^s), sampled by
 * binary search in a precomputed CDF. Owns its table (mtr_bench_zipf_free). */
typedef struct mtr_bench_zipf {
    double *cdf;
    size_t n;
} mtr_bench_zipf_t;

void mtr_bench_zipf_init(mtr_bench_zipf_t *z, size_t n, double s);
size_t mtr_bench_zipf_draw(const mtr_bench_zipf_t *z, mtr_bench_rng_t *r);
void mtr_bench_zipf_free(mtr_bench_zipf_t *z);

/* Median and best (max) of a small array of rates; sorts it. */
double mtr_bench_median(double *v, size_t n);
double mtr_bench_best(const double *v, size_t n);

#endif
