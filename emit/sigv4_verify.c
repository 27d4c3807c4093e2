/* SigV4 verification, the server side used by the emulator: parses the
 * Authorization header, checks it the way AWS does (in AWS's order: form,
 * access key, scope, clock skew, signature) and answers with the error type
 * AWS would send. The signature is recomputed over exactly the headers the
 * client listed in SignedHeaders and compared in constant time. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "core/mem.h"
#include "emit/sigv4.h"
#include "emit/sigv4_int.h"

#define SKEW_MS (15 * 60 * 1000LL)

typedef struct auth_fields {
    char *credential;
    char *signed_headers;
    char *signature;
} auth_fields_t;

static void auth_fields_free(auth_fields_t *f)
{
    mtr_free(f->credential);
    mtr_free(f->signed_headers);
    mtr_free(f->signature);
}

/* Writes AWS's error type and the reason; callers pass only public strings
 * (header names, dates, scopes), never a secret. */
static mtr_err_t fail(char *type, size_t type_size, const char *aws_type, char *errstr,
                      size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static mtr_err_t fail(char *type, size_t type_size, const char *aws_type, char *errstr,
                      size_t errstr_size, const char *fmt, ...)
{
    snprintf(type, type_size, "%s", aws_type);
    if (errstr && errstr_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
    }
    return MTR_ERR_AUTH;
}

static const char *skip_spaces(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* "AWS4-HMAC-SHA256 Credential=.., SignedHeaders=.., Signature=.." */
static bool parse_authorization(const char *v, auth_fields_t *f, const char **missing)
{
    v = skip_spaces(v);
    static const char algo[] = "AWS4-HMAC-SHA256";
    if (strncmp(v, algo, sizeof algo - 1) || (v[sizeof algo - 1] != ' ')) {
        *missing = "Algorithm";
        return false;
    }
    for (const char *p = v + sizeof algo - 1; *p;) {
        p = skip_spaces(p);
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        char **slot = NULL;
        size_t klen = 0;
        if (len > 11 && !strncmp(p, "Credential=", 11))
            slot = &f->credential, klen = 11;
        else if (len > 14 && !strncmp(p, "SignedHeaders=", 14))
            slot = &f->signed_headers, klen = 14;
        else if (len > 10 && !strncmp(p, "Signature=", 10))
            slot = &f->signature, klen = 10;
        if (slot && !*slot)
            *slot = mtr_strndup(p + klen, len - klen);
        if (!comma)
            break;
        p = comma + 1;
    }
    *missing = !f->credential       ? "Credential"
               : !f->signed_headers ? "SignedHeaders"
               : !f->signature      ? "Signature"
                                    : NULL;
    return *missing == NULL;
}

/* Splits "AKID/20150830/us-east-1/service/aws4_request" in place. */
static bool split_credential(char *cred, char *parts[5])
{
    int n = 0;
    for (char *p = cred; n < 5; n++) {
        parts[n] = p;
        char *slash = strchr(p, '/');
        if (!slash) {
            n++;
            break;
        }
        *slash = '\0';
        p = slash + 1;
        if (n == 4)
            return false; /* more than five parts */
    }
    return n == 5 && *parts[0] && strlen(parts[1]) == 8;
}

static bool list_has(const char *list, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = list; *p;) {
        const char *semi = strchr(p, ';');
        size_t l = semi ? (size_t)(semi - p) : strlen(p);
        if (l == nl && !strncmp(p, name, nl))
            return true;
        p = semi ? semi + 1 : p + l;
    }
    return false;
}

mtr_err_t mtr_sigv4_verify(const mtr_sigv4_request_t *req, const char *region, const char *service,
                           int64_t now_ms, mtr_sigv4_secret_lookup_fn lookup, void *lookup_ctx,
                           char *aws_error_type, size_t aws_error_type_size, char *errstr,
                           size_t errstr_size)
{
    char *t = aws_error_type;
    size_t ts = aws_error_type_size;
    if (ts)
        t[0] = '\0';
    const char *auth = mtr_sigv4_find_header(req, "authorization");
    if (!auth)
        return fail(t, ts, "MissingAuthenticationTokenException", errstr, errstr_size,
                    "Missing Authentication Token");

    auth_fields_t f = {0};
    const char *missing = NULL;
    mtr_err_t err = MTR_ERR_AUTH;
    if (!parse_authorization(auth, &f, &missing)) {
        if (!strcmp(missing, "Algorithm"))
            fail(t, ts, "IncompleteSignatureException", errstr, errstr_size,
                 "Authorization header must start with AWS4-HMAC-SHA256");
        else
            fail(t, ts, "IncompleteSignatureException", errstr, errstr_size,
                 "Authorization header requires '%s' parameter.", missing);
        goto out;
    }
    char *scope[5];
    if (!split_credential(f.credential, scope) || strcmp(scope[4], "aws4_request")) {
        fail(t, ts, "IncompleteSignatureException", errstr, errstr_size,
             "Authorization header's Credential must be "
             "<access key>/<YYYYMMDD>/<region>/<service>/aws4_request");
        goto out;
    }
    const char *amz_date = mtr_sigv4_find_header(req, "x-amz-date");
    int64_t signed_ms = 0;
    if (!amz_date) {
        fail(t, ts, "IncompleteSignatureException", errstr, errstr_size,
             "Authorization header requires existence of a 'X-Amz-Date' header.");
        goto out;
    }
    if (mtr_sigv4_parse_amz_date(amz_date, &signed_ms) != MTR_OK) {
        fail(t, ts, "IncompleteSignatureException", errstr, errstr_size,
             "X-Amz-Date '%s' is not in the form YYYYMMDD'T'HHMMSS'Z'", amz_date);
        goto out;
    }
    if (!list_has(f.signed_headers, "host") || !list_has(f.signed_headers, "x-amz-date")) {
        fail(t, ts, "IncompleteSignatureException", errstr, errstr_size,
             "SignedHeaders '%s' must include host and x-amz-date", f.signed_headers);
        goto out;
    }

    const char *secret = lookup ? lookup(lookup_ctx, scope[0]) : NULL;
    if (!secret) {
        fail(t, ts, "UnrecognizedClientException", errstr, errstr_size,
             "The security token included in the request is invalid (unknown access key "
             "%s)",
             scope[0]);
        goto out;
    }
    if (strncmp(scope[1], amz_date, 8)) {
        fail(t, ts, "InvalidSignatureException", errstr, errstr_size,
             "Date in Credential scope does not match YYYYMMDD from X-Amz-Date: '%s' != '%.8s'",
             scope[1], amz_date);
        goto out;
    }
    if (strcmp(scope[2], region)) {
        fail(t, ts, "InvalidSignatureException", errstr, errstr_size,
             "Credential should be scoped to a valid region, not '%s' (expected '%s')", scope[2],
             region);
        goto out;
    }
    if (strcmp(scope[3], service)) {
        fail(t, ts, "InvalidSignatureException", errstr, errstr_size,
             "Credential should be scoped to correct service '%s', not '%s'", service, scope[3]);
        goto out;
    }
    char now_s[17];
    mtr_sigv4_format_amz_date(now_ms, now_s);
    if (signed_ms < now_ms - SKEW_MS) {
        fail(t, ts, "InvalidSignatureException", errstr, errstr_size,
             "Signature expired: %s is now earlier than %s minus 15 min.", amz_date, now_s);
        goto out;
    }
    if (signed_ms > now_ms + SKEW_MS) {
        fail(t, ts, "InvalidSignatureException", errstr, errstr_size,
             "Signature not yet current: %s is still later than %s plus 15 min.", amz_date, now_s);
        goto out;
    }
    const char *declared = mtr_sigv4_find_header(req, "x-amz-content-sha256");
    if (declared) {
        char body_hex[65];
        mtr_sigv4_sha256_hex(req->body, req->body_len, body_hex);
        if (strcmp(declared, body_hex)) {
            fail(t, ts, "InvalidSignatureException", errstr, errstr_size,
                 "The x-amz-content-sha256 header does not match the body's SHA-256 %s", body_hex);
            goto out;
        }
    }

    char *canonical = NULL, *names = NULL;
    char why[256];
    if (mtr_sigv4_canonical_build(req, true, f.signed_headers, &canonical, &names, why,
                                  sizeof why) != MTR_OK) {
        fail(t, ts, "IncompleteSignatureException", errstr, errstr_size, "%s", why);
        goto out;
    }
    mtr_sigv4_params_t params = {.region = region, .service = service, .amz_date = amz_date};
    char *sts = mtr_sigv4_string_to_sign(canonical, &params);
    uint8_t key[32];
    char expected[65];
    mtr_sigv4_signing_key(secret, &params, key);
    mtr_sigv4_signature(key, sts, expected);
    OPENSSL_cleanse(key, sizeof key);
    bool match = strlen(f.signature) == 64 && CRYPTO_memcmp(expected, f.signature, 64) == 0;
    if (match) {
        err = MTR_OK;
    } else {
        /* The string to sign holds only the date, scope and a hash, and lets
         * the client see which stage differs. */
        char msg[512];
        snprintf(msg, sizeof msg,
                 "The request signature we calculated does not match the signature you "
                 "provided. The String-to-Sign should have been\n%s",
                 sts);
        snprintf(t, ts, "InvalidSignatureException");
        mtr_err_set(errstr, errstr_size, MTR_ERR_AUTH, "%s", msg);
    }
    mtr_free(canonical);
    mtr_free(names);
    mtr_free(sts);
out:
    auth_fields_free(&f);
    return err;
}
