/* Runs SigV4 test-suite style cases: context JSON + raw request -> stages. */
#include "emit/sigv4_case.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "core/mem.h"
#include "emit/sigv4.h"
#include "emit/sigv4_int.h"

static mtr_err_t read_all(const char *path, char **data, char *errstr, size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_IO, "%s: cannot open: %s", path,
                           strerror(errno));
    mtr_sigv4_buf_t b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        mtr_sigv4_buf_put(&b, chunk, n);
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        mtr_free(b.p);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_IO, "%s: read error", path);
    }
    *data = mtr_sigv4_buf_take(&b);
    return MTR_OK;
}

static const char *json_string(const cJSON *obj, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Optional boolean: absent keeps the default, any other type is an error. */
static bool json_bool(const cJSON *obj, const char *name, bool dflt, bool *ok)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v)
        return dflt;
    if (!cJSON_IsBool(v))
        *ok = false;
    return cJSON_IsTrue(v);
}

/* "2015-08-30T12:36:00Z" -> "20150830T123600Z". */
static bool iso_to_amz_date(const char *iso, char out[17])
{
    static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
    if (strlen(iso) != sizeof shape - 1)
        return false;
    size_t n = 0;
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd') {
            if (iso[i] < '0' || iso[i] > '9')
                return false;
            out[n++] = iso[i];
        } else if (iso[i] != shape[i]) {
            return false;
        } else if (shape[i] == 'T' || shape[i] == 'Z') {
            out[n++] = iso[i];
        }
    }
    out[n] = '\0';
    int64_t ms;
    return mtr_sigv4_parse_amz_date(out, &ms) == MTR_OK;
}

mtr_err_t mtr_sigv4_context_parse(const char *json, mtr_sigv4_context_t *ctx, char *errstr,
                                  size_t errstr_size)
{
    *ctx = (mtr_sigv4_context_t){0};
    cJSON *root = cJSON_Parse(json);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                           "context: not a JSON object (expected the signing test suite's "
                           "context.json format)");
    }
    mtr_err_t err = MTR_OK;
    const cJSON *creds = cJSON_GetObjectItemCaseSensitive(root, "credentials");
    const char *akid = json_string(creds, "access_key_id");
    const char *secret = json_string(creds, "secret_access_key");
    const char *region = json_string(root, "region");
    const char *service = json_string(root, "service");
    const char *ts = json_string(root, "timestamp");
    const cJSON *token = cJSON_GetObjectItemCaseSensitive(creds, "token");
    const cJSON *exp = cJSON_GetObjectItemCaseSensitive(root, "expiration_in_seconds");
    bool ok = true;
    if (!cJSON_IsObject(creds) || !akid || !*akid || !secret || !*secret) {
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                          "context: credentials.access_key_id and "
                          "credentials.secret_access_key must be non-empty strings");
    } else if (token && !cJSON_IsString(token)) {
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                          "context: credentials.token must be a string");
    } else if (!region || !*region || !service || !*service) {
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                          "context: region and service must be non-empty strings");
    } else if (!ts || !iso_to_amz_date(ts, ctx->amz_date)) {
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                          "context: timestamp must be a string like \"2015-08-30T12:36:00Z\"");
    } else if (exp && (!cJSON_IsNumber(exp) || exp->valuedouble < 1)) {
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                          "context: expiration_in_seconds must be a positive number");
    } else {
        ctx->normalize = json_bool(root, "normalize", true, &ok);
        ctx->sign_body = json_bool(root, "sign_body", false, &ok);
        ctx->omit_session_token = json_bool(root, "omit_session_token", false, &ok);
        if (!ok)
            err = mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                              "context: normalize, sign_body and omit_session_token must be "
                              "true or false");
    }
    if (err == MTR_OK) {
        ctx->access_key_id = mtr_strdup(akid);
        ctx->secret_access_key = mtr_strdup(secret);
        ctx->session_token = token && *token->valuestring ? mtr_strdup(token->valuestring) : NULL;
        ctx->region = mtr_strdup(region);
        ctx->service = mtr_strdup(service);
        ctx->expiration_s = exp ? (int64_t)exp->valuedouble : 3600;
    }
    cJSON_Delete(root);
    return err;
}

mtr_err_t mtr_sigv4_context_read_file(const char *path, mtr_sigv4_context_t *ctx, char *errstr,
                                      size_t errstr_size)
{
    *ctx = (mtr_sigv4_context_t){0};
    char *json = NULL;
    mtr_err_t err = read_all(path, &json, errstr, errstr_size);
    if (err != MTR_OK)
        return err;
    char why[256];
    err = mtr_sigv4_context_parse(json, ctx, why, sizeof why);
    OPENSSL_cleanse(json, strlen(json));
    mtr_free(json);
    if (err != MTR_OK)
        return mtr_err_set(errstr, errstr_size, err, "%s: %s", path, why);
    return MTR_OK;
}

void mtr_sigv4_context_free(mtr_sigv4_context_t *ctx)
{
    if (ctx->secret_access_key)
        OPENSSL_cleanse(ctx->secret_access_key, strlen(ctx->secret_access_key));
    mtr_free(ctx->access_key_id);
    mtr_free(ctx->secret_access_key);
    mtr_free(ctx->session_token);
    mtr_free(ctx->region);
    mtr_free(ctx->service);
    *ctx = (mtr_sigv4_context_t){0};
}

static void copy_request(const mtr_http_request_t *in, mtr_http_request_t *out)
{
    *out = (mtr_http_request_t){0};
    out->method = mtr_strdup(in->method);
    out->path = mtr_strdup(in->path);
    out->query = mtr_strdup(in->query ? in->query : "");
    out->version = mtr_strdup(in->version ? in->version : "HTTP/1.1");
    for (size_t i = 0; i < in->n_headers; i++)
        mtr_http_request_add_header(out, in->headers[i].name, in->headers[i].value);
    out->body = mtr_malloc(in->body_len + 1);
    if (in->body_len)
        memcpy(out->body, in->body, in->body_len);
    out->body[in->body_len] = '\0';
    out->body_len = in->body_len;
}

static char *render(const mtr_http_request_t *r, const char *authorization)
{
    mtr_sigv4_buf_t b = {0};
    mtr_sigv4_buf_puts(&b, r->method);
    mtr_sigv4_buf_putc(&b, ' ');
    mtr_sigv4_buf_puts(&b, r->path);
    if (*r->query) {
        mtr_sigv4_buf_putc(&b, '?');
        mtr_sigv4_buf_puts(&b, r->query);
    }
    mtr_sigv4_buf_putc(&b, ' ');
    mtr_sigv4_buf_puts(&b, r->version);
    mtr_sigv4_buf_putc(&b, '\n');
    for (size_t i = 0; i < r->n_headers; i++) {
        mtr_sigv4_buf_puts(&b, r->headers[i].name);
        mtr_sigv4_buf_putc(&b, ':');
        mtr_sigv4_buf_puts(&b, r->headers[i].value);
        mtr_sigv4_buf_putc(&b, '\n');
    }
    if (authorization) {
        mtr_sigv4_buf_puts(&b, "Authorization:");
        mtr_sigv4_buf_puts(&b, authorization);
        mtr_sigv4_buf_putc(&b, '\n');
    }
    mtr_sigv4_buf_putc(&b, '\n');
    mtr_sigv4_buf_put(&b, r->body, r->body_len);
    return mtr_sigv4_buf_take(&b);
}

static void append_query(mtr_http_request_t *r, const char *key, const char *raw_value)
{
    mtr_sigv4_buf_t b = {0};
    mtr_sigv4_buf_puts(&b, r->query);
    if (*r->query)
        mtr_sigv4_buf_putc(&b, '&');
    mtr_sigv4_buf_puts(&b, key);
    mtr_sigv4_buf_putc(&b, '=');
    char *enc = mtr_sigv4_uri_encode(raw_value, strlen(raw_value), false);
    mtr_sigv4_buf_puts(&b, enc);
    mtr_free(enc);
    mtr_free(r->query);
    r->query = mtr_sigv4_buf_take(&b);
}

/* Query mode: the signed headers are the request's own, listed in
 * X-Amz-SignedHeaders before the canonical request is built. */
static void add_query_auth(const mtr_sigv4_context_t *ctx, mtr_http_request_t *r,
                           const mtr_sigv4_params_t *params, bool with_token)
{
    mtr_sigv4_request_t view = mtr_http_request_view(r);
    char *canonical = NULL, *names = NULL;
    mtr_sigv4_canonical_request_opts(&view, ctx->normalize, &canonical, &names, NULL, 0);
    mtr_sigv4_buf_t cred = {0};
    mtr_sigv4_buf_puts(&cred, ctx->access_key_id);
    mtr_sigv4_buf_putc(&cred, '/');
    mtr_sigv4_buf_put(&cred, params->amz_date, 8);
    mtr_sigv4_buf_putc(&cred, '/');
    mtr_sigv4_buf_puts(&cred, params->region);
    mtr_sigv4_buf_putc(&cred, '/');
    mtr_sigv4_buf_puts(&cred, params->service);
    mtr_sigv4_buf_puts(&cred, "/aws4_request");
    char *credential = mtr_sigv4_buf_take(&cred);
    char expires[24];
    snprintf(expires, sizeof expires, "%lld", (long long)ctx->expiration_s);
    append_query(r, "X-Amz-Algorithm", "AWS4-HMAC-SHA256");
    append_query(r, "X-Amz-Credential", credential);
    append_query(r, "X-Amz-Date", params->amz_date);
    append_query(r, "X-Amz-SignedHeaders", names);
    append_query(r, "X-Amz-Expires", expires);
    if (with_token)
        append_query(r, "X-Amz-Security-Token", ctx->session_token);
    mtr_free(canonical);
    mtr_free(names);
    mtr_free(credential);
}

mtr_err_t mtr_sigv4_case_run(const mtr_sigv4_context_t *ctx, const mtr_http_request_t *req,
                             mtr_sigv4_mode_t mode, mtr_sigv4_stages_t *out, char *errstr,
                             size_t errstr_size)
{
    *out = (mtr_sigv4_stages_t){0};
    mtr_sigv4_params_t params = {
        .region = ctx->region, .service = ctx->service, .amz_date = ctx->amz_date};
    bool sign_token = ctx->session_token && !ctx->omit_session_token;
    mtr_http_request_t r;
    copy_request(req, &r);
    if (mode == MTR_SIGV4_MODE_HEADER) {
        mtr_http_request_remove_header(&r, "authorization");
        mtr_http_request_remove_header(&r, "x-amz-date");
        if (sign_token) {
            mtr_http_request_remove_header(&r, "x-amz-security-token");
            mtr_http_request_add_header(&r, "X-Amz-Security-Token", ctx->session_token);
        }
        mtr_http_request_add_header(&r, "X-Amz-Date", ctx->amz_date);
        if (ctx->sign_body) {
            char hex[65];
            mtr_sigv4_sha256_hex(r.body, r.body_len, hex);
            mtr_http_request_remove_header(&r, "x-amz-content-sha256");
            mtr_http_request_add_header(&r, "x-amz-content-sha256", hex);
        }
    } else {
        add_query_auth(ctx, &r, &params, sign_token);
    }

    mtr_sigv4_request_t view = mtr_http_request_view(&r);
    char *names = NULL;
    mtr_err_t err = mtr_sigv4_canonical_request_opts(&view, ctx->normalize, &out->canonical_request,
                                                     &names, errstr, errstr_size);
    if (err != MTR_OK) {
        mtr_http_request_free(&r);
        return err;
    }
    out->string_to_sign = mtr_sigv4_string_to_sign(out->canonical_request, &params);
    uint8_t key[32];
    mtr_sigv4_signing_key(ctx->secret_access_key, &params, key);
    mtr_sigv4_signature(key, out->string_to_sign, out->signature);
    OPENSSL_cleanse(key, sizeof key);

    if (mode == MTR_SIGV4_MODE_HEADER) {
        out->authorization =
            mtr_sigv4_authorization(ctx->access_key_id, &params, names, out->signature);
        if (ctx->session_token && !sign_token)
            mtr_http_request_add_header(&r, "X-Amz-Security-Token", ctx->session_token);
        out->signed_request = render(&r, out->authorization);
    } else {
        append_query(&r, "X-Amz-Signature", out->signature);
        if (ctx->session_token && !sign_token)
            append_query(&r, "X-Amz-Security-Token", ctx->session_token);
        out->signed_request = render(&r, NULL);
    }
    mtr_free(names);
    mtr_http_request_free(&r);
    return MTR_OK;
}

void mtr_sigv4_stages_free(mtr_sigv4_stages_t *st)
{
    mtr_free(st->canonical_request);
    mtr_free(st->string_to_sign);
    mtr_free(st->authorization);
    mtr_free(st->signed_request);
    *st = (mtr_sigv4_stages_t){0};
}
