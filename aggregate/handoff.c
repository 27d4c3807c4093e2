/* Bounded FIFO of closed hours between shard threads and the ledger writer. */
#include "aggregate/handoff.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "core/mem.h"

struct mtr_agg_handoff {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    mtr_agg_closed_t *ring;
    size_t capacity;
    size_t head;
    size_t len;
    bool shut;
};

mtr_agg_handoff_t *mtr_agg_handoff_new(size_t capacity)
{
    mtr_agg_handoff_t *q = mtr_calloc(1, sizeof *q);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    /* Timed waits against the monotonic clock: a wall-clock step must not
     * turn a 50 ms wait into an hour. */
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_empty, &attr);
    pthread_cond_init(&q->not_full, &attr);
    pthread_condattr_destroy(&attr);
    q->capacity = capacity ? capacity : 1;
    q->ring = mtr_calloc(q->capacity, sizeof *q->ring);
    return q;
}

void mtr_agg_handoff_free(mtr_agg_handoff_t *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->len; i++)
        mtr_agg_table_free(q->ring[(q->head + i) % q->capacity].table);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    mtr_free(q->ring);
    mtr_free(q);
}

static struct timespec deadline_after(int64_t timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(timeout_ms / 1000);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

/* Waits on cond while pred() is false; false on timeout. Lock held. */
#define WAIT_WHILE(q, cond, blocked, timeout_ms, ok)                                               \
    do {                                                                                           \
        struct timespec dl_ = deadline_after((timeout_ms) < 0 ? 0 : (timeout_ms));                 \
        (ok) = true;                                                                               \
        while (blocked) {                                                                          \
            if ((timeout_ms) == 0) {                                                               \
                (ok) = false;                                                                      \
                break;                                                                             \
            }                                                                                      \
            if ((timeout_ms) < 0)                                                                  \
                pthread_cond_wait(&(cond), &(q)->lock);                                            \
            else if (pthread_cond_timedwait(&(cond), &(q)->lock, &dl_) == ETIMEDOUT &&             \
                     (blocked)) {                                                                  \
                (ok) = false;                                                                      \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
    } while (0)

mtr_err_t mtr_agg_handoff_push(mtr_agg_handoff_t *q, const mtr_agg_closed_t *item,
                               int64_t timeout_ms)
{
    bool ok;
    pthread_mutex_lock(&q->lock);
    WAIT_WHILE(q, q->not_full, !q->shut && q->len == q->capacity, timeout_ms, ok);
    if (q->shut) {
        pthread_mutex_unlock(&q->lock);
        return MTR_ERR_STATE;
    }
    if (!ok) {
        pthread_mutex_unlock(&q->lock);
        return MTR_ERR_TIMEOUT;
    }
    q->ring[(q->head + q->len) % q->capacity] = *item;
    q->len++;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
    return MTR_OK;
}

mtr_err_t mtr_agg_handoff_pop(mtr_agg_handoff_t *q, mtr_agg_closed_t *out, int64_t timeout_ms)
{
    bool ok;
    pthread_mutex_lock(&q->lock);
    WAIT_WHILE(q, q->not_empty, !q->shut && q->len == 0, timeout_ms, ok);
    if (q->len == 0) {
        pthread_mutex_unlock(&q->lock);
        return q->shut ? MTR_ERR_STATE : MTR_ERR_TIMEOUT;
    }
    (void)ok;
    *out = q->ring[q->head];
    q->head = (q->head + 1) % q->capacity;
    q->len--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    return MTR_OK;
}

void mtr_agg_handoff_shutdown(mtr_agg_handoff_t *q)
{
    pthread_mutex_lock(&q->lock);
    q->shut = true;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);
}

size_t mtr_agg_handoff_length(mtr_agg_handoff_t *q)
{
    pthread_mutex_lock(&q->lock);
    size_t n = q->len;
    pthread_mutex_unlock(&q->lock);
    return n;
}
