/* The configuration loader: walks the property table of config_table.c over
 * a parsed JSON document, applying defaults, then the file, then environment
 * overrides, and collects every problem with its JSON path rather than
 * stopping at the first. Also owns freeing, lookups and duration parsing. */
#include "core/config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config_int.h"
#include "core/log.h"
#include "core/mem.h"

#define MAX_FILE_BYTES (16u << 20)
#define PATH_MAX_LEN   512

/* ---- problems ------------------------------------------------------------- */

void mtr_conf_problem(mtr_conf_ctx_t *ctx, const char *path, const char *fmt, ...)
{
    mtr_config_problems_t *pr = ctx->problems;
    if (pr->count == ctx->cap) {
        ctx->cap = ctx->cap ? ctx->cap * 2 : 8;
        pr->items = mtr_realloc(pr->items, ctx->cap * sizeof *pr->items);
    }
    char msg[1024], where[PATH_MAX_LEN + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (ctx->origin)
        snprintf(where, sizeof where, "%s (from %s)", path, ctx->origin);
    else
        snprintf(where, sizeof where, "%s", path);
    pr->items[pr->count].path = mtr_strdup(where);
    pr->items[pr->count].message = mtr_strdup(msg);
    pr->count++;
}

void mtr_config_problems_free(mtr_config_problems_t *problems)
{
    if (!problems)
        return;
    for (size_t i = 0; i < problems->count; i++) {
        mtr_free(problems->items[i].path);
        mtr_free(problems->items[i].message);
    }
    mtr_free(problems->items);
    problems->items = NULL;
    problems->count = 0;
}

/* ---- durations ------------------------------------------------------------ */

mtr_err_t mtr_config_parse_duration(const char *text, int64_t *out_ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    const char *p = text;
    int64_t total = 0;
    if (!strcmp(text, "0")) {
        *out_ms = 0;
        return MTR_OK;
    }
    if (!*p)
        return MTR_ERR_PARSE;
    while (*p) {
        if (*p < '0' || *p > '9')
            return MTR_ERR_PARSE;
        int64_t n = 0;
        while (*p >= '0' && *p <= '9') {
            if (n > (INT64_MAX - 9) / 10)
                return MTR_ERR_OVERFLOW;
            n = n * 10 + (*p++ - '0');
        }
        /* "ms" is the only two-letter unit; check it before "m". */
        size_t u = SIZE_MAX;
        if (p[0] == 'm' && p[1] == 's')
            u = 0;
        for (size_t i = 1; u == SIZE_MAX && i < sizeof units / sizeof units[0]; i++)
            if (*p == units[i].unit[0])
                u = i;
        if (u == SIZE_MAX)
            return MTR_ERR_PARSE;
        if (n > (INT64_MAX - total) / units[u].ms)
            return MTR_ERR_OVERFLOW;
        total += n * units[u].ms;
        p += strlen(units[u].unit);
    }
    *out_ms = total;
    return MTR_OK;
}

/* ---- one value -------------------------------------------------------------- */

static const char *json_type(const cJSON *item)
{
    if (cJSON_IsNull(item))
        return "null";
    if (cJSON_IsBool(item))
        return "boolean";
    if (cJSON_IsNumber(item))
        return "number";
    if (cJSON_IsString(item))
        return "string";
    if (cJSON_IsArray(item))
        return "array";
    return "object";
}

/* Keys starting with "//" are comments, so example files can explain
 * themselves in plain JSON. */
static bool is_comment(const char *key)
{
    return key[0] == '/' && key[1] == '/';
}

static void *at(void *base, size_t offset)
{
    return (char *)base + offset;
}

static size_t *count_at(void *base, const mtr_conf_prop_t *p)
{
    return (size_t *)at(base, p->count_offset);
}

static void free_table(const mtr_conf_table_t *t, void *base);

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
            free_table(p->sub, elems + i * p->sub->elem_size);
        mtr_free(elems);
        *(char **)f = NULL;
        *count_at(base, p) = 0;
        break;
    }
    default:
        break;
    }
}

static void free_table(const mtr_conf_table_t *t, void *base)
{
    for (size_t i = 0; i < t->n_props; i++)
        free_prop(&t->props[i], base);
}

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
                         p->flags & MTR_CONF_NULLABLE ? " or null" : "", json_type(item));
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
                         json_type(item));
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
                         json_type(item));
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
        mtr_conf_problem(ctx, path, "expected a string (%s), got %s", expected, json_type(item));
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
        mtr_conf_problem(ctx, path, "expected true or false, got %s", json_type(item));
        return;
    }
    *(bool *)at(base, p->offset) = cJSON_IsTrue(item);
}

static void set_list(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item, void *base,
                     const char *path)
{
    if (!cJSON_IsArray(item)) {
        mtr_conf_problem(ctx, path, "expected a list of strings, got %s", json_type(item));
        return;
    }
    size_t n = (size_t)cJSON_GetArraySize(item);
    if (n < p->min_count) {
        mtr_conf_problem(ctx, path, "must have at least %zu entr%s, got %zu", p->min_count,
                         p->min_count == 1 ? "y" : "ies", n);
        return;
    }
    free_prop(p, base);
    char **list = mtr_calloc(n, sizeof *list);
    size_t kept = 0, i = 0;
    char ep[PATH_MAX_LEN];
    for (const cJSON *e = item->child; e; e = e->next, i++) {
        snprintf(ep, sizeof ep, "%s[%zu]", path, i);
        if (!cJSON_IsString(e)) {
            mtr_conf_problem(ctx, ep, "expected a string, got %s", json_type(e));
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

/* Puts key=value into a map, replacing an existing key in place so the
 * order of the file is kept. */
static void map_put(const mtr_conf_prop_t *p, void *base, const char *key, const char *value)
{
    mtr_kv_t **kv = at(base, p->offset);
    size_t *n = count_at(base, p);
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*kv)[i].key, key)) {
            mtr_free((*kv)[i].value);
            (*kv)[i].value = mtr_strdup(value);
            return;
        }
    *kv = mtr_realloc(*kv, (*n + 1) * sizeof **kv);
    (*kv)[*n].key = mtr_strdup(key);
    (*kv)[*n].value = mtr_strdup(value);
    (*n)++;
}

static void check_map_entry(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, void *base,
                            const char *key, const char *path)
{
    if (!p->validate)
        return;
    mtr_kv_t *kv = *(mtr_kv_t **)at(base, p->offset);
    for (size_t i = 0; i < *count_at(base, p); i++)
        if (!strcmp(kv[i].key, key))
            p->validate(ctx, path, &kv[i]);
}

static void set_map(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item, void *base,
                    const char *path)
{
    if (!cJSON_IsObject(item)) {
        mtr_conf_problem(ctx, path, "expected an object of string values, got %s", json_type(item));
        return;
    }
    free_prop(p, base);
    char ep[PATH_MAX_LEN], num[64];
    for (const cJSON *e = item->child; e; e = e->next) {
        if (is_comment(e->string))
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
            mtr_conf_problem(ctx, ep, "expected a string, number or boolean, got %s", json_type(e));
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
        map_put(p, base, e->string, v);
        check_map_entry(ctx, p, base, e->string, ep);
    }
}

static void walk_object(mtr_conf_ctx_t *ctx, const mtr_conf_table_t *t, const cJSON *obj,
                        void *base, const char *path);
static void apply_defaults(const mtr_conf_table_t *t, void *base, mtr_conf_ctx_t *ctx);

static void set_array(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item, void *base,
                      const char *path)
{
    if (!cJSON_IsArray(item)) {
        mtr_conf_problem(ctx, path, "expected a list of objects, got %s", json_type(item));
        return;
    }
    size_t n = (size_t)cJSON_GetArraySize(item);
    if (n < p->min_count) {
        mtr_conf_problem(ctx, path, "must have at least %zu entr%s, got %zu", p->min_count,
                         p->min_count == 1 ? "y" : "ies", n);
        return;
    }
    free_prop(p, base);
    size_t es = p->sub->elem_size;
    char *elems = mtr_calloc(n, es);
    *(char **)at(base, p->offset) = elems;
    *count_at(base, p) = n;
    char ep[PATH_MAX_LEN];
    size_t i = 0;
    for (const cJSON *e = item->child; e; e = e->next, i++) {
        snprintf(ep, sizeof ep, "%s[%zu]", path, i);
        apply_defaults(p->sub, elems + i * es, ctx);
        walk_object(ctx, p->sub, e, elems + i * es, ep);
    }
    if (!p->unique)
        return;
    const mtr_conf_prop_t *u = NULL;
    for (size_t k = 0; k < p->sub->n_props; k++)
        if (!strcmp(p->sub->props[k].key, p->unique))
            u = &p->sub->props[k];
    for (size_t a = 0; u && a < n; a++) {
        const char *va = *(char **)(elems + a * es + u->offset);
        for (size_t b = 0; va && b < a; b++) {
            const char *vb = *(char **)(elems + b * es + u->offset);
            if (vb && !strcmp(va, vb)) {
                snprintf(ep, sizeof ep, "%s[%zu].%s", path, a, u->key);
                mtr_conf_problem(ctx, ep,
                                 "duplicate %s \"%s\" (already used by %s[%zu]; each "
                                 "must appear once)",
                                 u->key, va, path, b);
                break;
            }
        }
    }
}

static void set_value(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item, void *base,
                      const char *path)
{
    switch (p->type) {
    case MTR_CONF_STRING:
        set_string(ctx, p, item, base, path);
        break;
    case MTR_CONF_INT:
    case MTR_CONF_DOUBLE:
        set_number(ctx, p, item, base, path);
        break;
    case MTR_CONF_BOOL:
        set_bool(ctx, p, item, base, path);
        break;
    case MTR_CONF_DURATION:
        set_duration(ctx, p, item, base, path);
        break;
    case MTR_CONF_STRING_LIST:
        set_list(ctx, p, item, base, path);
        break;
    case MTR_CONF_STRING_MAP:
        set_map(ctx, p, item, base, path);
        break;
    case MTR_CONF_ENUM:
        set_enum(ctx, p, item, base, path);
        break;
    case MTR_CONF_OBJECT_ARRAY:
        set_array(ctx, p, item, base, path);
        break;
    }
}

/* Defaults are JSON text run through the same setters as the file, so a
 * default that breaks its own row's bounds shows up as a problem in every
 * load (and the tests). ctx NULL: such problems are logged. */
static void apply_defaults(const mtr_conf_table_t *t, void *base, mtr_conf_ctx_t *ctx)
{
    mtr_config_problems_t pr = {0};
    mtr_conf_ctx_t own = {&pr, 0, NULL};
    char path[PATH_MAX_LEN];
    for (size_t i = 0; i < t->n_props; i++) {
        const mtr_conf_prop_t *p = &t->props[i];
        if (!p->def)
            continue;
        cJSON *v = cJSON_Parse(p->def);
        mtr_conf_path(path, sizeof path, t->path, p->section, p->key);
        set_value(ctx ? ctx : &own, p, v, base, path);
        cJSON_Delete(v);
    }
    for (size_t i = 0; i < pr.count; i++)
        mtr_error("config", "built-in default of %s: %s", pr.items[i].path, pr.items[i].message);
    mtr_config_problems_free(&pr);
}

/* ---- walking an object ---------------------------------------------------- */

/* Optimal string alignment distance: insertions, deletions, substitutions
 * and swaps of neighbours ("nmae" is one step from "name"). */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return SIZE_MAX;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

static void unknown_key(mtr_conf_ctx_t *ctx, const mtr_conf_table_t *t, const char *section,
                        const char *key, const char *path)
{
    const char *cands[64];
    size_t nc = 0;
    for (size_t i = 0; i < t->n_props && nc < 64; i++) {
        const mtr_conf_prop_t *p = &t->props[i];
        const char *c = NULL;
        if (section)
            c = p->section && !strcmp(p->section, section) ? p->key : NULL;
        else
            c = p->section ? p->section : p->key;
        bool seen = false;
        for (size_t j = 0; c && j < nc; j++)
            seen |= !strcmp(cands[j], c);
        if (c && !seen)
            cands[nc++] = c;
    }
    size_t limit = strlen(key) <= 4 ? 1 : strlen(key) <= 9 ? 2 : 3, best = SIZE_MAX;
    const char *guess = NULL;
    for (size_t i = 0; i < nc; i++) {
        size_t d = edit_distance(key, cands[i]);
        if (d <= limit && d < best) {
            best = d;
            guess = cands[i];
        }
    }
    if (guess) {
        mtr_conf_problem(ctx, path, "unknown key \"%s\" (did you mean \"%s\"?)", key, guess);
        return;
    }
    /* The right key in the wrong section: point at where it belongs. */
    for (size_t i = 0; i < t->n_props; i++) {
        const mtr_conf_prop_t *p = &t->props[i];
        if (!strcmp(p->key, key) && p->section) {
            char where[PATH_MAX_LEN];
            mtr_conf_path(where, sizeof where, t->path, p->section, p->key);
            mtr_conf_problem(ctx, path, "unknown key \"%s\" (did you mean \"%s\"?)", key, where);
            return;
        }
    }
    char list[1024];
    size_t n = 0;
    list[0] = '\0';
    for (size_t i = 0; i < nc && n < sizeof list; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", cands[i]);
    mtr_conf_problem(ctx, path, "unknown key \"%s\" (expected one of: %s)", key, list);
}

static const mtr_conf_prop_t *find_prop(const mtr_conf_table_t *t, const char *section,
                                        const char *key)
{
    for (size_t i = 0; i < t->n_props; i++) {
        const mtr_conf_prop_t *p = &t->props[i];
        bool same_section = section ? p->section && !strcmp(p->section, section) : !p->section;
        if (same_section && !strcmp(p->key, key))
            return p;
    }
    return NULL;
}

static bool is_section(const mtr_conf_table_t *t, const char *name)
{
    for (size_t i = 0; i < t->n_props; i++)
        if (t->props[i].section && !strcmp(t->props[i].section, name))
            return true;
    return false;
}

/* cJSON keeps every copy of a repeated key; the file must say each once. */
static bool repeated_key(mtr_conf_ctx_t *ctx, const cJSON *obj, const cJSON *e, const char *path)
{
    for (const cJSON *prev = obj->child; prev != e; prev = prev->next)
        if (!strcmp(prev->string, e->string)) {
            mtr_conf_problem(ctx, path, "key appears more than once (keep one)");
            return true;
        }
    return false;
}

static void walk_section(mtr_conf_ctx_t *ctx, const mtr_conf_table_t *t, const cJSON *obj,
                         void *base, const char *parent)
{
    char path[PATH_MAX_LEN];
    mtr_conf_path(path, sizeof path, parent, NULL, obj->string);
    if (!cJSON_IsObject(obj)) {
        mtr_conf_problem(ctx, path, "expected an object, got %s", json_type(obj));
        return;
    }
    for (const cJSON *e = obj->child; e; e = e->next) {
        if (is_comment(e->string))
            continue;
        mtr_conf_path(path, sizeof path, parent, obj->string, e->string);
        if (repeated_key(ctx, obj, e, path))
            continue;
        const mtr_conf_prop_t *p = find_prop(t, obj->string, e->string);
        if (p)
            set_value(ctx, p, e, base, path);
        else
            unknown_key(ctx, t, obj->string, e->string, path);
    }
}

static void walk_object(mtr_conf_ctx_t *ctx, const mtr_conf_table_t *t, const cJSON *obj,
                        void *base, const char *path)
{
    if (!cJSON_IsObject(obj)) {
        mtr_conf_problem(ctx, path, "expected an object, got %s", json_type(obj));
        return;
    }
    char kp[PATH_MAX_LEN];
    for (const cJSON *e = obj->child; e; e = e->next) {
        if (is_comment(e->string))
            continue;
        mtr_conf_path(kp, sizeof kp, path, NULL, e->string);
        if (repeated_key(ctx, obj, e, kp))
            continue;
        const mtr_conf_prop_t *p = find_prop(t, NULL, e->string);
        if (p)
            set_value(ctx, p, e, base, kp);
        else if (is_section(t, e->string))
            walk_section(ctx, t, e, base, path);
        else
            unknown_key(ctx, t, NULL, e->string, kp);
    }
    for (size_t i = 0; i < t->n_props; i++) {
        const mtr_conf_prop_t *p = &t->props[i];
        if (!(p->flags & MTR_CONF_REQUIRED))
            continue;
        const cJSON *sec = p->section ? cJSON_GetObjectItemCaseSensitive(obj, p->section) : obj;
        if (sec && cJSON_IsObject(sec) && cJSON_GetObjectItemCaseSensitive(sec, p->key))
            continue;
        mtr_conf_path(kp, sizeof kp, path, p->section, p->key);
        mtr_conf_problem(ctx, kp, "required key is missing: %s", p->desc);
    }
}

/* ---- environment overrides -------------------------------------------------- */

/* An empty variable counts as unset, so `VAR= meterd ...` restores the file's
 * value instead of failing on an empty string. */
static const char *env_value(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static void apply_env(mtr_conf_ctx_t *ctx, mtr_config_t *config)
{
    char path[PATH_MAX_LEN];
    for (size_t i = 0; i < mtr_conf_root.n_props; i++) {
        const mtr_conf_prop_t *p = &mtr_conf_root.props[i];
        mtr_conf_path(path, sizeof path, NULL, p->section, p->key);
        const char *v = p->env ? env_value(p->env) : NULL;
        if (v) {
            cJSON *item = NULL;
            if (p->type == MTR_CONF_INT || p->type == MTR_CONF_DOUBLE) {
                char *end;
                double d = strtod(v, &end);
                item = *end || end == v ? cJSON_CreateString(v) : cJSON_CreateNumber(d);
            } else if (p->type == MTR_CONF_BOOL && (!strcmp(v, "true") || !strcmp(v, "false"))) {
                item = cJSON_CreateBool(!strcmp(v, "true"));
            } else {
                item = cJSON_CreateString(v);
            }
            ctx->origin = p->env;
            set_value(ctx, p, item, config, path);
            ctx->origin = NULL;
            cJSON_Delete(item);
        }
        for (const mtr_conf_map_env_t *me = p->map_env; me && me->env; me++) {
            const char *mv = env_value(me->env);
            if (!mv)
                continue;
            char ep[PATH_MAX_LEN];
            mtr_conf_path(ep, sizeof ep, path, NULL, me->map_key);
            map_put(p, config, me->map_key, mv);
            ctx->origin = me->env;
            check_map_entry(ctx, p, config, me->map_key, ep);
            ctx->origin = NULL;
        }
    }
}

/* ---- loading -------------------------------------------------------------- */

static void parse_error(mtr_conf_ctx_t *ctx, const char *json, size_t len, const char *at_)
{
    size_t off = at_ && at_ >= json && at_ <= json + len ? (size_t)(at_ - json) : 0;
    int line = 1, col = 1;
    for (size_t i = 0; i < off; i++) {
        if (json[i] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    if (off < len && json[off] == '\0') {
        mtr_conf_problem(ctx, "", "not valid JSON: NUL byte at line %d, column %d", line, col);
        return;
    }
    size_t rest = off;
    while (rest < len && strchr(" \t\r\n", json[rest]))
        rest++;
    if (rest >= len) {
        mtr_conf_problem(ctx, "",
                         "not valid JSON: unexpected end of the file at line %d, column %d "
                         "(a closing brace, bracket or quote is missing)",
                         line, col);
        return;
    }
    char near[32];
    size_t n = 0;
    for (size_t i = off; i < len && n < 20 && json[i] != '\n' && json[i] != '\r'; i++)
        near[n++] = (unsigned char)json[i] < 0x20 ? '?' : json[i];
    near[n] = '\0';
    mtr_conf_problem(ctx, "",
                     "not valid JSON: syntax error at line %d, column %d, before: %s (check for "
                     "a missing comma or quote, or a trailing comma)",
                     line, col, near);
}

static void first_problem(const mtr_config_problems_t *pr, char *errstr, size_t errstr_size)
{
    const mtr_config_problem_t *p = &pr->items[0];
    char more[48] = "";
    if (pr->count > 1)
        snprintf(more, sizeof more, " (and %zu more problem%s)", pr->count - 1,
                 pr->count == 2 ? "" : "s");
    mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG, "config: %s%s%s%s", p->path,
                *p->path ? ": " : "", p->message, more);
}

static mtr_err_t finish(mtr_err_t err, mtr_config_problems_t *pr, mtr_config_problems_t *out,
                        char *errstr, size_t errstr_size)
{
    if (pr->count)
        first_problem(pr, errstr, errstr_size);
    if (out)
        *out = *pr;
    else
        mtr_config_problems_free(pr);
    return err;
}

static mtr_err_t load_buffer(const char *json, size_t len, mtr_config_t **out,
                             mtr_config_problems_t *problems, char *errstr, size_t errstr_size)
{
    mtr_config_problems_t pr = {0};
    mtr_conf_ctx_t ctx = {&pr, 0, NULL};
    *out = NULL;
    const char *end = NULL;
    const char *nul = memchr(json, '\0', len);
    /* The length includes the terminating NUL: cJSON wants to see it to
     * reject trailing text after the top-level value. */
    cJSON *root = nul ? NULL : cJSON_ParseWithLengthOpts(json, len + 1, &end, true);
    if (!root) {
        parse_error(&ctx, json, len, nul ? nul : end);
        return finish(MTR_ERR_PARSE, &pr, problems, errstr, errstr_size);
    }
    mtr_config_t *config = mtr_calloc(1, sizeof *config);
    apply_defaults(&mtr_conf_root, config, &ctx);
    if (!cJSON_IsObject(root))
        mtr_conf_problem(&ctx, "", "expected a JSON object at the top level, got %s",
                         json_type(root));
    else
        walk_object(&ctx, &mtr_conf_root, root, config, "");
    cJSON_Delete(root);
    apply_env(&ctx, config);
    mtr_conf_derive(config);
    mtr_conf_check_whole(&ctx, config);
    if (pr.count) {
        mtr_config_free(config);
        return finish(MTR_ERR_CONFIG, &pr, problems, errstr, errstr_size);
    }
    *out = config;
    return finish(MTR_OK, &pr, problems, errstr, errstr_size);
}

mtr_err_t mtr_config_load_string(const char *json, mtr_config_t **out,
                                 mtr_config_problems_t *problems, char *errstr, size_t errstr_size)
{
    return load_buffer(json, strlen(json), out, problems, errstr, errstr_size);
}

mtr_err_t mtr_config_load(const char *path, mtr_config_t **out, mtr_config_problems_t *problems,
                          char *errstr, size_t errstr_size)
{
    mtr_config_problems_t pr = {0};
    mtr_conf_ctx_t ctx = {&pr, 0, NULL};
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        mtr_conf_problem(&ctx, "", "cannot read the config file: %s", strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        mtr_conf_problem(&ctx, "", "cannot read the config file: not a regular file");
    } else if ((size_t)st.st_size > MAX_FILE_BYTES) {
        mtr_conf_problem(&ctx, "", "config file is %lld bytes; the limit is %u",
                         (long long)st.st_size, MAX_FILE_BYTES);
    }
    if (pr.count) {
        if (fd >= 0)
            close(fd);
        return finish(MTR_ERR_IO, &pr, problems, errstr, errstr_size);
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *buf = mtr_malloc(size + 1);
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    int read_errno = errno;
    close(fd);
    if (got < size) {
        mtr_free(buf);
        mtr_conf_problem(&ctx, "", "cannot read the config file: %s", strerror(read_errno));
        return finish(MTR_ERR_IO, &pr, problems, errstr, errstr_size);
    }
    buf[size] = '\0';
    mtr_err_t err = load_buffer(buf, size, out, problems, errstr, errstr_size);
    mtr_free(buf);
    return err;
}

mtr_config_t *mtr_config_defaults(void)
{
    mtr_config_t *config = mtr_calloc(1, sizeof *config);
    apply_defaults(&mtr_conf_root, config, NULL);
    mtr_conf_derive(config);
    return config;
}

void mtr_config_free(mtr_config_t *config)
{
    if (!config)
        return;
    free_table(&mtr_conf_root, config);
    mtr_free(config);
}

const mtr_product_conf_t *mtr_config_product(const mtr_config_t *config, const char *code)
{
    for (size_t i = 0; i < config->n_products; i++)
        if (!strcmp(config->products[i].product_code, code))
            return &config->products[i];
    return NULL;
}

const mtr_dimension_conf_t *mtr_config_dimension(const mtr_product_conf_t *product,
                                                 const char *name)
{
    for (size_t i = 0; i < product->n_dimensions; i++)
        if (!strcmp(product->dimensions[i].name, name))
            return &product->dimensions[i];
    return NULL;
}
