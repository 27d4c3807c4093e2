/* Credentials from STS AssumeRoleWithWebIdentity (EKS IRSA): the token file
 * is read on every fetch (the kubelet rotates it), POSTed unsigned to STS
 * as a form, and the XML answer is picked apart with a small tag
 * extractor (leaf elements only, the five XML entities and numeric
 * references decoded). Error answers map STS's <Code> into the message. */
#include <stdio.h>
#include <string.h>

#include "core/mem.h"
#include "emit/cred_int.h"

#define MAX_TOKEN_BYTES (64 * 1024)

typedef struct web_identity_provider {
    mtr_cred_provider_t base;
    const mtr_cred_ctx_t *ctx;
} web_identity_provider_t;

/* ---- XML --------------------------------------------------------------- */

/* Finds <name ...>content</name> in [begin, end); sets the content range. */
static bool xml_element(const char *begin, const char *end, const char *name, const char **cb,
                        const char **ce)
{
    size_t n = strlen(name);
    for (const char *p = begin; p + n + 2 <= end; p++) {
        p = memchr(p, '<', (size_t)(end - p));
        if (!p || p + n + 2 > end)
            return false;
        if (memcmp(p + 1, name, n) != 0)
            continue;
        char after = p[n + 1];
        if (after != '>' && after != ' ' && after != '\t' && after != '\r' && after != '\n')
            continue;
        const char *open_end = memchr(p, '>', (size_t)(end - p));
        if (!open_end)
            return false;
        const char *content = open_end + 1;
        for (const char *q = content; q + n + 3 <= end; q++) {
            if (q[0] == '<' && q[1] == '/' && memcmp(q + 2, name, n) == 0 && q[n + 2] == '>') {
                *cb = content;
                *ce = q;
                return true;
            }
        }
        return false;
    }
    return false;
}

static size_t put_utf8(char *out, unsigned long cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The decoded text of a leaf element, or NULL when absent, not a leaf, or
 * malformed. Caller frees (mtr_cred_free_secret). */
static char *xml_text(const char *begin, const char *end, const char *name)
{
    const char *cb, *ce;
    if (!xml_element(begin, end, name, &cb, &ce))
        return NULL;
    char *out = mtr_malloc((size_t)(ce - cb) + 1);
    size_t o = 0;
    for (const char *p = cb; p < ce;) {
        if (*p == '<') {
            mtr_cred_free_secret(out);
            return NULL;
        }
        if (*p != '&') {
            out[o++] = *p++;
            continue;
        }
        const char *semi = memchr(p, ';', (size_t)(ce - p));
        size_t len = semi ? (size_t)(semi - p) + 1 : 0;
        static const struct {
            const char *ent;
            char ch;
        } ents[] = {
            {"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''}};
        bool done = false;
        for (size_t i = 0; semi && i < sizeof ents / sizeof ents[0] && !done; i++)
            if (len == strlen(ents[i].ent) && memcmp(p, ents[i].ent, len) == 0) {
                out[o++] = ents[i].ch;
                done = true;
            }
        if (!done && semi && len > 3 && p[1] == '#') {
            bool hex = p[2] == 'x' || p[2] == 'X';
            unsigned long cp = 0;
            bool ok = true;
            for (const char *d = p + (hex ? 3 : 2); d < semi && ok; d++) {
                int v = *d >= '0' && *d <= '9'          ? *d - '0'
                        : hex && *d >= 'a' && *d <= 'f' ? *d - 'a' + 10
                        : hex && *d >= 'A' && *d <= 'F' ? *d - 'A' + 10
                                                        : -1;
                ok = v >= 0 && cp < 0x110000;
                cp = cp * (hex ? 16 : 10) + (unsigned long)v;
            }
            /* A 4-byte sequence always fits: "&#N;" is at least 4 bytes. */
            if (ok && cp > 0 && cp < 0x110000) {
                o += put_utf8(out + o, cp);
                done = true;
            }
        }
        if (!done) {
            mtr_cred_free_secret(out);
            return NULL;
        }
        p += len;
    }
    out[o] = '\0';
    return out;
}

/* ---- request ----------------------------------------------------------- */

static void form_append(char **buf, size_t *len, size_t *cap, const char *key, const char *value)
{
    size_t need = *len + strlen(key) + 3 * strlen(value) + 3;
    if (need > *cap) {
        *cap = need * 2;
        char *grown = mtr_malloc(*cap);
        if (*len)
            memcpy(grown, *buf, *len);
        mtr_cred_free_secret(*buf); /* may already hold the token */
        *buf = grown;
        (*buf)[*len] = '\0';
    }
    *len += (size_t)sprintf(*buf + *len, "%s%s=", *len ? "&" : "", key);
    for (const unsigned char *v = (const unsigned char *)value; *v; v++) {
        bool plain = (*v >= 'A' && *v <= 'Z') || (*v >= 'a' && *v <= 'z') ||
                     (*v >= '0' && *v <= '9') || *v == '-' || *v == '_' || *v == '.' || *v == '~';
        if (plain)
            (*buf)[(*len)++] = (char)*v;
        else
            *len += (size_t)sprintf(*buf + *len, "%%%02X", *v);
    }
    (*buf)[*len] = '\0';
}

static mtr_err_t sts_error(const mtr_cred_ctx_t *ctx, const char *role_arn,
                           const mtr_http_response_t *resp, char *errstr, size_t errstr_size)
{
    const char *b = resp->body, *e = resp->body + resp->body_len;
    const char *eb, *ee;
    char *code = NULL, *message = NULL;
    if (xml_element(b, e, "Error", &eb, &ee)) {
        code = xml_text(eb, ee, "Code");
        message = xml_text(eb, ee, "Message");
    }
    if (message)
        for (char *m = message; *m; m++)
            if ((unsigned char)*m < 0x20)
                *m = ' ';
    const char *c = code ? code : "";
    mtr_err_t err;
    const char *fix;
    if (resp->status == 429 || strcmp(c, "Throttling") == 0 ||
        strcmp(c, "ThrottlingException") == 0) {
        err = MTR_ERR_THROTTLED;
        fix = "retried later";
    } else if (resp->status >= 500 || strcmp(c, "IDPCommunicationError") == 0) {
        err = MTR_ERR_SERVER;
        fix = "retried later";
    } else if (strcmp(c, "InvalidIdentityToken") == 0 || strcmp(c, "ExpiredTokenException") == 0 ||
               strcmp(c, "AccessDenied") == 0 || strcmp(c, "IDPRejectedClaim") == 0) {
        err = MTR_ERR_AUTH;
        fix = "check the role's trust policy and the token's issuer and audience";
    } else {
        err = MTR_ERR_REJECTED;
        fix = "check the role ARN and the region";
    }
    mtr_err_set(errstr, errstr_size, err,
                "STS %s AssumeRoleWithWebIdentity for %s failed: HTTP %ld %s%s%.200s (%s)",
                ctx->sts_endpoint, role_arn, resp->status, code ? code : "(no error code)",
                message ? ": " : "", message ? message : "", fix);
    mtr_free(code);
    mtr_free(message);
    return err;
}

static mtr_err_t parse_success(const mtr_http_response_t *resp, mtr_credentials_t *out,
                               char *errstr, size_t errstr_size)
{
    const char *cb, *ce;
    if (!xml_element(resp->body, resp->body + resp->body_len, "Credentials", &cb, &ce))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                           "STS answer has no <Credentials> element");
    static const char *const names[] = {"AccessKeyId", "SecretAccessKey", "SessionToken",
                                        "Expiration"};
    char *v[4];
    const char *missing = NULL;
    for (int i = 0; i < 4; i++) {
        v[i] = xml_text(cb, ce, names[i]);
        if ((!v[i] || !*v[i]) && !missing)
            missing = names[i];
    }
    int64_t exp_ms = 0;
    mtr_err_t err = MTR_OK;
    if (missing)
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                          "STS answer has no usable Credentials/%s", missing);
    else if (mtr_cred_parse_iso8601(v[3], &exp_ms) != MTR_OK)
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                          "STS Expiration \"%.40s\" is not an ISO 8601 time", v[3]);
    else
        mtr_cred_set(out, v[0], v[1], v[2], exp_ms, NULL);
    for (int i = 0; i < 4; i++)
        mtr_cred_free_secret(v[i]);
    return err;
}

mtr_err_t mtr_cred_web_identity_fetch(const mtr_cred_ctx_t *ctx, const char *token_setting,
                                      const char *role_arn, const char *session_name,
                                      const char *token_file, mtr_credentials_t *out, char *errstr,
                                      size_t errstr_size)
{
    char *raw;
    char ferr[256];
    mtr_err_t err = mtr_cred_read_file(token_file, MAX_TOKEN_BYTES, &raw, NULL, ferr, sizeof ferr);
    if (err != MTR_OK)
        return mtr_err_set(errstr, errstr_size, err == MTR_ERR_NOT_FOUND ? MTR_ERR_CONFIG : err,
                           "%s: %s", token_setting, ferr);
    char *token = mtr_cred_trim(raw);
    if (!*token) {
        mtr_cred_free_secret(raw);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG, "%s: %s is empty", token_setting,
                           token_file);
    }
    char session[64];
    if (session_name && *session_name)
        snprintf(session, sizeof session, "%s", session_name);
    else
        snprintf(session, sizeof session, "meterd-%lld", (long long)mtr_clock_wall_ms(ctx->clock));

    char *body = NULL;
    size_t len = 0, cap = 0;
    form_append(&body, &len, &cap, "Action", "AssumeRoleWithWebIdentity");
    form_append(&body, &len, &cap, "Version", "2011-06-15");
    form_append(&body, &len, &cap, "RoleArn", role_arn);
    form_append(&body, &len, &cap, "RoleSessionName", session);
    form_append(&body, &len, &cap, "WebIdentityToken", token);
    mtr_cred_free_secret(raw);

    char url[320];
    snprintf(url, sizeof url, "%s/", ctx->sts_endpoint);
    const mtr_http_header_t headers[] = {
        {"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
        {"Accept", "text/xml"}};
    mtr_http_client_request_t req = {.method = "POST",
                                     .url = url,
                                     .headers = headers,
                                     .n_headers = 2,
                                     .body = body,
                                     .body_len = len,
                                     .connect_timeout_ms = 3000,
                                     .timeout_ms = 10000};
    mtr_http_response_t resp;
    err = mtr_http_client_send(ctx->http, &req, &resp, errstr, errstr_size);
    mtr_cred_free_secret(body);
    if (err != MTR_OK)
        return err;
    if (resp.status == 200)
        err = parse_success(&resp, out, errstr, errstr_size);
    else
        err = sts_error(ctx, role_arn, &resp, errstr, errstr_size);
    /* The body holds the session token. */
    memset(resp.body, 0, resp.body_len);
    mtr_http_response_clear(&resp);
    return err;
}

/* ---- the provider ------------------------------------------------------ */

static const char *wi_name(mtr_cred_provider_t *p)
{
    (void)p;
    return "web identity";
}

static mtr_err_t wi_resolve(mtr_cred_provider_t *p, mtr_credentials_t *out, char *errstr,
                            size_t errstr_size)
{
    const mtr_cred_ctx_t *ctx = ((web_identity_provider_t *)p)->ctx;
    const mtr_cred_env_t *e = &ctx->env;
    if (!e->web_identity_token_file || !*e->web_identity_token_file)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_NOT_FOUND,
                           "AWS_WEB_IDENTITY_TOKEN_FILE not set");
    if (!e->role_arn || !*e->role_arn)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                           "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not; set the "
                           "role to assume");
    return mtr_cred_web_identity_fetch(ctx, "AWS_WEB_IDENTITY_TOKEN_FILE", e->role_arn,
                                       e->role_session_name, e->web_identity_token_file, out,
                                       errstr, errstr_size);
}

static void wi_destroy(mtr_cred_provider_t *p)
{
    mtr_free(p);
}

static const mtr_cred_provider_vtable_t wi_vtable = {wi_name, wi_resolve, wi_destroy};

mtr_cred_provider_t *mtr_cred_web_identity_new(const mtr_cred_ctx_t *ctx)
{
    web_identity_provider_t *p = mtr_calloc(1, sizeof *p);
    p->base.vt = &wi_vtable;
    p->ctx = ctx;
    return &p->base;
}
