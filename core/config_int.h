/* Internals of the configuration module. Its files, each using only those
 * listed after it: config.c (loading a file: defaults, the document, the
 * environment, whole-config checks), config_walk.c (which row each JSON key
 * belongs to), config_value.c (what one value of each type means, defaults
 * and freeing), config_table.c (the table itself, its validators and its
 * printed form) and config_util.c (problems, paths, durations). Nothing
 * outside core/config*.c includes this header.
 *
 * A property is one row: where it lives in the JSON (section + key, kept
 * apart because keys such as "bootstrap.servers" contain dots), its type,
 * default, bounds, description, validator, and where it lands in the struct
 * (offsetof). Arrays of objects point at a nested table describing one
 * element. */
#ifndef MTR_CONFIG_INT_H
#define MTR_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "core/config.h"

/* The longest JSON path a problem names, terminator included. */
#define MTR_CONF_PATH_MAX 512

typedef enum mtr_conf_type {
    MTR_CONF_STRING,      /* char * */
    MTR_CONF_INT,         /* int, int64_t or size_t (by the row's size) */
    MTR_CONF_DOUBLE,      /* double */
    MTR_CONF_BOOL,        /* bool */
    MTR_CONF_DURATION,    /* int64_t milliseconds from "5m", "1h30m" */
    MTR_CONF_STRING_LIST, /* char ** + size_t count */
    MTR_CONF_STRING_MAP,  /* mtr_kv_t * + size_t count, order kept */
    MTR_CONF_ENUM,        /* int: the index of the name in `names` */
    MTR_CONF_OBJECT_ARRAY /* element * + size_t count, elements by `sub` */
} mtr_conf_type_t;

enum {
    MTR_CONF_REQUIRED = 1u << 0, /* the key must be present */
    MTR_CONF_NULLABLE = 1u << 1, /* JSON null (and the default) leaves it NULL */
    MTR_CONF_SECRET = 1u << 2    /* never printed or logged */
};

/* Collects problems while loading. origin is the environment variable a
 * value came from (shown next to the path), or NULL for the file. */
typedef struct mtr_conf_ctx {
    mtr_config_problems_t *problems;
    size_t cap;
    const char *origin;
} mtr_conf_ctx_t;

/* Checks a value after it has been parsed and bounds-checked; field points
 * at the struct member (strings: the char *), or for lists at one entry (the
 * char *) and for maps at one entry (the mtr_kv_t), path naming that entry.
 * Reports through mtr_conf_problem. */
typedef void (*mtr_conf_validator_t)(mtr_conf_ctx_t *ctx, const char *path, const void *field);

/* An environment variable that sets one entry of a string map. */
typedef struct mtr_conf_map_env {
    const char *map_key;
    const char *env;
} mtr_conf_map_env_t;

typedef struct mtr_conf_table mtr_conf_table_t;

typedef struct mtr_conf_prop {
    const char *section; /* NULL: a key of the enclosing object itself */
    const char *key;
    mtr_conf_type_t type;
    const char *def; /* default as JSON text; NULL: none (NULL, 0 or empty) */
    /* Numbers: value bounds (durations in ms); both 0: unbounded. */
    double min, max;
    /* Strings and list entries: length bounds in bytes (max 0: unbounded). */
    size_t min_len, max_len;
    size_t min_count;         /* lists and arrays: fewest entries */
    const char *const *names; /* enum: NULL-terminated, value = index */
    const char *desc;
    mtr_conf_validator_t validate;     /* see mtr_conf_validator_t */
    size_t offset;                     /* of the field, or of the array pointer */
    size_t size;                       /* sizeof the field */
    size_t count_offset;               /* lists, maps, arrays: of the size_t count */
    const mtr_conf_table_t *sub;       /* object arrays: the element table */
    const char *unique;                /* object arrays: element key that must be unique */
    const char *env;                   /* scalar override, or NULL */
    const mtr_conf_map_env_t *map_env; /* maps: per-entry overrides, {NULL} ended */
    unsigned flags;
} mtr_conf_prop_t;

struct mtr_conf_table {
    const char *path; /* "" for the root, "products[]" for an element */
    const mtr_conf_prop_t *props;
    size_t n_props;
    size_t elem_size;
};

/* The root table: one row per key of mtr_config_t. */
extern const mtr_conf_table_t mtr_conf_root;

/* Checks that span several keys (run after env overrides). */
void mtr_conf_check_whole(mtr_conf_ctx_t *ctx, const mtr_config_t *config);
/* Fills values derived from others (emulator.region from aws.region). */
void mtr_conf_derive(mtr_config_t *config);

/* ---- config_walk.c: walking the document -------------------------------------- */

/* Sets every key of obj (a JSON object, else a problem) that t declares,
 * reports unknown and repeated keys and missing required ones. base is the
 * struct t describes; path names obj in problems. */
void mtr_conf_walk_object(mtr_conf_ctx_t *ctx, const mtr_conf_table_t *t, const cJSON *obj,
                          void *base, const char *path);

/* ---- config_value.c: one value -------------------------------------------- */

/* Checks item against row p and stores it in base (replacing and freeing
 * what was there), or reports why not and leaves the field as it was. item
 * is only read; the stored value is a copy owned by base. */
void mtr_conf_set_value(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item,
                        void *base, const char *path);
/* Puts key=value (both copied) into string map p, replacing an existing key
 * in place so the order of the file is kept, then runs p's validator on the
 * entry with path. */
void mtr_conf_map_set(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, void *base, const char *key,
                      const char *value, const char *path);
/* Checks an array of objects against row p (count, element type), frees
 * what was there and stores a zeroed array of its length, returned with the
 * count; NULL after a problem. The caller walks the elements. */
char *mtr_conf_array_store(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item,
                           void *base, const char *path, size_t *count);
/* Stores every default of t into base. ctx NULL: problems with the
 * defaults themselves are logged instead of collected. */
void mtr_conf_apply_defaults(const mtr_conf_table_t *t, void *base, mtr_conf_ctx_t *ctx);
/* Frees everything the setters stored in base (not base itself) and leaves
 * the fields empty. */
void mtr_conf_free_table(const mtr_conf_table_t *t, void *base);

/* ---- config_util.c: shared helpers ---------------------------------------- */

/* Records one problem at path (copied). */
void mtr_conf_problem(mtr_conf_ctx_t *ctx, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "kafka" + "bootstrap.servers" -> `kafka."bootstrap.servers"`; parent or
 * section may be NULL/empty. Keys that are not plain identifiers are
 * quoted. */
void mtr_conf_path(char *out, size_t size, const char *parent, const char *section,
                   const char *key);
/* 90000 -> "1m30s", 0 -> "0s". */
void mtr_conf_format_duration(int64_t ms, char *out, size_t size);
/* True for a kafka.properties key that holds a credential. */
bool mtr_conf_key_is_secret(const char *key);

/* "null", "boolean", "number", "string", "array" or "object", for problems. */
const char *mtr_conf_json_type(const cJSON *item);
/* Keys starting with "//" are comments, so example files can explain
 * themselves in plain JSON. */
bool mtr_conf_is_comment(const char *key);
#endif
