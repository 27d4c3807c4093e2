/* Scope ids: products by index, license ARNs interned. License ARNs are few
 * (one per customer agreement), so a linear search is enough. */
#include "ingest/scopes.h"

#include <string.h>

#include "core/mem.h"

void mtr_ingest_scopes_init(mtr_ingest_scopes_t *s, size_t n_products)
{
    memset(s, 0, sizeof *s);
    s->n_products = n_products;
}

void mtr_ingest_scopes_free(mtr_ingest_scopes_t *s)
{
    for (size_t i = 0; i < s->n_arns; i++)
        mtr_free(s->arns[i].license_arn);
    mtr_free(s->arns);
    memset(s, 0, sizeof *s);
}

uint32_t mtr_ingest_scopes_id(mtr_ingest_scopes_t *s, uint32_t product, const char *arn,
                              size_t arn_len)
{
    if (arn_len == 0)
        return product;
    for (size_t i = 0; i < s->n_arns; i++)
        if (s->arns[i].product == product && !strncmp(s->arns[i].license_arn, arn, arn_len) &&
            s->arns[i].license_arn[arn_len] == '\0')
            return (uint32_t)(s->n_products + i);
    if (s->n_arns == s->cap_arns) {
        s->cap_arns = s->cap_arns ? s->cap_arns * 2 : 8;
        s->arns = mtr_realloc(s->arns, s->cap_arns * sizeof *s->arns);
    }
    s->arns[s->n_arns].product = product;
    s->arns[s->n_arns].license_arn = mtr_strndup(arn, arn_len);
    return (uint32_t)(s->n_products + s->n_arns++);
}

mtr_ingest_scope_t mtr_ingest_scopes_get(const mtr_ingest_scopes_t *s, uint32_t id)
{
    if (id < s->n_products)
        return (mtr_ingest_scope_t){id, NULL};
    return s->arns[id - s->n_products];
}
