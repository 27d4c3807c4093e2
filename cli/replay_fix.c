/* Corrections and refund requests from a replay's differences. */
#include "cli/replay_fix.h"

#include <string.h>

#include "core/mem.h"
#include "core/quantity.h"

/* The dimension's rules: of the product the scope names, or for a license
 * the first product that has the dimension. NULL when the config no
 * longer has it. */
static const mtr_dimension_conf_t *dimension_of(const mtr_config_t *cfg, const mtr_ledger_key_t *k)
{
    for (size_t p = 0; p < cfg->n_products; p++) {
        const mtr_product_conf_t *prod = &cfg->products[p];
        if (k->scope_kind == MTR_LEDGER_SCOPE_PRODUCT && strcmp(prod->product_code, k->scope))
            continue;
        for (size_t d = 0; d < prod->n_dimensions; d++)
            if (!strcmp(prod->dimensions[d].name, k->dimension))
                return &prod->dimensions[d];
    }
    return NULL;
}

mtr_err_t replay_submit_corrections(mtr_ledger_t *ledger, const mtr_config_t *cfg,
                                    const mtr_ledger_audit_t *a, const char *description, FILE *out,
                                    size_t *n, int64_t *units_micro, char *errstr,
                                    size_t errstr_size)
{
    *n = 0;
    *units_micro = 0;
    mtr_ledger_correction_t *c = mtr_calloc(a->n ? a->n : 1, sizeof *c);
    for (size_t i = 0; i < a->n; i++) {
        const mtr_ledger_audit_row_t *r = &a->rows[i];
        if (r->difference_micro <= 0)
            continue;
        const mtr_dimension_conf_t *d = dimension_of(cfg, &r->key);
        c[*n] = (mtr_ledger_correction_t){
            .key = r->key,
            .source_hour_ms = r->hour_ms,
            .quantity_micro = r->difference_micro,
            .rounding = d ? d->rounding : MTR_ROUND_UP,
            .aggregation = d ? d->aggregation : r->aggregation,
        };
        *units_micro += r->difference_micro;
        (*n)++;
    }
    mtr_err_t err = MTR_OK;
    int64_t run = 0;
    if (*n)
        err = mtr_ledger_correct(ledger, description, c, *n, &run, errstr, errstr_size);
    mtr_free(c);
    if (!err && *n) {
        char units[MTR_QUANTITY_FORMAT_MAX];
        mtr_quantity_format(*units_micro, units, sizeof units);
        fprintf(out,
                "billed %zu correction(s), %s unit(s), as correction run %lld: a running "
                "meterd sends them with its next batch (see them with `meterd records list "
                "--status sendable`)\n",
                *n, units, (long long)run);
    }
    return err;
}
