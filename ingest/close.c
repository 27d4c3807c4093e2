/* Closing hours. Every close_check_ms the coordinator parks the workers,
 * asks the window rules which hour is due, takes that hour's table out of
 * every owned partition (O(1) each), notes each partition's close-log entry
 * and commit offset, and lets the workers go on; the park lasts for pointer
 * moves only. Then, with the workers running, it turns the tables into
 * ledger contributions, writes them in one transaction, flushes the
 * dead-letter producer, commits the offsets with the close-log tail to Kafka
 * and, when that commit succeeds, confirms the close: its records become
 * sendable. */
#include <assert.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/fault.h"
#include "core/log.h"
#include "core/mem.h"
#include "core/tagset.h"
#include "ingest/ingest_int.h"

#define COMMIT_META_BYTES 1024
#define DLQ_FLUSH_MS      30000

/* NUL-terminated copies for the ledger call, freed together. */
typedef struct pool_chunk {
    struct pool_chunk *next;
    size_t used, size;
    char data[];
} pool_chunk_t;

static char *pool_copy(pool_chunk_t **pool, const char *s, size_t len)
{
    pool_chunk_t *c = *pool;
    if (!c || c->size - c->used < len + 1) {
        size_t size = len + 1 > 65536 ? len + 1 : 65536;
        c = mtr_malloc(sizeof *c + size);
        c->next = *pool;
        c->used = 0;
        c->size = size;
        *pool = c;
    }
    char *dst = c->data + c->used;
    memcpy(dst, s, len);
    dst[len] = '\0';
    c->used += len + 1;
    return dst;
}

static void pool_free(pool_chunk_t *pool)
{
    while (pool) {
        pool_chunk_t *next = pool->next;
        mtr_free(pool);
        pool = next;
    }
}

/* One partition's share of a close. */
typedef struct part_close {
    mtr_ingest_slot_t *slot;
    mtr_ingest_worker_t *worker;
    mtr_agg_table_t **tables; /* closed hours of this partition (may be NULL) */
    size_t n_tables;
    int64_t commit_offset;
    char meta[COMMIT_META_BYTES];
} part_close_t;

typedef struct close_batch {
    part_close_t *parts;
    size_t n_parts;
    mtr_ledger_close_entry_t *entries;
    size_t n_entries, cap_entries;
    mtr_ledger_contribution_t *contribs;
    size_t n_contribs, cap_contribs;
    size_t *tag_start; /* per contribution: first tag in tags[], or SIZE_MAX */
    size_t cap_tag_start;
    mtr_emit_tag_t *tags; /* may move while growing: linked up by link_tags */
    size_t n_tags, cap_tags;
    pool_chunk_t *pool;
    mtr_ingest_scope_t **scopes; /* per worker: snapshot of its scope table */
    size_t *n_scopes;
    int64_t first_hour, last_hour;
} close_batch_t;

#define GROW(arr, n, cap)                                                                          \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? (cap)*2 : 64;                                                          \
            (arr) = mtr_realloc((arr), (cap) * sizeof *(arr));                                     \
        }                                                                                          \
    } while (0)

static void snapshot_scopes(mtr_ingest_t *ing, close_batch_t *b)
{
    b->scopes = mtr_calloc((size_t)ing->n_workers, sizeof *b->scopes);
    b->n_scopes = mtr_calloc((size_t)ing->n_workers, sizeof *b->n_scopes);
    for (int i = 0; i < ing->n_workers; i++) {
        mtr_ingest_scopes_t *s = &ing->workers[i].scopes;
        b->n_scopes[i] = s->n_arns;
        b->scopes[i] = mtr_calloc(s->n_arns ? s->n_arns : 1, sizeof **b->scopes);
        for (size_t k = 0; k < s->n_arns; k++) {
            b->scopes[i][k].product = s->arns[k].product;
            b->scopes[i][k].license_arn =
                pool_copy(&b->pool, s->arns[k].license_arn, strlen(s->arns[k].license_arn));
        }
    }
}

/* Takes every due hour out of the parked workers. Returns false when
 * nothing was due. */
static bool collect(mtr_ingest_t *ing, close_batch_t *b, int64_t now_ms)
{
    size_t n = 0;
    for (int i = 0; i < ing->n_workers; i++)
        n += ing->workers[i].n_slots;
    if (n == 0)
        return false;
    const mtr_agg_partition_t **windows = mtr_calloc(n, sizeof *windows);
    b->parts = mtr_calloc(n, sizeof *b->parts);
    int64_t *last_before = mtr_calloc(n, sizeof *last_before);
    for (int i = 0; i < ing->n_workers; i++) {
        mtr_ingest_worker_t *w = &ing->workers[i];
        for (size_t k = 0; k < w->n_slots; k++) {
            mtr_ingest_slot_t *s = w->slots[k];
            int64_t lo, hi;
            if (rd_kafka_get_watermark_offsets(ing->rk, s->topic, s->partition, &lo, &hi) ==
                    RD_KAFKA_RESP_ERR_NO_ERROR &&
                hi >= 0)
                s->window.high_watermark = hi;
            b->parts[b->n_parts] = (part_close_t){.slot = s, .worker = w};
            last_before[b->n_parts] = mtr_agg_closelog_last_hour(&s->window.log);
            windows[b->n_parts++] = &s->window;
        }
    }

    int64_t lateness = ing->config->window.lateness_ms;
    b->first_hour = MTR_AGG_NO_HOUR;
    int64_t hour;
    while ((hour = mtr_agg_close_due(windows, n, now_ms, lateness)) != MTR_AGG_NO_HOUR) {
        if (b->first_hour == MTR_AGG_NO_HOUR)
            b->first_hour = hour;
        b->last_hour = hour;
        for (size_t i = 0; i < n; i++) {
            part_close_t *p = &b->parts[i];
            mtr_agg_table_t *t = mtr_agg_shard_take(p->slot->hours, hour);
            if (t) {
                p->tables = mtr_realloc(p->tables, (p->n_tables + 1) * sizeof *p->tables);
                p->tables[p->n_tables++] = t;
            }
            /* close_due only names an hour every partition is ready for,
             * and a replaying partition is never ready. */
            mtr_err_t err = mtr_agg_partition_close(&p->slot->window, hour);
            assert(err == MTR_OK);
            (void)err;
        }
    }
    mtr_free(windows);
    if (b->first_hour == MTR_AGG_NO_HOUR) {
        mtr_free(last_before);
        return false;
    }

    /* Close-log entries new in this step (same-offset closes collapse into
     * the latest hour, as the metadata will say), commit offsets, and the
     * metadata each partition's commit will carry. */
    const char *self = mtr_ledger_writer_id(ing->ledger);
    for (size_t i = 0; i < n; i++) {
        part_close_t *p = &b->parts[i];
        mtr_agg_partition_t *win = &p->slot->window;
        for (size_t e = 0; e < win->log.n; e++) {
            if (last_before[i] != MTR_AGG_NO_HOUR && win->log.items[e].hour_ms <= last_before[i])
                continue;
            GROW(b->entries, b->n_entries, b->cap_entries);
            b->entries[b->n_entries++] =
                (mtr_ledger_close_entry_t){p->slot->topic, p->slot->partition,
                                           win->log.items[e].hour_ms, win->log.items[e].offset};
        }
        p->commit_offset = mtr_agg_partition_commit_offset(win);
        mtr_agg_closelog_trim(&win->log, p->commit_offset);
        char errstr[256];
        if (mtr_commit_meta_format(&win->log, &p->slot->inherited, self, p->meta, sizeof p->meta,
                                   errstr, sizeof errstr)) {
            /* The tail is trimmed to what a replay needs; it only outgrows
             * the buffer if hours stay open for days. */
            mtr_warn("ingest", "%s[%" PRId32 "]: %s", p->slot->topic, p->slot->partition, errstr);
            p->meta[0] = '\0';
        }
    }
    mtr_free(last_before);
    snapshot_scopes(ing, b);
    return true;
}

/* Adds c with the tags of a canonical tag set (copied into the pool). */
static void add_contribution(close_batch_t *b, const mtr_ledger_contribution_t *c,
                             const char *tagset, size_t tagset_len)
{
    GROW(b->contribs, b->n_contribs, b->cap_contribs);
    GROW(b->tag_start, b->n_contribs, b->cap_tag_start);
    mtr_ledger_contribution_t *dst = &b->contribs[b->n_contribs];
    *dst = *c;
    b->tag_start[b->n_contribs++] = SIZE_MAX;
    mtr_tag_view_t views[MTR_TAGSET_MAX_TAGS];
    int n = tagset ? mtr_tagset_parse(tagset, tagset_len, views) : 0;
    if (n <= 0)
        return;
    b->tag_start[b->n_contribs - 1] = b->n_tags;
    dst->n_tags = (size_t)n;
    for (int i = 0; i < n; i++) {
        GROW(b->tags, b->n_tags, b->cap_tags);
        b->tags[b->n_tags++] =
            (mtr_emit_tag_t){pool_copy(&b->pool, views[i].key, views[i].key_len),
                             pool_copy(&b->pool, views[i].value, views[i].value_len)};
    }
}

static void link_tags(close_batch_t *b)
{
    for (size_t i = 0; i < b->n_contribs; i++)
        b->contribs[i].tags = b->tag_start[i] == SIZE_MAX ? NULL : &b->tags[b->tag_start[i]];
}

static void table_contributions(mtr_ingest_t *ing, close_batch_t *b, const part_close_t *p,
                                const mtr_agg_table_t *t)
{
    const mtr_config_t *cfg = ing->config;
    size_t n_keys = mtr_agg_table_count(t);
    size_t n_alloc = mtr_agg_table_allocation_count(t);
    int64_t *tagged_sum = n_alloc ? mtr_calloc(n_keys, sizeof *tagged_sum) : NULL;
    mtr_agg_key_t k;
    mtr_agg_allocation_t a;

    for (size_t i = 0; i < n_alloc; i++) {
        mtr_agg_table_allocation(t, i, &a);
        mtr_agg_table_key(t, a.key_index, &k);
        if (k.aggregation != MTR_AGG_SUM && k.aggregation != MTR_AGG_COUNT)
            continue; /* allocations only split sums */
        tagged_sum[a.key_index] += a.value;
    }
    for (size_t pass = 0; pass < 2; pass++) {
        size_t n = pass == 0 ? n_keys : n_alloc;
        for (size_t i = 0; i < n; i++) {
            int64_t value;
            const char *tagset = NULL;
            size_t tagset_len = 0;
            if (pass == 0) {
                mtr_agg_table_key(t, i, &k);
                value = k.value - (tagged_sum ? tagged_sum[i] : 0);
                if (tagged_sum && tagged_sum[i] && value == 0)
                    continue; /* every unit is in a tagged allocation */
            } else {
                mtr_agg_table_allocation(t, i, &a);
                mtr_agg_table_key(t, a.key_index, &k);
                if (k.aggregation != MTR_AGG_SUM && k.aggregation != MTR_AGG_COUNT)
                    continue;
                value = a.value;
                tagset = a.tagset;
                tagset_len = a.tagset_len;
            }
            if (k.overflowed) {
                mtr_error("ingest",
                          "%s[%" PRId32 "]: usage of customer \"%.*s\" overflowed 64-bit "
                          "micro-units in one hour; not billed, check the producer",
                          p->slot->topic, p->slot->partition, (int)k.customer_len, k.customer);
                continue;
            }
            mtr_ingest_scope_t scope = k.scope < cfg->n_products
                                           ? (mtr_ingest_scope_t){k.scope, NULL}
                                           : b->scopes[p->worker->id][k.scope - cfg->n_products];
            const mtr_product_conf_t *prod = &cfg->products[scope.product];
            const mtr_dimension_conf_t *dim = &prod->dimensions[k.dimension];
            mtr_ledger_contribution_t c = {
                .key = {scope.license_arn ? MTR_LEDGER_SCOPE_LICENSE : MTR_LEDGER_SCOPE_PRODUCT,
                        scope.license_arn ? scope.license_arn : prod->product_code,
                        k.customer_is_account ? MTR_LEDGER_CUSTOMER_ACCOUNT
                                              : MTR_LEDGER_CUSTOMER_IDENTIFIER,
                        pool_copy(&b->pool, k.customer, k.customer_len), dim->name},
                .hour_ms = mtr_agg_table_hour(t),
                .topic = p->slot->topic,
                .partition = p->slot->partition,
                .quantity_micro = value,
                .rounding = dim->rounding,
            };
            add_contribution(b, &c, tagset, tagset_len);
        }
    }
    mtr_free(tagged_sum);
}

static int contribution_cmp(const void *pa, const void *pb)
{
    const mtr_ledger_contribution_t *a = *(const mtr_ledger_contribution_t *const *)pa;
    const mtr_ledger_contribution_t *b = *(const mtr_ledger_contribution_t *const *)pb;
    int c = strcmp(a->key.customer, b->key.customer);
    if (c)
        return c;
    if (a->hour_ms != b->hour_ms)
        return a->hour_ms < b->hour_ms ? -1 : 1;
    c = strcmp(a->key.scope, b->key.scope);
    if (c)
        return c;
    return (a->partition > b->partition) - (a->partition < b->partition);
}

static mtr_log_limiter_t split_limiter = MTR_LOG_LIMITER_INIT(5, 60000);

/* Producers should key events by customer so that a customer lives in one
 * partition: a customer spread over partitions that different instances own
 * would be billed by each of them for the same hour. Counts (and warns
 * about) each (customer, hour) this close saw in more than one partition. */
static uint64_t count_split_customers(const close_batch_t *b)
{
    if (b->n_contribs < 2)
        return 0;
    const mtr_ledger_contribution_t **order = mtr_malloc(b->n_contribs * sizeof *order);
    for (size_t i = 0; i < b->n_contribs; i++)
        order[i] = &b->contribs[i];
    qsort(order, b->n_contribs, sizeof *order, contribution_cmp);
    uint64_t split = 0;
    for (size_t i = 0; i < b->n_contribs;) {
        size_t j = i + 1;
        bool spread = false;
        while (j < b->n_contribs && !strcmp(order[j]->key.customer, order[i]->key.customer) &&
               order[j]->hour_ms == order[i]->hour_ms &&
               !strcmp(order[j]->key.scope, order[i]->key.scope)) {
            spread |= order[j]->partition != order[i]->partition;
            j++;
        }
        if (spread) {
            split++;
            mtr_log_limited(&split_limiter, MTR_LOG_WARN, "ingest",
                            "customer \"%s\" has events in partitions %" PRId32 " and %" PRId32
                            " of %s in one hour; key events by customer, or two instances may "
                            "bill the same hour",
                            order[i]->key.customer, order[i]->partition, order[j - 1]->partition,
                            order[i]->topic);
        }
        i = j;
    }
    mtr_free(order);
    return split;
}

static void batch_free(mtr_ingest_t *ing, close_batch_t *b)
{
    for (size_t i = 0; i < b->n_parts; i++) {
        for (size_t t = 0; t < b->parts[i].n_tables; t++)
            mtr_agg_table_free(b->parts[i].tables[t]);
        mtr_free(b->parts[i].tables);
    }
    mtr_free(b->parts);
    mtr_free(b->entries);
    mtr_free(b->contribs);
    mtr_free(b->tags);
    mtr_free(b->tag_start);
    if (b->scopes)
        for (int i = 0; i < ing->n_workers; i++)
            mtr_free(b->scopes[i]);
    mtr_free(b->scopes);
    mtr_free(b->n_scopes);
    pool_free(b->pool);
}

static void pending_add(mtr_ingest_t *ing, int64_t close_id)
{
    GROW(ing->pending_closes, ing->n_pending, ing->cap_pending);
    ing->pending_closes[ing->n_pending++] = close_id;
}

static void fail(mtr_ingest_t *ing, const char *what, const char *errstr)
{
    snprintf(ing->fatal_msg, sizeof ing->fatal_msg, "%s: %.400s", what, errstr);
    mtr_error("ingest", "%s; stopping (a restart resumes from the last durable close)",
              ing->fatal_msg);
    ing->fatal = true;
}

void mtr_ingest_close_due(mtr_ingest_t *ing)
{
    int64_t started = mtr_clock_monotonic_ms(ing->clock);
    int64_t now = mtr_clock_wall_ms(ing->clock);
    close_batch_t b;
    memset(&b, 0, sizeof b);
    mtr_ingest_park_all(ing);
    bool due = collect(ing, &b, now);
    mtr_ingest_resume_all(ing);
    int64_t parked_ms = mtr_clock_monotonic_ms(ing->clock) - started;
    if (!due) {
        batch_free(ing, &b);
        return;
    }

    mtr_ledger_partition_checkpoint_t *cps = mtr_calloc(b.n_parts, sizeof *cps);
    for (size_t i = 0; i < b.n_parts; i++) {
        part_close_t *p = &b.parts[i];
        for (size_t t = 0; t < p->n_tables; t++)
            table_contributions(ing, &b, p, p->tables[t]);
        cps[i] = (mtr_ledger_partition_checkpoint_t){p->slot->topic, p->slot->partition,
                                                     p->commit_offset, p->meta};
    }
    link_tags(&b);
    ing->customers_split += count_split_customers(&b);
    mtr_ledger_close_t close = {b.entries, b.n_entries, b.contribs, b.n_contribs, cps, b.n_parts};
    char errstr[512];
    int64_t close_id;
    if (mtr_ledger_close(ing->ledger, &close, &close_id, errstr, sizeof errstr)) {
        fail(ing, "ledger close", errstr);
        mtr_free(cps);
        batch_free(ing, &b);
        return;
    }
    MTR_FAULT("ingest.after_ledger_commit");
    ing->closes++;
    ing->records_written += b.n_contribs;

    if (mtr_ingest_dlq_flush(ing->dlq, DLQ_FLUSH_MS, errstr, sizeof errstr))
        mtr_error("ingest", "%s", errstr);

    rd_kafka_topic_partition_list_t *offsets = rd_kafka_topic_partition_list_new((int)b.n_parts);
    for (size_t i = 0; i < b.n_parts; i++) {
        rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_add(
            offsets, b.parts[i].slot->topic, b.parts[i].slot->partition);
        tp->offset = b.parts[i].commit_offset;
        tp->metadata = strdup(b.parts[i].meta);
        tp->metadata_size = strlen(b.parts[i].meta);
    }
    pending_add(ing, close_id);
    rd_kafka_resp_err_t kerr = rd_kafka_commit(ing->rk, offsets, 0);
    rd_kafka_topic_partition_list_destroy(offsets);
    MTR_FAULT("ingest.after_kafka_commit");
    if (kerr) {
        ing->commit_failures++;
        mtr_warn("ingest",
                 "offset commit for close %" PRId64 " failed (%s); its records wait until a "
                 "later commit or the next assignment settles it",
                 close_id, rd_kafka_err2str(kerr));
    } else {
        /* This commit carries every owned partition's newest close log, so
         * it covers the earlier closes whose commits failed too. */
        for (size_t i = 0; i < ing->n_pending; i++)
            if (mtr_ledger_confirm_commit(ing->ledger, ing->pending_closes[i], errstr,
                                          sizeof errstr))
                mtr_warn("ingest", "close %" PRId64 ": %s", ing->pending_closes[i], errstr);
        ing->n_pending = 0;
    }

    char from[32], to[32];
    time_t f = (time_t)(b.first_hour / 1000), t = (time_t)(b.last_hour / 1000);
    strftime(from, sizeof from, "%Y-%m-%dT%H:00Z", gmtime(&f));
    strftime(to, sizeof to, "%Y-%m-%dT%H:00Z", gmtime(&t));
    mtr_info("ingest",
             "closed %s%s%s: %zu contribution(s) from %zu partition(s), workers parked %" PRId64
             " ms, total %" PRId64 " ms%s",
             from, b.first_hour != b.last_hour ? " .. " : "", b.first_hour != b.last_hour ? to : "",
             b.n_contribs, b.n_parts, parked_ms, mtr_clock_monotonic_ms(ing->clock) - started,
             kerr ? " (commit pending)" : "");
    if (!kerr && ing->opts.on_sendable)
        ing->opts.on_sendable(ing->opts.opaque, b.last_hour, b.n_contribs);
    mtr_free(cps);
    batch_free(ing, &b);
}
