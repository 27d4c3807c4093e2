/* Credentials from the container credentials endpoint: ECS
 * (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI, on 169.254.170.2) or a full URI
 * such as the EKS Pod Identity agent (AWS_CONTAINER_CREDENTIALS_FULL_URI),
 * with an Authorization token from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
 * (read on every fetch: it rotates; wins when both are set) or
 * AWS_CONTAINER_AUTHORIZATION_TOKEN.
 *
 * A full URI over plain http must point at this host (loopback) or at the
 * ECS/EKS link-local addresses, so that a tampered variable cannot send the
 * token and the credentials across a network in the clear. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"
#include "emit/cred_int.h"

#define MAX_TOKEN_BYTES (16 * 1024)

typedef struct container_provider {
    mtr_cred_provider_t base;
    const mtr_cred_ctx_t *ctx;
} container_provider_t;

/* Is an http (not https) full URI allowed? host is the URI's host part. */
static bool host_allowed(const char *host)
{
    if (strcasecmp(host, "localhost") == 0)
        return true;
    unsigned char a[16];
    if (inet_pton(AF_INET, host, a) == 1)
        return a[0] == 127 ||
               (a[0] == 169 && a[1] == 254 && a[2] == 170 && (a[3] == 2 || a[3] == 23));
    if (inet_pton(AF_INET6, host, a) == 1) {
        static const unsigned char loop6[16] = {[15] = 1};
        static const unsigned char eks6[16] = {0xfd, 0x00, 0x0e, 0xc2, [15] = 0x23};
        return memcmp(a, loop6, 16) == 0 || memcmp(a, eks6, 16) == 0;
    }
    return false;
}

static mtr_err_t check_full_uri(const char *uri, char *errstr, size_t errstr_size)
{
    if (strncasecmp(uri, "https://", 8) == 0)
        return MTR_OK;
    if (strncasecmp(uri, "http://", 7) != 0)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                           "AWS_CONTAINER_CREDENTIALS_FULL_URI \"%.200s\" is not an http(s) URL",
                           uri);
    const char *h = uri + 7;
    size_t n = strcspn(h, "/?#");
    char host[256];
    if (n == 0 || n >= sizeof host || memchr(h, '@', n))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                           "AWS_CONTAINER_CREDENTIALS_FULL_URI \"%.200s\" has no usable host", uri);
    memcpy(host, h, n);
    host[n] = '\0';
    if (host[0] == '[') {
        char *close = strchr(host, ']');
        if (!close)
            return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                               "AWS_CONTAINER_CREDENTIALS_FULL_URI \"%.200s\": bad IPv6 host", uri);
        *close = '\0';
        memmove(host, host + 1, strlen(host));
    } else {
        char *colon = strchr(host, ':');
        if (colon)
            *colon = '\0';
    }
    if (!host_allowed(host))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                           "AWS_CONTAINER_CREDENTIALS_FULL_URI host \"%s\" is not allowed over "
                           "http; use https, a loopback address, or 169.254.170.2, "
                           "169.254.170.23, [fd00:ec2::23]",
                           host);
    return MTR_OK;
}

/* The Authorization value into *token (caller frees), NULL when none. */
static mtr_err_t read_token(const mtr_cred_env_t *e, char **token, char *errstr, size_t errstr_size)
{
    *token = NULL;
    if (e->container_auth_token_file && *e->container_auth_token_file) {
        char *raw, ferr[256];
        mtr_err_t err = mtr_cred_read_file(e->container_auth_token_file, MAX_TOKEN_BYTES, &raw,
                                           NULL, ferr, sizeof ferr);
        if (err != MTR_OK)
            return mtr_err_set(errstr, errstr_size, err == MTR_ERR_NOT_FOUND ? MTR_ERR_CONFIG : err,
                               "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: %s", ferr);
        *token = mtr_strdup(mtr_cred_trim(raw));
        mtr_cred_free_secret(raw);
    } else if (e->container_auth_token && *e->container_auth_token) {
        *token = mtr_strdup(e->container_auth_token);
    }
    if (*token && strpbrk(*token, "\r\n")) {
        mtr_cred_free_secret(*token);
        *token = NULL;
        return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                           "the container authorization token has a line break in it");
    }
    return MTR_OK;
}

static mtr_err_t answer_error(const char *url, const mtr_http_response_t *resp, char *errstr,
                              size_t errstr_size)
{
    mtr_err_t err = resp->status == 401 || resp->status == 403 ? MTR_ERR_AUTH
                    : resp->status == 429                      ? MTR_ERR_THROTTLED
                    : resp->status >= 500                      ? MTR_ERR_SERVER
                                                               : MTR_ERR_REJECTED;
    /* ECS and the Pod Identity agent explain themselves in a JSON message. */
    char why[160] = "";
    cJSON *doc = cJSON_Parse(resp->body);
    const cJSON *m = cJSON_GetObjectItem(doc, "message");
    if (cJSON_IsString(m)) {
        snprintf(why, sizeof why, ": %s", m->valuestring);
        for (char *c = why; *c; c++)
            if ((unsigned char)*c < 0x20)
                *c = ' ';
    }
    cJSON_Delete(doc);
    return mtr_err_set(errstr, errstr_size, err, "%s answered HTTP %ld%s%s", url, resp->status, why,
                       err == MTR_ERR_AUTH ? " (check the container authorization token)" : "");
}

static const char *container_name(mtr_cred_provider_t *p)
{
    (void)p;
    return "container";
}

static mtr_err_t container_resolve(mtr_cred_provider_t *p, mtr_credentials_t *out, char *errstr,
                                   size_t errstr_size)
{
    const mtr_cred_ctx_t *ctx = ((container_provider_t *)p)->ctx;
    const mtr_cred_env_t *e = &ctx->env;
    char url[1024];
    if (e->container_relative_uri && *e->container_relative_uri) {
        snprintf(url, sizeof url, "%s%s%s", ctx->container_endpoint,
                 e->container_relative_uri[0] == '/' ? "" : "/", e->container_relative_uri);
    } else if (e->container_full_uri && *e->container_full_uri) {
        mtr_err_t err = check_full_uri(e->container_full_uri, errstr, errstr_size);
        if (err != MTR_OK)
            return err;
        snprintf(url, sizeof url, "%s", e->container_full_uri);
    } else {
        return mtr_err_set(errstr, errstr_size, MTR_ERR_NOT_FOUND,
                           "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                           "AWS_CONTAINER_CREDENTIALS_FULL_URI not set");
    }
    char *token;
    mtr_err_t err = read_token(e, &token, errstr, errstr_size);
    if (err != MTR_OK)
        return err;
    mtr_http_header_t auth = {"Authorization", token};
    mtr_http_client_request_t req = {.method = "GET",
                                     .url = url,
                                     .headers = &auth,
                                     .n_headers = token ? 1 : 0,
                                     .connect_timeout_ms = 2000,
                                     .timeout_ms = 5000,
                                     .no_proxy = true};
    mtr_http_response_t resp;
    err = mtr_http_client_send(ctx->http, &req, &resp, errstr, errstr_size);
    mtr_cred_free_secret(token);
    if (err != MTR_OK)
        return err;
    if (resp.status == 200)
        err = mtr_cred_from_json(resp.body, url, out, errstr, errstr_size);
    else
        err = answer_error(url, &resp, errstr, errstr_size);
    memset(resp.body, 0, resp.body_len);
    mtr_http_response_clear(&resp);
    return err;
}

static void container_destroy(mtr_cred_provider_t *p)
{
    mtr_free(p);
}

static const mtr_cred_provider_vtable_t container_vtable = {container_name, container_resolve,
                                                            container_destroy};

mtr_cred_provider_t *mtr_cred_container_new(const mtr_cred_ctx_t *ctx)
{
    container_provider_t *p = mtr_calloc(1, sizeof *p);
    p->base.vt = &container_vtable;
    p->ctx = ctx;
    return &p->base;
}
