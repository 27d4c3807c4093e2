/* Turning closed hour tables into ledger contributions: one per key (or,
 * for tagged sums, one per tag set and one for the untagged rest), with
 * scopes, customers and dimensions as the ledger names them, and the check
 * for customers spread over partitions. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/tagset.h"
#include "ingest/close_int.h"

/* One partition's share of a close. */

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
            (mtr_record_tag_t){mtr_strpool_copy(&b->pool, views[i].key, views[i].key_len),
                               mtr_strpool_copy(&b->pool, views[i].value, views[i].value_len)};
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
                        mtr_strpool_copy(&b->pool, k.customer, k.customer_len), dim->name},
                .hour_ms = mtr_agg_table_hour(t),
                .topic = p->slot->topic,
                .partition = p->slot->partition,
                .quantity_micro = value,
                .rounding = dim->rounding,
                .aggregation = k.aggregation,
                .time_ms = k.time_ms,
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
uint64_t mtr_ingest_close_split_customers(const close_batch_t *b)
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

void mtr_ingest_close_contributions(mtr_ingest_t *ing, close_batch_t *b)
{
    for (size_t i = 0; i < b->n_parts; i++)
        for (size_t t = 0; t < b->parts[i].n_tables; t++)
            table_contributions(ing, b, &b->parts[i], b->parts[i].tables[t]);
    link_tags(b);
}

void mtr_ingest_close_batch_free(mtr_ingest_t *ing, close_batch_t *b)
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
    mtr_strpool_free(&b->pool);
}
