/* The configuration loader: walks the property table of config_table.c over
 * a parsed JSON document, applying defaults, then the file, then environment
 * overrides, and collects every problem with its JSON path rather than
 * stopping at the first. Unknown keys get a did-you-mean. Also owns loading
 * and freeing the struct, lookups and duration parsing; what each value
 * means is config_value.c. */
#include "core/config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/config_int.h"
#include "core/log.h"
#include "core/mem.h"

#define MAX_FILE_BYTES (16u << 20)

/* ---- problems ------------------------------------------------------------- */

void mtr_conf_problem(mtr_conf_ctx_t *ctx, const char *path, const char *fmt, ...)
{
    mtr_config_problems_t *pr = ctx->problems;
    if (pr->count == ctx->cap) {
        ctx->cap = ctx->cap ? ctx->cap * 2 : 8;
        pr->items = mtr_realloc(pr->items, ctx->cap * sizeof *pr->items);
    }
    char msg[1024], where[MTR_CONF_PATH_MAX + 64];
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
        if (p)
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
    char path[MTR_CONF_PATH_MAX];
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
            mtr_conf_set_value(ctx, p, item, config, path);
            ctx->origin = NULL;
            cJSON_Delete(item);
        }
        for (const mtr_conf_map_env_t *me = p->map_env; me && me->env; me++) {
            const char *mv = env_value(me->env);
            if (!mv)
                continue;
            char ep[MTR_CONF_PATH_MAX];
            mtr_conf_path(ep, sizeof ep, path, NULL, me->map_key);
            ctx->origin = me->env;
            mtr_conf_map_set(ctx, p, config, me->map_key, mv, ep);
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
    mtr_conf_apply_defaults(&mtr_conf_root, config, &ctx);
    if (!cJSON_IsObject(root))
        mtr_conf_problem(&ctx, "", "expected a JSON object at the top level, got %s",
                         mtr_conf_json_type(root));
    else
        mtr_conf_walk_object(&ctx, &mtr_conf_root, root, config, "");
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
    mtr_conf_apply_defaults(&mtr_conf_root, config, NULL);
    mtr_conf_derive(config);
    return config;
}

void mtr_config_free(mtr_config_t *config)
{
    if (!config)
        return;
    mtr_conf_free_table(&mtr_conf_root, config);
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
