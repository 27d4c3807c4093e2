/* SigV4 signing, stage by stage: canonical request (path, query, headers,
 * payload hash), string to sign, signing key, signature, Authorization
 * header. The rules follow AWS's SigV4 documentation and its signing test
 * suite; where the documentation is loose (path normalisation, header
 * trimming, which headers are left unsigned) they follow botocore, whose
 * signatures AWS accepts. */
#include "emit/sigv4.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/civil.h"
#include "core/mem.h"
#include "emit/sigv4_int.h"

/* ---- growable string ---- */

void mtr_sigv4_buf_put(mtr_sigv4_buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 128;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->p = mtr_realloc(b->p, cap);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

void mtr_sigv4_buf_puts(mtr_sigv4_buf_t *b, const char *s)
{
    mtr_sigv4_buf_put(b, s, strlen(s));
}

void mtr_sigv4_buf_putc(mtr_sigv4_buf_t *b, char c)
{
    mtr_sigv4_buf_put(b, &c, 1);
}

char *mtr_sigv4_buf_take(mtr_sigv4_buf_t *b)
{
    if (!b->p)
        mtr_sigv4_buf_put(b, "", 0);
    char *p = b->p;
    *b = (mtr_sigv4_buf_t){0};
    return p;
}

/* ---- hashing and encoding ---- */

static void hex_encode(const uint8_t *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void mtr_sigv4_sha256_hex(const void *data, size_t len, char hex[65])
{
    uint8_t md[32];
    unsigned int md_len = 0;
    /* EVP_Digest only fails on allocation failure inside OpenSSL. */
    if (!EVP_Digest(data ? data : "", len, md, &md_len, EVP_sha256(), NULL) || md_len != 32)
        abort();
    hex_encode(md, 32, hex);
}

static void hmac_sha256(const void *key, size_t key_len, const void *msg, size_t msg_len,
                        uint8_t out[32])
{
    unsigned int out_len = 0;
    if (!HMAC(EVP_sha256(), key, (int)key_len, msg, msg_len, out, &out_len) || out_len != 32)
        abort();
}

static bool is_unreserved(unsigned char c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~';
}

static void uri_encode_into(mtr_sigv4_buf_t *b, const char *s, size_t len, bool keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            mtr_sigv4_buf_putc(b, (char)c);
        } else {
            char esc[3] = {'%', digits[c >> 4], digits[c & 15]};
            mtr_sigv4_buf_put(b, esc, 3);
        }
    }
}

char *mtr_sigv4_uri_encode(const char *s, size_t len, bool keep_slash)
{
    mtr_sigv4_buf_t b = {0};
    uri_encode_into(&b, s, len, keep_slash);
    return mtr_sigv4_buf_take(&b);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes valid %HH escapes and keeps everything else (a stray '%' stays a
 * '%'), so that a query already encoded on the wire and one in raw UTF-8
 * canonicalise the same way. '+' is kept: AWS reads it literally. */
static char *uri_decode(const char *s, size_t len, size_t *out_len)
{
    char *out = mtr_malloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < len && (hi = hex_value(s[i + 1])) >= 0 &&
            (lo = hex_value(s[i + 2])) >= 0) {
            out[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[n++] = s[i];
        }
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

/* ---- dates ---- */

void mtr_sigv4_format_amz_date(int64_t time_ms, char out[17])
{
    int64_t secs = time_ms / 1000 - (time_ms % 1000 < 0 ? 1 : 0);
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

mtr_err_t mtr_sigv4_parse_amz_date(const char *s, int64_t *time_ms)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, mo, d, h, mi, se;
    if (strlen(s) != 16 || s[8] != 'T' || s[15] != 'Z' || !mtr_civil_digits(s, 4, &y) ||
        !mtr_civil_digits(s + 4, 2, &mo) || !mtr_civil_digits(s + 6, 2, &d) ||
        !mtr_civil_digits(s + 9, 2, &h) || !mtr_civil_digits(s + 11, 2, &mi) ||
        !mtr_civil_digits(s + 13, 2, &se))
        return MTR_ERR_PARSE;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || se > 60)
        return MTR_ERR_PARSE;
    int64_t days = mtr_days_from_civil(y, mo, d);
    *time_ms = ((days * 24 + h) * 60 + mi) * 60000LL + se * 1000LL;
    return MTR_OK;
}

/* ---- canonical request ---- */

const char *mtr_sigv4_find_header(const mtr_sigv4_request_t *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (!strcasecmp(req->headers[i].name, name))
            return req->headers[i].value;
    return NULL;
}

/* RFC 3986 5.2.4 dot-segment removal plus AWS's removal of empty segments
 * ("//"), keeping a trailing slash (botocore's remove_dot_segments). */
static void normalize_path_into(mtr_sigv4_buf_t *out, const char *path)
{
    size_t len = strlen(path);
    const char **segs = mtr_malloc((len + 1) * sizeof *segs);
    size_t *lens = mtr_malloc((len + 1) * sizeof *lens);
    size_t n = 0;
    for (const char *p = path; p <= path + len;) {
        const char *slash = strchr(p, '/');
        size_t sl = slash ? (size_t)(slash - p) : strlen(p);
        if (sl == 2 && p[0] == '.' && p[1] == '.') {
            if (n)
                n--;
        } else if (sl && !(sl == 1 && p[0] == '.')) {
            segs[n] = p;
            lens[n++] = sl;
        }
        if (!slash)
            break;
        p = slash + 1;
    }
    if (path[0] == '/')
        mtr_sigv4_buf_putc(out, '/');
    for (size_t i = 0; i < n; i++) {
        if (i)
            mtr_sigv4_buf_putc(out, '/');
        mtr_sigv4_buf_put(out, segs[i], lens[i]);
    }
    if (len && path[len - 1] == '/' && n)
        mtr_sigv4_buf_putc(out, '/');
    mtr_free(segs);
    mtr_free(lens);
}

static void canonical_uri_into(mtr_sigv4_buf_t *out, const char *path, bool normalize)
{
    if (!path || !*path) {
        mtr_sigv4_buf_putc(out, '/');
        return;
    }
    mtr_sigv4_buf_t tmp = {0};
    if (normalize)
        normalize_path_into(&tmp, path);
    else
        mtr_sigv4_buf_puts(&tmp, path);
    /* The wire path is encoded already; encoding it once more is the
     * "double encoding" every service but S3 expects. */
    uri_encode_into(out, tmp.p, tmp.len, true);
    mtr_free(tmp.p);
}

typedef struct query_param {
    char *key;
    char *value;
} query_param_t;

static int query_param_cmp(const void *a, const void *b)
{
    const query_param_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value, y->value);
}

static char *reencode(const char *s, size_t len)
{
    size_t dlen;
    char *raw = uri_decode(s, len, &dlen);
    char *enc = mtr_sigv4_uri_encode(raw, dlen, false);
    mtr_free(raw);
    return enc;
}

static void canonical_query_into(mtr_sigv4_buf_t *out, const char *query)
{
    if (!query || !*query)
        return;
    size_t qlen = strlen(query);
    query_param_t *params = mtr_calloc(qlen / 2 + 2, sizeof *params);
    size_t n = 0;
    for (const char *p = query; p <= query + qlen;) {
        const char *amp = strchr(p, '&');
        size_t pl = amp ? (size_t)(amp - p) : strlen(p);
        if (pl) {
            const char *eq = memchr(p, '=', pl);
            size_t kl = eq ? (size_t)(eq - p) : pl;
            params[n].key = reencode(p, kl);
            params[n].value = eq ? reencode(eq + 1, pl - kl - 1) : mtr_strdup("");
            n++;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    qsort(params, n, sizeof *params, query_param_cmp);
    for (size_t i = 0; i < n; i++) {
        if (i)
            mtr_sigv4_buf_putc(out, '&');
        mtr_sigv4_buf_puts(out, params[i].key);
        mtr_sigv4_buf_putc(out, '=');
        mtr_sigv4_buf_puts(out, params[i].value);
        mtr_free(params[i].key);
        mtr_free(params[i].value);
    }
    mtr_free(params);
}

typedef struct canon_header {
    char *name;
    mtr_sigv4_buf_t value;
    bool seen;
} canon_header_t;

static int canon_header_cmp(const void *a, const void *b)
{
    return strcmp(((const canon_header_t *)a)->name, ((const canon_header_t *)b)->name);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static char *lower_trimmed(const char *s, size_t len)
{
    while (len && is_space(*s))
        s++, len--;
    while (len && is_space(s[len - 1]))
        len--;
    char *out = mtr_strndup(s, len);
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return out;
}

/* Trimall: strip the ends, turn every run of white space into one space. */
static void trimall_into(mtr_sigv4_buf_t *b, const char *v)
{
    bool pending_space = false, any = false;
    for (; *v; v++) {
        if (is_space(*v)) {
            pending_space = any;
            continue;
        }
        if (pending_space)
            mtr_sigv4_buf_putc(b, ' ');
        pending_space = false;
        any = true;
        mtr_sigv4_buf_putc(b, *v);
    }
}

static bool unsigned_by_default(const char *lname)
{
    return !strcmp(lname, "authorization") || !strcmp(lname, "expect") ||
           !strcmp(lname, "user-agent") || !strcmp(lname, "x-amzn-trace-id");
}

static canon_header_t *find_entry(canon_header_t *hs, size_t n, const char *lname)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(hs[i].name, lname))
            return &hs[i];
    return NULL;
}

static void add_value(canon_header_t *h, const char *value)
{
    if (h->seen)
        mtr_sigv4_buf_putc(&h->value, ',');
    h->seen = true;
    trimall_into(&h->value, value ? value : "");
    if (!h->value.p)
        mtr_sigv4_buf_put(&h->value, "", 0);
}

/* Fills hs (capacity >= max(n_headers, names in only_signed)); returns the
 * count, or (size_t)-1 with errstr set when a signed header is absent. */
static size_t collect_headers(const mtr_sigv4_request_t *req, const char *only_signed,
                              canon_header_t *hs, char *errstr, size_t errstr_size)
{
    size_t n = 0;
    if (only_signed) {
        for (const char *p = only_signed; *p;) {
            const char *semi = strchr(p, ';');
            size_t l = semi ? (size_t)(semi - p) : strlen(p);
            char *lname = lower_trimmed(p, l);
            if (*lname && !find_entry(hs, n, lname))
                hs[n++].name = lname;
            else
                mtr_free(lname);
            p = semi ? semi + 1 : p + l;
        }
    }
    for (size_t i = 0; i < req->n_headers; i++) {
        char *lname = lower_trimmed(req->headers[i].name, strlen(req->headers[i].name));
        canon_header_t *h = find_entry(hs, n, lname);
        if (!h && !only_signed && *lname && !unsigned_by_default(lname)) {
            h = &hs[n++];
            h->name = lname;
            lname = NULL;
        }
        if (h)
            add_value(h, req->headers[i].value);
        mtr_free(lname);
    }
    for (size_t i = 0; i < n; i++) {
        if (!hs[i].seen) {
            mtr_err_set(errstr, errstr_size, MTR_ERR_NOT_FOUND,
                        "signed header \"%s\" is not in the request", hs[i].name);
            for (size_t j = 0; j < n; j++) {
                mtr_free(hs[j].name);
                mtr_free(hs[j].value.p);
            }
            return (size_t)-1;
        }
    }
    qsort(hs, n, sizeof *hs, canon_header_cmp);
    return n;
}

static size_t count_names(const char *list)
{
    size_t n = 1;
    for (; *list; list++)
        n += *list == ';';
    return n;
}

mtr_err_t mtr_sigv4_canonical_build(const mtr_sigv4_request_t *req, bool normalize_path,
                                    const char *only_signed, char **canonical,
                                    char **signed_headers, char *errstr, size_t errstr_size)
{
    if (!req->method || !*req->method)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "sigv4: the request has no method");
    size_t cap = req->n_headers + (only_signed ? count_names(only_signed) : 0) + 1;
    canon_header_t *hs = mtr_calloc(cap, sizeof *hs);
    size_t n = collect_headers(req, only_signed, hs, errstr, errstr_size);
    if (n == (size_t)-1) {
        mtr_free(hs);
        return MTR_ERR_NOT_FOUND;
    }

    mtr_sigv4_buf_t out = {0}, names = {0};
    mtr_sigv4_buf_puts(&out, req->method);
    mtr_sigv4_buf_putc(&out, '\n');
    canonical_uri_into(&out, req->path, normalize_path);
    mtr_sigv4_buf_putc(&out, '\n');
    canonical_query_into(&out, req->query);
    mtr_sigv4_buf_putc(&out, '\n');
    for (size_t i = 0; i < n; i++) {
        mtr_sigv4_buf_puts(&out, hs[i].name);
        mtr_sigv4_buf_putc(&out, ':');
        mtr_sigv4_buf_puts(&out, hs[i].value.p);
        mtr_sigv4_buf_putc(&out, '\n');
        if (i)
            mtr_sigv4_buf_putc(&names, ';');
        mtr_sigv4_buf_puts(&names, hs[i].name);
        mtr_free(hs[i].name);
        mtr_free(hs[i].value.p);
    }
    mtr_free(hs);
    mtr_sigv4_buf_putc(&out, '\n');
    mtr_sigv4_buf_puts(&out, names.p ? names.p : "");
    mtr_sigv4_buf_putc(&out, '\n');

    /* An X-Amz-Content-Sha256 header names the payload hash to sign (it may
     * be UNSIGNED-PAYLOAD); the verifier checks it against the body. */
    const char *declared = mtr_sigv4_find_header(req, "x-amz-content-sha256");
    if (declared) {
        trimall_into(&out, declared);
    } else {
        char hex[65];
        mtr_sigv4_sha256_hex(req->body, req->body_len, hex);
        mtr_sigv4_buf_puts(&out, hex);
    }
    *canonical = mtr_sigv4_buf_take(&out);
    *signed_headers = mtr_sigv4_buf_take(&names);
    return MTR_OK;
}

mtr_err_t mtr_sigv4_canonical_request_opts(const mtr_sigv4_request_t *req, bool normalize_path,
                                           char **canonical, char **signed_headers, char *errstr,
                                           size_t errstr_size)
{
    return mtr_sigv4_canonical_build(req, normalize_path, NULL, canonical, signed_headers, errstr,
                                     errstr_size);
}

mtr_err_t mtr_sigv4_canonical_request(const mtr_sigv4_request_t *req, char **canonical,
                                      char **signed_headers, char *errstr, size_t errstr_size)
{
    return mtr_sigv4_canonical_build(req, true, NULL, canonical, signed_headers, errstr,
                                     errstr_size);
}

/* ---- string to sign, key, signature, header ---- */

static void put_scope(mtr_sigv4_buf_t *b, const mtr_sigv4_params_t *params)
{
    mtr_sigv4_buf_put(b, params->amz_date, strnlen(params->amz_date, 8));
    mtr_sigv4_buf_putc(b, '/');
    mtr_sigv4_buf_puts(b, params->region);
    mtr_sigv4_buf_putc(b, '/');
    mtr_sigv4_buf_puts(b, params->service);
    mtr_sigv4_buf_puts(b, "/aws4_request");
}

char *mtr_sigv4_string_to_sign(const char *canonical_request, const mtr_sigv4_params_t *params)
{
    char hex[65];
    mtr_sigv4_sha256_hex(canonical_request, strlen(canonical_request), hex);
    mtr_sigv4_buf_t b = {0};
    mtr_sigv4_buf_puts(&b, "AWS4-HMAC-SHA256\n");
    mtr_sigv4_buf_puts(&b, params->amz_date);
    mtr_sigv4_buf_putc(&b, '\n');
    put_scope(&b, params);
    mtr_sigv4_buf_putc(&b, '\n');
    mtr_sigv4_buf_puts(&b, hex);
    return mtr_sigv4_buf_take(&b);
}

void mtr_sigv4_signing_key(const char *secret_access_key, const mtr_sigv4_params_t *params,
                           uint8_t key[32])
{
    size_t slen = strlen(secret_access_key);
    char *k_secret = mtr_malloc(slen + 5);
    memcpy(k_secret, "AWS4", 4);
    memcpy(k_secret + 4, secret_access_key, slen + 1);
    uint8_t k[32];
    hmac_sha256(k_secret, slen + 4, params->amz_date, strnlen(params->amz_date, 8), k);
    OPENSSL_cleanse(k_secret, slen + 4);
    mtr_free(k_secret);
    hmac_sha256(k, 32, params->region, strlen(params->region), k);
    hmac_sha256(k, 32, params->service, strlen(params->service), k);
    hmac_sha256(k, 32, "aws4_request", 12, key);
    OPENSSL_cleanse(k, sizeof k);
}

void mtr_sigv4_signature(const uint8_t key[32], const char *string_to_sign, char hex[65])
{
    uint8_t mac[32];
    hmac_sha256(key, 32, string_to_sign, strlen(string_to_sign), mac);
    hex_encode(mac, 32, hex);
}

char *mtr_sigv4_authorization(const char *access_key_id, const mtr_sigv4_params_t *params,
                              const char *signed_headers, const char *signature_hex)
{
    mtr_sigv4_buf_t b = {0};
    mtr_sigv4_buf_puts(&b, "AWS4-HMAC-SHA256 Credential=");
    mtr_sigv4_buf_puts(&b, access_key_id);
    mtr_sigv4_buf_putc(&b, '/');
    put_scope(&b, params);
    mtr_sigv4_buf_puts(&b, ", SignedHeaders=");
    mtr_sigv4_buf_puts(&b, signed_headers);
    mtr_sigv4_buf_puts(&b, ", Signature=");
    mtr_sigv4_buf_puts(&b, signature_hex);
    return mtr_sigv4_buf_take(&b);
}

mtr_err_t mtr_sigv4_sign(const mtr_sigv4_request_t *req, const mtr_sigv4_params_t *params,
                         const mtr_sigv4_credentials_t *creds, char **authorization, char *errstr,
                         size_t errstr_size)
{
    const char *date = mtr_sigv4_find_header(req, "x-amz-date");
    if (!mtr_sigv4_find_header(req, "host"))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "sigv4: the request has no Host header; add it before signing");
    if (!date || strcmp(date, params->amz_date))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "sigv4: the request's X-Amz-Date header must be present and equal "
                           "the signing date %s",
                           params->amz_date);
    int64_t ignored;
    if (mtr_sigv4_parse_amz_date(params->amz_date, &ignored) != MTR_OK)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "sigv4: signing date \"%s\" is not YYYYMMDDTHHMMSSZ", params->amz_date);
    if (creds->session_token && !mtr_sigv4_find_header(req, "x-amz-security-token"))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "sigv4: temporary credentials need an X-Amz-Security-Token header");

    char *canonical = NULL, *signed_headers = NULL;
    mtr_err_t err =
        mtr_sigv4_canonical_request(req, &canonical, &signed_headers, errstr, errstr_size);
    if (err != MTR_OK)
        return err;
    char *sts = mtr_sigv4_string_to_sign(canonical, params);
    uint8_t key[32];
    char sig[65];
    mtr_sigv4_signing_key(creds->secret_access_key, params, key);
    mtr_sigv4_signature(key, sts, sig);
    OPENSSL_cleanse(key, sizeof key);
    *authorization = mtr_sigv4_authorization(creds->access_key_id, params, signed_headers, sig);
    mtr_free(canonical);
    mtr_free(signed_headers);
    mtr_free(sts);
    return MTR_OK;
}
