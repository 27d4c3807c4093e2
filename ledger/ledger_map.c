/* ledger_map: find-or-add over a caller's array, on the hash index the
 * hour tables use (aggregate/index.h), so that a close or a confirmation
 * indexes its keys and records in memory without a query per row. */
#include <assert.h>
#include <stdint.h>

#include "ledger/ledger_int.h"

typedef struct map_probe {
    ledger_map_eq eq;
    const void *ctx;
    size_t item;
} map_probe_t;

static inline bool probe_eq(const map_probe_t *p, uint32_t existing)
{
    return p->eq(p->ctx, existing, p->item);
}

size_t ledger_map_put(ledger_map_t *m, uint64_t hash, size_t item, ledger_map_eq eq,
                      const void *ctx)
{
    assert(item < UINT32_MAX - 1);
    if (!m->ix.slots)
        mtr_agg_ix_init(&m->ix, 1024);
    mtr_agg_ix_migrate(&m->ix, MTR_AGG_IX_MIGRATE_PER_OP);
    map_probe_t probe = {eq, ctx, item};
    uint32_t found;
    MTR_AGG_IX_FIND(&m->ix, (uint32_t)hash, probe_eq, &probe, found);
    if (found != UINT32_MAX)
        return found;
    mtr_agg_ix_insert(&m->ix, (uint32_t)hash, (uint32_t)item);
    return item;
}

void ledger_map_free(ledger_map_t *m)
{
    mtr_agg_ix_free(&m->ix);
}
