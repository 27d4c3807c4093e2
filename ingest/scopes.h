/* Request scopes of the hot path as small integers. An event bills either a
 * product (scope id = its index in config.products) or a license ARN of a
 * product (ids from n_products upward, interned on first sight). Only events
 * that carry a license ARN touch the intern table.
 *
 * Ownership: one per worker; ids are stable for the worker's life.
 * Threads: the worker, or its coordinator while the worker is parked. */
#ifndef MTR_INGEST_SCOPES_H
#define MTR_INGEST_SCOPES_H

#include <stddef.h>
#include <stdint.h>

typedef struct mtr_ingest_scope {
    uint32_t product;  /* index into config.products */
    char *license_arn; /* NULL: the product itself */
} mtr_ingest_scope_t;

typedef struct mtr_ingest_scopes {
    size_t n_products;
    mtr_ingest_scope_t *arns; /* id n_products + i */
    size_t n_arns;
    size_t cap_arns;
} mtr_ingest_scopes_t;

void mtr_ingest_scopes_init(mtr_ingest_scopes_t *s, size_t n_products);
void mtr_ingest_scopes_free(mtr_ingest_scopes_t *s);

/* The id of (product, arn); arn_len 0 means the product's own scope. */
uint32_t mtr_ingest_scopes_id(mtr_ingest_scopes_t *s, uint32_t product, const char *arn,
                              size_t arn_len);
/* What an id stands for. */
mtr_ingest_scope_t mtr_ingest_scopes_get(const mtr_ingest_scopes_t *s, uint32_t id);

#endif
