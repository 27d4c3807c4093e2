/* Drawing progress on stderr. */
#include "cli/progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define BAR_WIDTH      30
#define TTY_EVERY_MS   100
#define PLAIN_EVERY_MS 5000

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void cli_progress_init(cli_progress_t *p, const char *what, const char *unit)
{
    *p = (cli_progress_t){.what = what, .unit = unit, .tty = isatty(STDERR_FILENO) == 1};
    p->start_ms = p->last_ms = now_ms();
}

static double rate(const cli_progress_t *p, int64_t now)
{
    double s = (double)(now - p->start_ms) / 1000.0;
    return s > 0 ? (double)p->done / s : 0;
}

void cli_progress_update(void *opaque, uint64_t done, uint64_t total)
{
    cli_progress_t *p = opaque;
    p->done = done;
    p->total = total;
    int64_t now = now_ms();
    if (now - p->last_ms < (p->tty ? TTY_EVERY_MS : PLAIN_EVERY_MS))
        return;
    p->last_ms = now;
    double frac = total ? (double)done / (double)total : 1.0;
    double r = rate(p, now);
    if (!p->tty) {
        fprintf(stderr, "%s: %.0f%% (%llu of %llu %s), %.0f/s\n", p->what, frac * 100,
                (unsigned long long)done, (unsigned long long)total, p->unit, r);
        return;
    }
    char bar[BAR_WIDTH + 1];
    int filled = (int)(frac * BAR_WIDTH);
    for (int i = 0; i < BAR_WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[BAR_WIDTH] = '\0';
    double eta = r > 0 ? (double)(total - done) / r : 0;
    fprintf(stderr, "\r%s [%s] %3.0f%%  %llu/%llu %s  %.0f/s  %.0fs left  ", p->what, bar,
            frac * 100, (unsigned long long)done, (unsigned long long)total, p->unit, r, eta);
    p->drawn = true;
}

void cli_progress_finish(cli_progress_t *p)
{
    int64_t now = now_ms();
    if (p->drawn)
        fputc('\n', stderr);
    fprintf(stderr, "%s: %llu %s in %.1f s (%.0f/s)\n", p->what, (unsigned long long)p->done,
            p->unit, (double)(now - p->start_ms) / 1000.0, rate(p, now));
}
