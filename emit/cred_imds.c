/* Credentials of the instance profile from EC2 instance metadata, IMDSv2
 * only: a session token from PUT /latest/api/token, then the role name and
 * the role's credentials with that token. There is no IMDSv1 fallback (an
 * instance that allows only v2 is the safe setting).
 *
 * Timeouts are short (1 s by default) because this provider is last in the
 * chain and is tried on hosts that are not EC2 instances at all; failing to
 * reach the service counts as "not configured". */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"
#include "emit/cred_int.h"

#define TOKEN_TTL_SECONDS "21600"
#define CREDS_PATH        "/latest/meta-data/iam/security-credentials/"

typedef struct imds_provider {
    mtr_cred_provider_t base;
    const mtr_cred_ctx_t *ctx;
} imds_provider_t;

static mtr_err_t status_error(const char *what, long status, char *errstr, size_t errstr_size)
{
    mtr_err_t err = status == 401 || status == 403 ? MTR_ERR_AUTH
                    : status == 429                ? MTR_ERR_THROTTLED
                    : status >= 500                ? MTR_ERR_SERVER
                                                   : MTR_ERR_REJECTED;
    return mtr_err_set(errstr, errstr_size, err, "%s answered HTTP %ld", what, status);
}

/* One IMDS request; on HTTP 200 *resp holds the answer. */
static mtr_err_t imds_call(const mtr_cred_ctx_t *ctx, const char *method, const char *path,
                           const mtr_http_header_t *hdr, mtr_http_response_t *resp, char *errstr,
                           size_t errstr_size)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", ctx->imds_endpoint, path);
    mtr_http_client_request_t req = {.method = method,
                                     .url = url,
                                     .headers = hdr,
                                     .n_headers = 1,
                                     .connect_timeout_ms = ctx->imds_timeout_ms,
                                     .timeout_ms = ctx->imds_timeout_ms,
                                     .no_proxy = true};
    char terr[400];
    mtr_err_t err = mtr_http_client_send(ctx->http, &req, resp, terr, sizeof terr);
    if (err != MTR_OK)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_NOT_FOUND,
                           "no instance metadata service (not an EC2 instance, or the hop limit "
                           "is too low for a container): %s",
                           terr);
    if (resp->status != 200) {
        char what[600];
        snprintf(what, sizeof what, "%s %s", method, url);
        err = resp->status == 404 && strcmp(path, CREDS_PATH) == 0
                  ? mtr_err_set(errstr, errstr_size, MTR_ERR_NOT_FOUND,
                                "no IAM role attached to this instance; attach an instance "
                                "profile")
                  : status_error(what, resp->status, errstr, errstr_size);
        mtr_http_response_clear(resp);
    }
    return err;
}

static bool role_name_ok(const char *s)
{
    if (!*s || strlen(s) > 128)
        return false;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
              strchr("+=,.@_-", *s)))
            return false;
    return true;
}

static const char *imds_name(mtr_cred_provider_t *p)
{
    (void)p;
    return "EC2 instance metadata";
}

static mtr_err_t imds_resolve(mtr_cred_provider_t *p, mtr_credentials_t *out, char *errstr,
                              size_t errstr_size)
{
    const mtr_cred_ctx_t *ctx = ((imds_provider_t *)p)->ctx;
    const char *disabled = ctx->env.ec2_metadata_disabled;
    if (disabled && strcasecmp(disabled, "true") == 0)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_NOT_FOUND,
                           "disabled by AWS_EC2_METADATA_DISABLED");

    mtr_http_response_t resp;
    mtr_http_header_t ttl = {"X-aws-ec2-metadata-token-ttl-seconds", TOKEN_TTL_SECONDS};
    mtr_err_t err = imds_call(ctx, "PUT", "/latest/api/token", &ttl, &resp, errstr, errstr_size);
    if (err != MTR_OK)
        return err;
    char *token = mtr_strdup(mtr_cred_trim(resp.body));
    mtr_http_response_clear(&resp);
    if (!*token || strpbrk(token, "\r\n")) {
        mtr_cred_free_secret(token);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                           "IMDS answered an unusable session token");
    }
    mtr_http_header_t auth = {"X-aws-ec2-metadata-token", token};

    err = imds_call(ctx, "GET", CREDS_PATH, &auth, &resp, errstr, errstr_size);
    if (err != MTR_OK) {
        mtr_cred_free_secret(token);
        return err;
    }
    /* One role per instance profile; the list is one name per line. */
    char *role = mtr_cred_trim(resp.body);
    role[strcspn(role, "\r\n")] = '\0';
    char path[256];
    if (!role_name_ok(role)) {
        err =
            mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE, "IMDS answered an unusable role name");
    } else {
        snprintf(path, sizeof path, "%s%s", CREDS_PATH, role);
    }
    mtr_http_response_clear(&resp);
    if (err == MTR_OK)
        err = imds_call(ctx, "GET", path, &auth, &resp, errstr, errstr_size);
    mtr_cred_free_secret(token);
    if (err != MTR_OK)
        return err;

    cJSON *doc = cJSON_Parse(resp.body);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(doc, "Code");
    if (cJSON_IsString(code) && strcmp(code->valuestring, "Success") != 0)
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_SERVER,
                          "IMDS credentials for %s have Code \"%.60s\"", path + strlen(CREDS_PATH),
                          code->valuestring);
    /* This tree holds the secret too; wipe it before it is freed. */
    for (cJSON *item = doc ? doc->child : NULL; item; item = item->next)
        if (cJSON_IsString(item))
            memset(item->valuestring, 0, strlen(item->valuestring));
    cJSON_Delete(doc);
    if (err == MTR_OK)
        err = mtr_cred_from_json(resp.body, "IMDS role credentials", out, errstr, errstr_size);
    memset(resp.body, 0, resp.body_len);
    mtr_http_response_clear(&resp);
    return err;
}

static void imds_destroy(mtr_cred_provider_t *p)
{
    mtr_free(p);
}

static const mtr_cred_provider_vtable_t imds_vtable = {imds_name, imds_resolve, imds_destroy};

mtr_cred_provider_t *mtr_cred_imds_new(const mtr_cred_ctx_t *ctx)
{
    imds_provider_t *p = mtr_calloc(1, sizeof *p);
    p->base.vt = &imds_vtable;
    p->ctx = ctx;
    return &p->base;
}
