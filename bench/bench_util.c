/* Benchmark helpers: timer, peak RSS, Zipf sampler, summaries. */
#include "bench/bench_util.h"

#include <math.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#include "core/mem.h"

uint64_t mtr_bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

long mtr_bench_peak_rss_kb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return ru.ru_maxrss;
}

void mtr_bench_zipf_init(mtr_bench_zipf_t *z, size_t n, double s)
{
    z->n = n;
    z->cdf = mtr_malloc(n * sizeof *z->cdf);
    double sum = 0;
    for (size_t k = 0; k < n; k++) {
        sum += 1.0 / pow((double)(k + 1), s);
        z->cdf[k] = sum;
    }
    for (size_t k = 0; k < n; k++)
        z->cdf[k] /= sum;
}

size_t mtr_bench_zipf_draw(const mtr_bench_zipf_t *z, mtr_bench_rng_t *r)
{
    double u = (double)(mtr_bench_rand(r) >> 11) * (1.0 / 9007199254740992.0);
    size_t lo = 0, hi = z->n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (z->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void mtr_bench_zipf_free(mtr_bench_zipf_t *z)
{
    mtr_free(z->cdf);
    z->cdf = NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double mtr_bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double mtr_bench_best(const double *v, size_t n)
{
    double b = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] > b)
            b = v[i];
    return b;
}
