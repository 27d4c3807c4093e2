/* Parsing of raw HTTP/1.1 request text into mtr_http_request_t. */
#include "emit/http_request.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"

static bool next_line(const char *data, size_t len, size_t *pos, const char **line,
                      size_t *line_len)
{
    if (*pos >= len)
        return false;
    const char *start = data + *pos;
    const char *nl = memchr(start, '\n', len - *pos);
    size_t l = nl ? (size_t)(nl - start) : len - *pos;
    *pos += l + (nl ? 1 : 0);
    if (l && start[l - 1] == '\r')
        l--;
    *line = start;
    *line_len = l;
    return true;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static char *trimmed_dup(const char *s, size_t len)
{
    while (len && is_ws(*s))
        s++, len--;
    while (len && is_ws(s[len - 1]))
        len--;
    return mtr_strndup(s, len);
}

void mtr_http_request_add_header(mtr_http_request_t *req, const char *name, const char *value)
{
    req->headers = mtr_realloc(req->headers, (req->n_headers + 1) * sizeof *req->headers);
    req->headers[req->n_headers].name = mtr_strdup(name);
    req->headers[req->n_headers].value = mtr_strdup(value);
    req->n_headers++;
}

void mtr_http_request_remove_header(mtr_http_request_t *req, const char *name)
{
    size_t kept = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        if (!strcasecmp(req->headers[i].name, name)) {
            mtr_free((char *)req->headers[i].name);
            mtr_free((char *)req->headers[i].value);
        } else {
            req->headers[kept++] = req->headers[i];
        }
    }
    req->n_headers = kept;
}

/* Joins a folded continuation line to the last header's value. */
static void append_folded(mtr_http_request_t *req, const char *line, size_t len)
{
    mtr_http_header_t *h = &req->headers[req->n_headers - 1];
    char *more = trimmed_dup(line, len);
    if (*more) {
        size_t a = strlen(h->value), b = strlen(more);
        char *v = mtr_malloc(a + b + 2);
        memcpy(v, h->value, a);
        v[a] = a ? ' ' : '\0';
        memcpy(v + a + (a ? 1 : 0), more, b + 1);
        mtr_free((char *)h->value);
        h->value = v;
    }
    mtr_free(more);
}

static mtr_err_t parse_request_line(const char *line, size_t len, mtr_http_request_t *out,
                                    char *errstr, size_t errstr_size)
{
    const char *sp1 = memchr(line, ' ', len);
    const char *sp2 = NULL;
    for (size_t i = len; i > 0; i--)
        if (line[i - 1] == ' ') {
            sp2 = line + i - 1;
            break;
        }
    if (!sp1 || sp1 == sp2 || sp1 == line || sp2 + 1 == line + len || strncmp(sp2 + 1, "HTTP/", 5))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                           "request line 1: expected \"METHOD TARGET HTTP/1.1\", got \"%.*s\"",
                           (int)(len > 80 ? 80 : len), line);
    const char *target = sp1 + 1;
    size_t tlen = (size_t)(sp2 - target);
    if (!tlen || target[0] != '/')
        return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                           "request line 1: the target must start with '/'");
    out->method = mtr_strndup(line, (size_t)(sp1 - line));
    out->version = mtr_strndup(sp2 + 1, (size_t)(line + len - sp2 - 1));
    const char *q = memchr(target, '?', tlen);
    out->path = mtr_strndup(target, q ? (size_t)(q - target) : tlen);
    out->query = q ? mtr_strndup(q + 1, (size_t)(target + tlen - q - 1)) : mtr_strdup("");
    return MTR_OK;
}

mtr_err_t mtr_http_request_parse(const char *data, size_t len, mtr_http_request_t *out,
                                 char *errstr, size_t errstr_size)
{
    *out = (mtr_http_request_t){0};
    size_t pos = 0, line_len = 0;
    const char *line = NULL;
    mtr_err_t err;
    if (!next_line(data, len, &pos, &line, &line_len) || !line_len) {
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                          "request: empty, expected \"METHOD TARGET HTTP/1.1\" on line 1");
        goto fail;
    }
    if (memchr(line, '\0', line_len)) {
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE, "request line 1: NUL byte");
        goto fail;
    }
    if ((err = parse_request_line(line, line_len, out, errstr, errstr_size)) != MTR_OK)
        goto fail;
    size_t lineno = 1;
    bool blank_seen = false;
    while (next_line(data, len, &pos, &line, &line_len)) {
        lineno++;
        if (!line_len) {
            blank_seen = true;
            break;
        }
        if (memchr(line, '\0', line_len)) {
            err = mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE, "request line %zu: NUL byte",
                              lineno);
            goto fail;
        }
        if (is_ws(line[0])) {
            if (!out->n_headers) {
                err = mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                                  "request line %zu: continuation line before any header", lineno);
                goto fail;
            }
            append_folded(out, line, line_len);
            continue;
        }
        const char *colon = memchr(line, ':', line_len);
        bool bad_name = !colon || colon == line;
        for (const char *p = line; !bad_name && p < colon; p++)
            bad_name = is_ws(*p);
        if (bad_name) {
            err = mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                              "request line %zu: expected \"Name: value\", got \"%.*s\"", lineno,
                              (int)(line_len > 80 ? 80 : line_len), line);
            goto fail;
        }
        char *name = mtr_strndup(line, (size_t)(colon - line));
        char *value = trimmed_dup(colon + 1, (size_t)(line + line_len - colon - 1));
        mtr_http_request_add_header(out, name, value);
        mtr_free(name);
        mtr_free(value);
    }
    size_t body_len = blank_seen ? len - pos : 0;
    out->body = mtr_malloc(body_len + 1);
    if (body_len)
        memcpy(out->body, data + pos, body_len);
    out->body[body_len] = '\0';
    out->body_len = body_len;
    return MTR_OK;
fail:
    mtr_http_request_free(out);
    return err;
}

mtr_err_t mtr_http_request_read_file(const char *path, mtr_http_request_t *out, char *errstr,
                                     size_t errstr_size)
{
    *out = (mtr_http_request_t){0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_IO, "%s: cannot open: %s", path,
                           strerror(errno));
    size_t cap = 4096, len = 0;
    char *data = mtr_malloc(cap);
    size_t n;
    while ((n = fread(data + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap)
            data = mtr_realloc(data, cap *= 2);
    }
    bool read_error = ferror(f);
    fclose(f);
    if (read_error) {
        mtr_free(data);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_IO, "%s: read error", path);
    }
    char why[256];
    mtr_err_t err = mtr_http_request_parse(data, len, out, why, sizeof why);
    mtr_free(data);
    if (err != MTR_OK)
        return mtr_err_set(errstr, errstr_size, err, "%s: %s", path, why);
    return MTR_OK;
}

mtr_sigv4_request_t mtr_http_request_view(const mtr_http_request_t *req)
{
    return (mtr_sigv4_request_t){.method = req->method,
                                 .path = req->path,
                                 .query = req->query,
                                 .headers = req->headers,
                                 .n_headers = req->n_headers,
                                 .body = req->body,
                                 .body_len = req->body_len};
}

void mtr_http_request_free(mtr_http_request_t *req)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        mtr_free((char *)req->headers[i].name);
        mtr_free((char *)req->headers[i].value);
    }
    mtr_free(req->headers);
    mtr_free(req->method);
    mtr_free(req->path);
    mtr_free(req->query);
    mtr_free(req->version);
    mtr_free(req->body);
    *req = (mtr_http_request_t){0};
}
