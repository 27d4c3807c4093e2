/* Internals of the event decoder shared by core/event*.c: the decoder
 * object, its precomputed lookup tables, the field slots a message is
 * sorted into, and the validators. Not for use outside core/event*.c. */
#ifndef MTR_EVENT_INT_H
#define MTR_EVENT_INT_H

#include <cjson/cJSON.h>

#include "core/event.h"
#include "core/json_arena.h"

/* Event fields (names from config events.*). */
enum {
    EF_CUSTOMER,
    EF_ACCOUNT,
    EF_DIMENSION,
    EF_QUANTITY,
    EF_TIMESTAMP,
    EF_ID,
    EF_TAGS,
    EF_LICENSE_ARN,
    EF_PRODUCT_CODE,
    EF__COUNT
};

/* CloudEvents context attributes and data, structured mode. */
enum {
    CE_SPECVERSION,
    CE_ID,
    CE_SOURCE,
    CE_TYPE,
    CE_TIME,
    CE_SUBJECT,
    CE_DATA,
    CE_DATA_BASE64,
    CE__COUNT
};

/* A name known to the decoder: which event field and/or CloudEvents
 * attribute it is (-1: neither). Names are chained by first byte, so a
 * member name is matched by one table load and a byte compare that also
 * finds its end, with no hashing or strlen. */
typedef struct evt_name {
    const char *name;
    size_t len;
    int8_t event_field;
    int8_t ce_attr;
    uint8_t next; /* 1-based index of the next name with this first byte */
} evt_name_t;

#define EVT_MAX_NAMES (EF__COUNT + CE__COUNT)

/* (product, name) → dimension: the dimension names and CloudEvents types. */
typedef struct evt_dim_entry {
    const char *name; /* NULL: empty slot */
    size_t len;
    uint64_t hash;
    uint32_t product;
    uint32_t dimension;
} evt_dim_entry_t;

typedef struct evt_dim_map {
    evt_dim_entry_t *slots;
    size_t mask;
} evt_dim_map_t;

typedef struct evt_product {
    const char *code;
    size_t len;
} evt_product_t;

struct mtr_event_decoder {
    const mtr_config_t *cfg;
    mtr_clock_t *clock;
    mtr_json_arena_t *arena;
    evt_name_t names[EVT_MAX_NAMES];
    size_t n_names;
    uint8_t first[256];                 /* 1-based index into names by first byte, 0: none */
    const char *field_names[EF__COUNT]; /* for messages */
    char *field_labels[EF__COUNT];      /* "field \"customer\"", built once */
    evt_dim_map_t dims;
    evt_dim_map_t types;
    evt_product_t *products;
};

/* One message sorted into slots: the members found (first of each; a
 * repeat is a duplicate_field rejection) and their positions among the
 * object's members (to find a number's source text). */
typedef struct evt_slots {
    const cJSON *ev[EF__COUNT];
    int ev_index[EF__COUNT];
    const cJSON *ce[CE__COUNT];
    int ce_index[CE__COUNT];
} evt_slots_t;

/* Everything a rejection message needs, and the binary-mode headers. */
typedef struct evt_ctx {
    mtr_event_decoder_t *dec;
    const char *raw; /* the message value */
    size_t raw_len;
    const mtr_event_kafka_meta_t *meta;
    char *errstr;
    size_t errstr_size;
    /* CloudEvents attributes as strings, from the envelope or the ce_*
     * headers (ptr NULL when absent; CE_DATA* unused) */
    mtr_event_str_t ce[CE__COUNT];
    bool binary;
} evt_ctx_t;

/* cJSON's type tests, inline (the library's are calls through the PLT). */
static inline bool evt_is(const cJSON *item, int type)
{
    return item && (item->type & 0xff) == type;
}
#define evt_is_string(i) evt_is((i), cJSON_String)
#define evt_is_number(i) evt_is((i), cJSON_Number)
#define evt_is_object(i) evt_is((i), cJSON_Object)

/* FNV-1a over a NUL-terminated string, giving its length on the way. */
static inline uint64_t evt_hash_cstr(const char *s, size_t *len)
{
    uint64_t h = 1469598103934665603ULL;
    const char *p = s;
    for (; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    *len = (size_t)(p - s);
    return h;
}

static inline uint64_t evt_hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

/* event_lookup.c: decoder tables. */
void evt_tables_build(mtr_event_decoder_t *dec);
void evt_tables_free(mtr_event_decoder_t *dec);
const evt_name_t *evt_name_find(const mtr_event_decoder_t *dec, const char *key);
/* Index of product code[0..len) or -1. */
int evt_product_find(const mtr_event_decoder_t *dec, const char *code, size_t len);
/* Dimension (or CloudEvents type, map = &dec->types) in product, or NULL. */
const evt_dim_entry_t *evt_dim_find(const evt_dim_map_t *map, uint32_t product, const char *name,
                                    size_t len, uint64_t hash);

/* event_reject.c: rejection messages. */
mtr_event_reason_t evt_reject(evt_ctx_t *ctx, mtr_event_reason_t reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Renders bytes for a message: quoted, escaped, truncated. */
#define EVT_SHOW_BUF 208
const char *evt_show(const char *s, size_t len, char *buf, size_t size);
/* "a number", "an object", ... for type errors. */
const char *evt_type_name(const cJSON *item);

/* event_fields.c: validation of single fields. */
bool evt_utf8_valid(const unsigned char *s, size_t len, bool *has_backslash);
bool evt_has_escaped_nul(const char *s, size_t len);
/* Source text of member `index` of the object whose '{' is at obj; false if
 * the text does not have that shape. */
bool evt_member_raw(const char *obj, const char *end, int index, const char **val, size_t *val_len);
/* field: how messages name it, e.g. "field \"customer\"". */
mtr_event_reason_t evt_customer(evt_ctx_t *ctx, const cJSON *item, const char *field,
                                mtr_event_str_t *out);
/* The same for bytes that are not a JSON string (a CloudEvents subject). */
mtr_event_reason_t evt_customer_text(evt_ctx_t *ctx, const char *s, size_t len, const char *field,
                                     mtr_event_str_t *out);
mtr_event_reason_t evt_account_id(evt_ctx_t *ctx, const cJSON *item, mtr_event_str_t *out);
mtr_event_reason_t evt_tags(evt_ctx_t *ctx, const cJSON *item, mtr_event_t *out);
mtr_event_reason_t evt_license_arn(evt_ctx_t *ctx, const cJSON *item, mtr_event_str_t *out);
mtr_event_reason_t evt_id(evt_ctx_t *ctx, const cJSON *item, const char *field,
                          mtr_event_str_t *out);

/* event_time.c */
mtr_event_reason_t evt_time(evt_ctx_t *ctx, const cJSON *item, const char *field, int64_t *out_ms);
mtr_event_reason_t evt_time_text(evt_ctx_t *ctx, const char *text, size_t len, const char *field,
                                 int64_t *out_ms);
mtr_event_reason_t evt_time_check(evt_ctx_t *ctx, int64_t t_ms, const char *field);

/* event_cloudevents.c */
/* Fills ctx->ce from meta's ce_* headers; true when binary mode. */
bool evt_ce_binary_headers(evt_ctx_t *ctx);
/* Whether a top-level object is a structured-mode CloudEvent. */
bool evt_ce_is_structured(const evt_slots_t *slots);
/* Validates the structured-mode envelope, fills ctx->ce; *data = the data
 * object. */
mtr_event_reason_t evt_ce_structured(evt_ctx_t *ctx, const evt_slots_t *slots, const cJSON **data);
/* Validates binary-mode headers. */
mtr_event_reason_t evt_ce_binary(evt_ctx_t *ctx);

/* Copies bytes into the decoder arena, NUL-terminated. */
const char *evt_arena_copy(evt_ctx_t *ctx, const char *s, size_t len);

#endif
