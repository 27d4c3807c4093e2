/* Walking the document: which table row each JSON key belongs to, arrays of
 * objects element by element, repeated, unknown (with a did-you-mean) and
 * missing required keys. What one value means is config_value.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/config_int.h"
#include "core/mem.h"

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
            char where[MTR_CONF_PATH_MAX];
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
                         void *base, const char *parent);
static void set_array(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item, void *base,
                      const char *path);

/* Sets each key of obj, an object: with section NULL, obj is the object t
 * describes and its keys are t's own properties or sections; otherwise obj
 * is that section of it. parent is the path of the object t describes. */
static void walk_keys(mtr_conf_ctx_t *ctx, const mtr_conf_table_t *t, const cJSON *obj, void *base,
                      const char *parent, const char *section)
{
    char path[MTR_CONF_PATH_MAX];
    for (const cJSON *e = obj->child; e; e = e->next) {
        if (mtr_conf_is_comment(e->string))
            continue;
        mtr_conf_path(path, sizeof path, parent, section, e->string);
        if (repeated_key(ctx, obj, e, path))
            continue;
        const mtr_conf_prop_t *p = find_prop(t, section, e->string);
        if (p && p->type == MTR_CONF_OBJECT_ARRAY)
            set_array(ctx, p, e, base, path);
        else if (p)
            mtr_conf_set_value(ctx, p, e, base, path);
        else if (!section && is_section(t, e->string))
            walk_section(ctx, t, e, base, parent);
        else
            unknown_key(ctx, t, section, e->string, path);
    }
}

static void walk_section(mtr_conf_ctx_t *ctx, const mtr_conf_table_t *t, const cJSON *obj,
                         void *base, const char *parent)
{
    char path[MTR_CONF_PATH_MAX];
    mtr_conf_path(path, sizeof path, parent, NULL, obj->string);
    if (!cJSON_IsObject(obj)) {
        mtr_conf_problem(ctx, path, "expected an object, got %s", mtr_conf_json_type(obj));
        return;
    }
    walk_keys(ctx, t, obj, base, parent, obj->string);
}

void mtr_conf_walk_object(mtr_conf_ctx_t *ctx, const mtr_conf_table_t *t, const cJSON *obj,
                          void *base, const char *path)
{
    if (!cJSON_IsObject(obj)) {
        mtr_conf_problem(ctx, path, "expected an object, got %s", mtr_conf_json_type(obj));
        return;
    }
    walk_keys(ctx, t, obj, base, path, NULL);
    char kp[MTR_CONF_PATH_MAX];
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

/* ---- arrays of objects --------------------------------------------------- */

/* "products" + 2 + "code" -> "products[2].code". A path longer than the cap
 * is cut: the problem still names where it starts. */
static void element_path(char *out, size_t size, const char *array, size_t i, const char *key)
{
    int w = snprintf(out, size, "%s[%zu]%s%s", array, i, key ? "." : "", key ? key : "");
    if (w < 0)
        out[0] = '\0';
}

/* Reports the second and later elements whose `unique` key repeats an
 * earlier element's. */
static void check_unique(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const char *elems, size_t n,
                         const char *path)
{
    size_t es = p->sub->elem_size;
    const mtr_conf_prop_t *u = NULL;
    for (size_t k = 0; k < p->sub->n_props; k++)
        if (!strcmp(p->sub->props[k].key, p->unique))
            u = &p->sub->props[k];
    char ep[MTR_CONF_PATH_MAX];
    for (size_t a = 0; u && a < n; a++) {
        const char *va = *(char *const *)(elems + a * es + u->offset);
        for (size_t b = 0; va && b < a; b++) {
            const char *vb = *(char *const *)(elems + b * es + u->offset);
            if (vb && !strcmp(va, vb)) {
                element_path(ep, sizeof ep, path, a, u->key);
                mtr_conf_problem(ctx, ep,
                                 "duplicate %s \"%s\" (already used by %s[%zu]; each "
                                 "must appear once)",
                                 u->key, va, path, b);
                break;
            }
        }
    }
}

/* Checks and allocates the array (config_value.c), then walks each element
 * as an object of the row's element table, its defaults first. */
static void set_array(mtr_conf_ctx_t *ctx, const mtr_conf_prop_t *p, const cJSON *item, void *base,
                      const char *path)
{
    size_t n;
    char *elems = mtr_conf_array_store(ctx, p, item, base, path, &n);
    if (!elems)
        return;
    size_t es = p->sub->elem_size;
    char ep[MTR_CONF_PATH_MAX];
    size_t i = 0;
    for (const cJSON *e = item->child; e; e = e->next, i++) {
        element_path(ep, sizeof ep, path, i, NULL);
        mtr_conf_apply_defaults(p->sub, elems + i * es, ctx);
        mtr_conf_walk_object(ctx, p->sub, e, elems + i * es, ep);
    }
    if (p->unique)
        check_unique(ctx, p, elems, n, path);
}
