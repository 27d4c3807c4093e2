/* Credential values and the small helpers every provider shares: setting,
 * copying and wiping credentials, files that may hold a secret, the JSON
 * answer of the container endpoint and IMDS, and ISO 8601 expiry times.
 * Below the providers and the chain; uses neither. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/civil.h"
#include "core/mem.h"
#include "emit/cred_int.h"
#include "emit/credentials.h"

/* ---- credentials values ------------------------------------------------ */

void mtr_cred_free_secret(char *s)
{
    if (!s)
        return;
    /* volatile so the wipe is not optimised away before free */
    for (volatile char *p = s; *p; p++)
        *p = 0;
    mtr_free(s);
}

void mtr_credentials_clear(mtr_credentials_t *creds)
{
    mtr_free(creds->access_key_id);
    mtr_cred_free_secret(creds->secret_access_key);
    mtr_cred_free_secret(creds->session_token);
    memset(creds, 0, sizeof *creds);
}

void mtr_cred_set(mtr_credentials_t *out, const char *access_key_id, const char *secret_access_key,
                  const char *session_token, int64_t expiration_ms, const char *provider)
{
    out->access_key_id = mtr_strdup(access_key_id);
    out->secret_access_key = mtr_strdup(secret_access_key);
    out->session_token = session_token && *session_token ? mtr_strdup(session_token) : NULL;
    out->expiration_ms = expiration_ms;
    out->provider = provider;
}

void mtr_credentials_copy(mtr_credentials_t *dst, const mtr_credentials_t *src)
{
    mtr_cred_set(dst, src->access_key_id, src->secret_access_key, src->session_token,
                 src->expiration_ms, src->provider);
}

mtr_sigv4_credentials_t mtr_credentials_sigv4(const mtr_credentials_t *creds)
{
    mtr_sigv4_credentials_t v = {creds->access_key_id, creds->secret_access_key,
                                 creds->session_token};
    return v;
}

/* ---- ISO 8601 ---------------------------------------------------------- */

mtr_err_t mtr_cred_parse_iso8601(const char *text, int64_t *out_ms)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, s;
    const char *p = text;
    if (!p || strlen(p) < 20 || !mtr_civil_digits(p, 4, &y) || p[4] != '-' ||
        !mtr_civil_digits(p + 5, 2, &mo) || p[7] != '-' || !mtr_civil_digits(p + 8, 2, &d) ||
        (p[10] != 'T' && p[10] != 't') || !mtr_civil_digits(p + 11, 2, &h) || p[13] != ':' ||
        !mtr_civil_digits(p + 14, 2, &mi) || p[16] != ':' || !mtr_civil_digits(p + 17, 2, &s))
        return MTR_ERR_PARSE;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || s > 60)
        return MTR_ERR_PARSE;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return MTR_ERR_PARSE;
    p += 19;
    int64_t ms = 0;
    if (*p == '.') {
        int scale = 100, n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++) {
            ms += (*p - '0') * scale;
            scale /= 10;
        }
        if (n == 0)
            return MTR_ERR_PARSE;
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!mtr_civil_digits(p + 1, 2, &oh) || p[3] != ':' || !mtr_civil_digits(p + 4, 2, &om) ||
            oh > 23 || om > 59)
            return MTR_ERR_PARSE;
        offset_s = (int64_t)(oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return MTR_ERR_PARSE;
    }
    if (*p)
        return MTR_ERR_PARSE;
    int64_t secs = mtr_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset_s;
    *out_ms = secs * 1000 + ms;
    return MTR_OK;
}

/* ---- shared provider helpers ------------------------------------------ */

char *mtr_cred_trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

mtr_err_t mtr_cred_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len,
                             char *errstr, size_t errstr_size)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return mtr_err_set(errstr, errstr_size, e == ENOENT ? MTR_ERR_NOT_FOUND : MTR_ERR_IO,
                           "%s %s", path, e == ENOENT ? "not found" : strerror(e));
    }
    char *buf = mtr_malloc(max_bytes + 1);
    size_t n = fread(buf, 1, max_bytes + 1, f);
    bool failed = ferror(f);
    fclose(f);
    if (failed || n > max_bytes) {
        mtr_cred_free_secret(buf);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_IO, "%s: %s", path,
                           failed ? "read error" : "file too large");
    }
    buf[n] = '\0';
    *out = buf;
    if (out_len)
        *out_len = n;
    return MTR_OK;
}

static const char *json_string(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) && v->valuestring[0] ? v->valuestring : NULL;
}

mtr_err_t mtr_cred_from_json(const char *body, const char *what, mtr_credentials_t *out,
                             char *errstr, size_t errstr_size)
{
    cJSON *doc = cJSON_Parse(body);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE, "%s: answer is not a JSON object",
                           what);
    }
    const char *akid = json_string(doc, "AccessKeyId");
    const char *secret = json_string(doc, "SecretAccessKey");
    const char *token = json_string(doc, "Token");
    const char *expiration = json_string(doc, "Expiration");
    const char *missing = !akid ? "AccessKeyId" : !secret ? "SecretAccessKey" : NULL;
    int64_t exp_ms = 0;
    mtr_err_t err = MTR_OK;
    if (missing)
        err =
            mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE, "%s: answer has no %s", what, missing);
    else if (expiration && mtr_cred_parse_iso8601(expiration, &exp_ms) != MTR_OK)
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                          "%s: Expiration \"%.40s\" is not an ISO 8601 time", what, expiration);
    else
        mtr_cred_set(out, akid, secret, token, exp_ms, NULL);
    /* The parsed tree holds the secret; wipe it before it is freed. */
    if (secret)
        memset((char *)secret, 0, strlen(secret));
    if (token)
        memset((char *)token, 0, strlen(token));
    cJSON_Delete(doc);
    return err;
}
