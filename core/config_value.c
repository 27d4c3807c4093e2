/* Configuration values: one setter per property type that checks a JSON
 * value against its table row (type, bounds, lengths, counts, validator) and
 * stores it in the struct, the built-in defaults (run through the same
 * setters), and freeing what the setters stored. config_walk.c decides which
 * row a JSON key belongs to; this file decides what the value means. */
#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/config_int.h"
#include "core/log.h"
#include "core/mem.h"

static void *at(void *base, size_t offset)
{
    return (char *)base + offset;
}

static size_t *count_at(void *base, const mtr_conf_prop_t *p)
{
    return (size_t *)at(base, p->count_offset);
}

/* ---- freeing ------------------------------------------------------------- */

/* Releases whatever a property holds and leaves it empty. */
static void free_prop(const mtr_conf_prop_t *p, void *base)
{
    void *f = at(base, p->offset);
    switch (p->type) {
    case MTR_CONF_STRING:
        mtr_free(*(char **)f);
        *(char **)f = NULL;
        break;
    case MTR_CONF_STRING_LIST: {
        char **list = *(char ***)f;
        for (size_t i = 0; i < *count_at(base, p); i++)
            mtr_free(list[i]);
        mtr_free(list);
        *(char ***)f = NULL;
        *count_at(base, p) = 0;
        break;
    }
    case MTR_CONF_STRING_MAP: {
        mtr_kv_t *kv = *(mtr_kv_t **)f;
        for (size_t i = 0; i < *count_at(base, p); i++) {
            mtr_free(kv[i].key);
            mtr_free(kv[i].value);
        }
        mtr_free(kv);
        *(mtr_kv_t **)f = NULL;
        *count_at(base, p) = 0;
        break;
    }
    case MTR_CONF_OBJECT_ARRAY: {
        char *elems = *(char **)f;
        for (size_t i = 0; i < *count_at(base, p); i++)
            mtr_conf_free_table(p->sub, elems + i * p->sub->elem_size);
        mtr_free(elems);
        *(char **)f = NULL;
        *count_at(base, p) = 0;
        break;
    }
    default:
        break;
    }
}

void mtr_conf_free_table(const mtr_conf_table_t *t, void *base)
{
    for (size_t i = 0; i < t->n_props; i++)
        free_prop(&t->props[i], base);
}

/* ---- scalars ------------------------------------------------------------- */

static bool check_length(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const char *v,
                         const char *path)
{
    size_t len = strlen(v);
    if (len < p->min_len) {
        if (p->min_len == 1)
            mtr_conf_problem(ctx, path, "must not be empty");
        else
            mtr_conf_problem(ctx, path, "must be at least %zu characters, got %zu", p->min_len,
                             len);
        return false;
    }
    if (p->max_len && len > p->max_len) {
        mtr_conf_problem(ctx, path, "must be at most %zu characters, got %zu", p->max_len, len);
        return false;
    }
    return true;
}

static void set_string(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item, void *base,
                       const char *path)
{
    char **dst = at(base, p->offset);
    if (cJSON_IsNull(item) && (p->flags & MTR_CONF_NULLABLE)) {
        free_prop(p, base);
        return;
    }
    if (!cJSON_IsString(item)) {
        mtr_conf_problem(ctx, path, "expected a string%s, got %s",
                         p->flags & MTR_CONF_NULLABLE ? " or null" : "", mtr_conf_json_type(item));
        return;
    }
    if (!check_length(ctx, p, item->valuestring, path))
        return;
    free_prop(p, base);
    *dst = mtr_strdup(item->valuestring);
    if (p->validate)
        p->validate(ctx, path, dst);
}

static bool get_number(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item,
                       const char *path, double *out)
{
    bool integer = p->type == MTR_CONF_INT;
    if (!cJSON_IsNumber(item)) {
        mtr_conf_problem(ctx, path, "expected %s, got %s", integer ? "an integer" : "a number",
                         mtr_conf_json_type(item));
        return false;
    }
    double v = item->valuedouble;
    if (integer && v != floor(v)) {
        mtr_conf_problem(ctx, path, "expected an integer, got %.15g", v);
        return false;
    }
    double lo = p->min, hi = p->max;
    if (!lo && !hi) { /* unbounded: whatever the field can hold */
        lo = p->size == sizeof(int) ? INT_MIN : -9007199254740992.0;
        hi = p->size == sizeof(int) ? INT_MAX : 9007199254740992.0;
    }
    if (!(v >= lo && v <= hi)) {
        mtr_conf_problem(ctx, path, "must be between %.15g and %.15g, got %.15g", lo, hi, v);
        return false;
    }
    *out = v;
    return true;
}

static void set_number(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item, void *base,
                       const char *path)
{
    double v;
    if (!get_number(ctx, p, item, path, &v))
        return;
    void *f = at(base, p->offset);
    if (p->type == MTR_CONF_DOUBLE) {
        *(double *)f = v;
    } else if (p->size == sizeof(int)) {
        *(int *)f = (int)v;
    } else {
        /* int64_t or size_t: the bounds keep size_t values non-negative, so
         * both hold the same bytes. */
        int64_t x = (int64_t)v;
        memcpy(f, &x, sizeof x);
    }
}

static void set_duration(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item,
                         void *base, const char *path)
{
    if (!cJSON_IsString(item)) {
        mtr_conf_problem(ctx, path, "expected a duration string such as \"5m\", got %s",
                         mtr_conf_json_type(item));
        return;
    }
    int64_t ms;
    mtr_err_t err = mtr_config_parse_duration(item->valuestring, &ms);
    if (err == MTR_ERR_OVERFLOW) {
        mtr_conf_problem(ctx, path, "duration \"%s\" is too large", item->valuestring);
        return;
    }
    if (err) {
        mtr_conf_problem(ctx, path,
                         "invalid duration \"%s\" (use whole numbers with units ms, s, m, h, d: "
                         "250ms, 90s, 5m, 6h, 7d, 1h30m)",
                         item->valuestring);
        return;
    }
    if ((p->min || p->max) && (ms < (int64_t)p->min || ms > (int64_t)p->max)) {
        char lo[32], hi[32];
        mtr_conf_format_duration((int64_t)p->min, lo, sizeof lo);
        mtr_conf_format_duration((int64_t)p->max, hi, sizeof hi);
        mtr_conf_problem(ctx, path, "must be between %s and %s, got %s", lo, hi, item->valuestring);
        return;
    }
    *(int64_t *)at(base, p->offset) = ms;
}

static void set_enum(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item, void *base,
                     const char *path)
{
    char expected[256];
    size_t n = 0;
    expected[0] = '\0';
    for (size_t i = 0; p->names[i] && n < sizeof expected; i++)
        n +=
            (size_t)snprintf(expected + n, sizeof expected - n, "%s%s", i ? ", " : "", p->names[i]);
    if (!cJSON_IsString(item)) {
        mtr_conf_problem(ctx, path, "expected a string (%s), got %s", expected,
                         mtr_conf_json_type(item));
        return;
    }
    for (int i = 0; p->names[i]; i++)
        if (!strcmp(item->valuestring, p->names[i])) {
            *(int *)at(base, p->offset) = i;
            return;
        }
    mtr_conf_problem(ctx, path, "unknown %s \"%s\" (expected %s)", p->key, item->valuestring,
                     expected);
}

static void set_bool(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item, void *base,
                     const char *path)
{
    if (!cJSON_IsBool(item)) {
        mtr_conf_problem(ctx, path, "expected true or false, got %s", mtr_conf_json_type(item));
        return;
    }
    *(bool *)at(base, p->offset) = cJSON_IsTrue(item);
}

/* ---- lists, maps and arrays of objects ------------------------------------ */

/* A JSON array with at least the row's min_count entries; `of` names what
 * the entries must be ("strings", "objects"). */
static bool check_list(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item,
                       const char *path, const char *of)
{
    if (!cJSON_IsArray(item)) {
        mtr_conf_problem(ctx, path, "expected a list of %s, got %s", of, mtr_conf_json_type(item));
        return false;
    }
    size_t n = (size_t)cJSON_GetArraySize(item);
    if (n < p->min_count) {
        mtr_conf_problem(ctx, path, "must have at least %zu entr%s, got %zu", p->min_count,
                         p->min_count == 1 ? "y" : "ies", n);
        return false;
    }
    return true;
}

static void set_list(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item, void *base,
                     const char *path)
{
    if (!check_list(ctx, p, item, path, "strings"))
        return;
    free_prop(p, base);
    char **list = mtr_calloc((size_t)cJSON_GetArraySize(item), sizeof *list);
    size_t kept = 0, i = 0;
    char ep[MTR_CONF_PATH_MAX];
    for (const cJSON *e = item->child; e; e = e->next, i++) {
        snprintf(ep, sizeof ep, "%s[%zu]", path, i);
        if (!cJSON_IsString(e)) {
            mtr_conf_problem(ctx, ep, "expected a string, got %s", mtr_conf_json_type(e));
            continue;
        }
        if (!check_length(ctx, p, e->valuestring, ep))
            continue;
        for (size_t j = 0; j < kept; j++)
            if (!strcmp(list[j], e->valuestring)) {
                mtr_conf_problem(ctx, ep, "duplicate entry \"%s\" (remove one)", e->valuestring);
                break;
            }
        list[kept] = mtr_strdup(e->valuestring);
        if (p->validate)
            p->validate(ctx, ep, &list[kept]);
        kept++;
    }
    *(char ***)at(base, p->offset) = list;
    *count_at(base, p) = kept;
}

void mtr_conf_map_set(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, void *base, const char *key,
                      const char *value, const char *path)
{
    mtr_kv_t **kv = at(base, p->offset);
    size_t *n = count_at(base, p);
    size_t i = 0;
    while (i < *n && strcmp((*kv)[i].key, key))
        i++;
    if (i < *n) {
        mtr_free((*kv)[i].value);
    } else {
        *kv = mtr_realloc(*kv, (*n + 1) * sizeof **kv);
        (*kv)[i].key = mtr_strdup(key);
        (*n)++;
    }
    (*kv)[i].value = mtr_strdup(value);
    if (p->validate)
        p->validate(ctx, path, &(*kv)[i]);
}

static void set_map(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item, void *base,
                    const char *path)
{
    if (!cJSON_IsObject(item)) {
        mtr_conf_problem(ctx, path, "expected an object of string values, got %s",
                         mtr_conf_json_type(item));
        return;
    }
    free_prop(p, base);
    char ep[MTR_CONF_PATH_MAX], num[64];
    for (const cJSON *e = item->child; e; e = e->next) {
        if (mtr_conf_is_comment(e->string))
            continue;
        mtr_conf_path(ep, sizeof ep, path, NULL, e->string);
        const char *v;
        /* librdkafka takes strings; numbers and booleans are written the
         * way users expect them to arrive ("45000", "true"). */
        if (cJSON_IsString(e)) {
            v = e->valuestring;
        } else if (cJSON_IsNumber(e)) {
            snprintf(num, sizeof num, "%.17g", e->valuedouble);
            v = num;
        } else if (cJSON_IsBool(e)) {
            v = cJSON_IsTrue(e) ? "true" : "false";
        } else {
            mtr_conf_problem(ctx, ep, "expected a string, number or boolean, got %s",
                             mtr_conf_json_type(e));
            continue;
        }
        if (!*e->string) {
            mtr_conf_problem(ctx, ep, "empty property name");
            continue;
        }
        if (p->max_len && strlen(v) > p->max_len) {
            mtr_conf_problem(ctx, ep, "must be at most %zu characters, got %zu", p->max_len,
                             strlen(v));
            continue;
        }
        mtr_conf_map_set(ctx, p, base, e->string, v, ep);
    }
}

char *mtr_conf_array_store(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item,
                           void *base, const char *path, size_t *count)
{
    if (!check_list(ctx, p, item, path, "objects"))
        return NULL;
    free_prop(p, base);
    size_t n = (size_t)cJSON_GetArraySize(item);
    char *elems = mtr_calloc(n, p->sub->elem_size);
    *(char **)at(base, p->offset) = elems;
    *count_at(base, p) = n;
    *count = n;
    return elems;
}

/* ---- dispatch and defaults ----------------------------------------------- */

typedef void (*setter_t)(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item,
                         void *base, const char *path);

static const setter_t setters[] = {
    [MTR_CONF_STRING] = set_string,     [MTR_CONF_INT] = set_number,
    [MTR_CONF_DOUBLE] = set_number,     [MTR_CONF_BOOL] = set_bool,
    [MTR_CONF_DURATION] = set_duration, [MTR_CONF_STRING_LIST] = set_list,
    [MTR_CONF_STRING_MAP] = set_map,    [MTR_CONF_ENUM] = set_enum,
};

void mtr_conf_set_value(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item,
                        void *base, const char *path)
{
    if (!setters[p->type]) {
        /* Arrays of objects are walked by config_walk.c; no row gives one a
         * default or an environment variable. */
        mtr_conf_problem(ctx, path, "an array of objects cannot be set here (set it in the file)");
        return;
    }
    setters[p->type](ctx, p, item, base, path);
}

/* Defaults are JSON text run through the same setters as the file, so a
 * default that breaks its own row's bounds shows up as a problem in every
 * load (and the tests). ctx NULL: such problems are logged. */
void mtr_conf_apply_defaults(const mtr_conf_table_t *t, void *base, mtr_conf_ctx_t *ctx)
{
    mtr_config_problems_t pr = {0};
    mtr_conf_ctx_t own = {&pr, 0, NULL};
    char path[MTR_CONF_PATH_MAX];
    for (size_t i = 0; i < t->n_props; i++) {
        const mtr_conf_prop_t *p = &t->props[i];
        if (!p->def)
            continue;
        cJSON *v = cJSON_Parse(p->def);
        mtr_conf_path(path, sizeof path, t->path, p->section, p->key);
        mtr_conf_set_value(ctx ? ctx : &own, p, v, base, path);
        cJSON_Delete(v);
    }
    for (size_t i = 0; i < pr.count; i++)
        mtr_error("config", "built-in default of %s: %s", pr.items[i].path, pr.items[i].message);
    mtr_config_problems_free(&pr);
}
