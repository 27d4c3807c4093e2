/* Small pieces every part of the configuration module uses: collecting a
 * problem, JSON paths for messages, durations in both directions, JSON type
 * names, comment keys and which Kafka property names hold a secret. Nothing
 * here knows the property table. */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "core/config_int.h"
#include "core/mem.h"

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

/* ---- helpers shared with the loader ------------------------------------------ */

static bool is_plain_key(const char *key)
{
    if (!*key)
        return false;
    for (const char *p = key; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return false;
    return true;
}

void mtr_conf_path(char *out, size_t size, const char *parent, const char *section, const char *key)
{
    size_t n = 0;
    out[0] = '\0';
    const char *parts[] = {parent, section, key};
    for (int i = 0; i < 3; i++) {
        const char *s = parts[i];
        if (!s || !*s)
            continue;
        bool quote = i > 0 && !is_plain_key(s);
        int w = snprintf(out + n, size - n, "%s%s%s%s", n ? "." : "", quote ? "\"" : "", s,
                         quote ? "\"" : "");
        if (w < 0 || (size_t)w >= size - n)
            return;
        n += (size_t)w;
    }
}

void mtr_conf_format_duration(int64_t ms, char *out, size_t size)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};
    size_t n = 0;
    out[0] = '\0';
    if (ms == 0) {
        snprintf(out, size, "0s");
        return;
    }
    for (size_t i = 0; i < sizeof units / sizeof units[0] && ms > 0; i++) {
        /* Days read better than hours only from two days on: "24h", "7d". */
        if (ms < units[i].ms || (i == 0 && ms < 2 * units[0].ms))
            continue;
        int w = snprintf(out + n, size - n, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
        if (w < 0 || (size_t)w >= size - n)
            return;
        n += (size_t)w;
        ms %= units[i].ms;
    }
}

bool mtr_conf_key_is_secret(const char *key)
{
    static const char *const words[] = {"password", "secret", "token", "key"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcasestr(key, words[i]))
            return true;
    return false;
}

/* ---- JSON --------------------------------------------------------------- */

const char *mtr_conf_json_type(const cJSON *item)
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

bool mtr_conf_is_comment(const char *key)
{
    return key[0] == '/' && key[1] == '/';
}
