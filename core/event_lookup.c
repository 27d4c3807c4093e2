/* The decoder's lookup tables, built once in mtr_event_decoder_new: member
 * names → event field / CloudEvents attribute, (product, dimension name) →
 * dimension, (product, CloudEvents type) → dimension, product codes. They
 * make per-event classification a hash and a memcmp instead of a strcmp per
 * configured name. */
#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "core/event_int.h"
#include "core/mem.h"

static const char *const default_fields[EF__COUNT] = {
    [EF_CUSTOMER] = "customer",
    [EF_ACCOUNT] = "customer_aws_account_id",
    [EF_DIMENSION] = "dimension",
    [EF_QUANTITY] = "quantity",
    [EF_TIMESTAMP] = "timestamp",
    [EF_ID] = "id",
    [EF_TAGS] = "tags",
    [EF_LICENSE_ARN] = "license_arn",
    [EF_PRODUCT_CODE] = "product_code",
};

static const char *const ce_names[CE__COUNT] = {
    [CE_SPECVERSION] = "specversion",
    [CE_ID] = "id",
    [CE_SOURCE] = "source",
    [CE_TYPE] = "type",
    [CE_TIME] = "time",
    [CE_SUBJECT] = "subject",
    [CE_DATA] = "data",
    [CE_DATA_BASE64] = "data_base64",
};

static evt_name_t *name_slot(mtr_event_decoder_t *dec, const char *name)
{
    size_t len = strlen(name);
    unsigned char c0 = (unsigned char)name[0];
    for (uint8_t i = dec->first[c0]; i; i = dec->names[i - 1].next) {
        evt_name_t *n = &dec->names[i - 1];
        if (n->len == len && memcmp(n->name, name, len) == 0)
            return n;
    }
    assert(dec->n_names < EVT_MAX_NAMES);
    evt_name_t *n = &dec->names[dec->n_names++];
    *n = (evt_name_t){name, len, -1, -1, dec->first[c0]};
    dec->first[c0] = (uint8_t)dec->n_names;
    return n;
}

const evt_name_t *evt_name_find(const mtr_event_decoder_t *dec, const char *key)
{
    for (uint8_t i = dec->first[(unsigned char)key[0]]; i; i = dec->names[i - 1].next) {
        const evt_name_t *n = &dec->names[i - 1];
        /* Stops at the key's NUL (no name holds one), never reads past it. */
        size_t k = 1;
        while (k < n->len && key[k] == n->name[k])
            k++;
        if (k == n->len && key[k] == '\0')
            return n;
    }
    return NULL;
}

static void dim_insert(evt_dim_map_t *map, const char *name, uint32_t product, uint32_t dim)
{
    size_t len;
    uint64_t h = evt_hash_cstr(name, &len);
    for (size_t i = h & map->mask;; i = (i + 1) & map->mask) {
        evt_dim_entry_t *e = &map->slots[i];
        if (!e->name) {
            *e = (evt_dim_entry_t){name, len, h, product, dim};
            return;
        }
        /* A repeated name keeps the first dimension; config validation
         * reports the repeat. */
        if (e->product == product && e->hash == h && e->len == len &&
            memcmp(e->name, name, len) == 0)
            return;
    }
}

const evt_dim_entry_t *evt_dim_find(const evt_dim_map_t *map, uint32_t product, const char *name,
                                    size_t len, uint64_t hash)
{
    for (size_t i = hash & map->mask;; i = (i + 1) & map->mask) {
        const evt_dim_entry_t *e = &map->slots[i];
        if (!e->name)
            return NULL;
        if (e->hash == hash && e->product == product && e->len == len &&
            memcmp(e->name, name, len) == 0)
            return e;
    }
}

static void dim_map_init(evt_dim_map_t *map, size_t entries)
{
    size_t n = 16;
    while (n < entries * 2)
        n *= 2;
    map->slots = mtr_calloc(n, sizeof *map->slots);
    map->mask = n - 1;
}

void evt_tables_build(mtr_event_decoder_t *dec)
{
    const mtr_config_t *cfg = dec->cfg;
    const char *const configured[EF__COUNT] = {
        [EF_CUSTOMER] = cfg->events.customer_field,
        [EF_ACCOUNT] = cfg->events.customer_account_field,
        [EF_DIMENSION] = cfg->events.dimension_field,
        [EF_QUANTITY] = cfg->events.quantity_field,
        [EF_TIMESTAMP] = cfg->events.timestamp_field,
        [EF_ID] = cfg->events.id_field,
        [EF_TAGS] = cfg->events.tags_field,
        [EF_LICENSE_ARN] = cfg->events.license_arn_field,
        [EF_PRODUCT_CODE] = cfg->events.product_code_field,
    };
    memset(dec->names, 0, sizeof dec->names);
    memset(dec->first, 0, sizeof dec->first);
    dec->n_names = 0;
    for (int f = 0; f < EF__COUNT; f++) {
        const char *name = configured[f] && *configured[f] ? configured[f] : default_fields[f];
        dec->field_names[f] = name;
        size_t label_size = strlen(name) + sizeof "field \"\"";
        dec->field_labels[f] = mtr_malloc(label_size);
        snprintf(dec->field_labels[f], label_size, "field \"%s\"", name);
    }
    /* Each name becomes the head of its first-byte chain, so insert the
     * CloudEvents attributes first and the event fields last, rarest
     * first: a plain event's members then match at the head of their
     * chain. Going down also lets the first of two fields configured with
     * one name keep it. */
    for (int a = CE__COUNT - 1; a >= 0; a--)
        name_slot(dec, ce_names[a])->ce_attr = (int8_t)a;
    for (int f = EF__COUNT - 1; f >= 0; f--)
        name_slot(dec, dec->field_names[f])->event_field = (int8_t)f;

    size_t n_dims = 0;
    for (size_t p = 0; p < cfg->n_products; p++)
        n_dims += cfg->products[p].n_dimensions;
    dim_map_init(&dec->dims, n_dims);
    dim_map_init(&dec->types, n_dims);
    dec->products = mtr_calloc(cfg->n_products, sizeof *dec->products);
    for (size_t p = 0; p < cfg->n_products; p++) {
        const mtr_product_conf_t *prod = &cfg->products[p];
        dec->products[p].code = prod->product_code ? prod->product_code : "";
        dec->products[p].len = strlen(dec->products[p].code);
        for (size_t d = 0; d < prod->n_dimensions; d++) {
            const mtr_dimension_conf_t *dim = &prod->dimensions[d];
            if (dim->name)
                dim_insert(&dec->dims, dim->name, (uint32_t)p, (uint32_t)d);
            if (dim->event_type && *dim->event_type)
                dim_insert(&dec->types, dim->event_type, (uint32_t)p, (uint32_t)d);
        }
    }
}

void evt_tables_free(mtr_event_decoder_t *dec)
{
    mtr_free(dec->dims.slots);
    mtr_free(dec->types.slots);
    mtr_free(dec->products);
    for (int f = 0; f < EF__COUNT; f++)
        mtr_free(dec->field_labels[f]);
}

int evt_product_find(const mtr_event_decoder_t *dec, const char *code, size_t len)
{
    for (size_t p = 0; p < dec->cfg->n_products; p++) {
        if (dec->products[p].len == len && memcmp(dec->products[p].code, code, len) == 0)
            return (int)p;
    }
    return -1;
}
