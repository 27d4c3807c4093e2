/* The configuration loader: applies defaults, then the file (walked by
 * config_walk.c), then environment overrides, then the checks that span
 * several keys, and collects every problem with its JSON path rather than
 * stopping at the first. Also owns freeing the struct and lookups. */
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
