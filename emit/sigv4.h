/* AWS Signature Version 4, stage by stage (canonical request, string to
 * sign, signing key, signature, Authorization header), so that a failing
 * test vector or a `SignatureDoesNotMatch` in production says which stage
 * differs. `meterd sigv4` prints each stage; the emulator verifies with
 * mtr_sigv4_verify().
 *
 * Thread-safe: no state. Strings returned as char * are owned by the caller
 * (free with mtr_free). Secrets are only read, never logged or copied into
 * errstr. */
#ifndef MTR_SIGV4_H
#define MTR_SIGV4_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct mtr_http_header {
    const char *name;
    const char *value;
} mtr_http_header_t;

/* A request as it goes on the wire. path is the raw request target without
 * the query ("/", "/a%20b/../c"); query is the raw query without '?' (may be
 * NULL or ""). Header names may be in any case and may repeat. */
typedef struct mtr_sigv4_request {
    const char *method;
    const char *path;
    const char *query;
    const mtr_http_header_t *headers;
    size_t n_headers;
    const void *body;
    size_t body_len;
} mtr_sigv4_request_t;

typedef struct mtr_sigv4_credentials {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL for long-term keys */
} mtr_sigv4_credentials_t;

typedef struct mtr_sigv4_params {
    const char *region;
    const char *service;  /* "aws-marketplace" for the Metering Service */
    const char *amz_date; /* "20150830T123600Z" (X-Amz-Date) */
} mtr_sigv4_params_t;

/* "20150830T123600Z" for a Unix time in milliseconds; out holds 17 bytes. */
void mtr_sigv4_format_amz_date(int64_t time_ms, char out[17]);

/* Stage 1. The canonical request (path normalised and URI-encoded twice as
 * every service but S3 expects; query sorted; headers lower-cased, trimmed,
 * repeated values joined with ','; payload SHA-256). *signed_headers gets
 * "content-type;host;x-amz-date" (caller frees). */
mtr_err_t mtr_sigv4_canonical_request(const mtr_sigv4_request_t *req, char **canonical,
                                      char **signed_headers, char *errstr, size_t errstr_size);

/* Stage 2. "AWS4-HMAC-SHA256\n<date>\n<scope>\n<hex sha256(canonical)>". */
char *mtr_sigv4_string_to_sign(const char *canonical_request, const mtr_sigv4_params_t *params);

/* Stage 3. HMAC chain over date (first 8 chars of amz_date), region,
 * service, "aws4_request". */
void mtr_sigv4_signing_key(const char *secret_access_key, const mtr_sigv4_params_t *params,
                           uint8_t key[32]);

/* Stage 4. Lower-case hex HMAC-SHA256(key, string_to_sign); 65 bytes. */
void mtr_sigv4_signature(const uint8_t key[32], const char *string_to_sign, char hex[65]);

/* Stage 5. "AWS4-HMAC-SHA256 Credential=AKID/scope, SignedHeaders=..,
 * Signature=..". */
char *mtr_sigv4_authorization(const char *access_key_id, const mtr_sigv4_params_t *params,
                              const char *signed_headers, const char *signature_hex);

/* All stages: the request's headers must already hold Host, X-Amz-Date
 * (= params->amz_date) and, with a session token, X-Amz-Security-Token.
 * *authorization gets the Authorization header value (caller frees). */
mtr_err_t mtr_sigv4_sign(const mtr_sigv4_request_t *req, const mtr_sigv4_params_t *params,
                         const mtr_sigv4_credentials_t *creds, char **authorization, char *errstr,
                         size_t errstr_size);

/* Server side (the emulator). Looks up the secret of the access key named in
 * the Authorization header through `lookup` (NULL: unknown key), checks the
 * credential scope against region/service, X-Amz-Date against now_ms (AWS
 * allows 15 minutes of skew) and the signature in constant time.
 * On failure returns MTR_ERR_AUTH and writes AWS's error type into
 * aws_error_type ("MissingAuthenticationTokenException",
 * "IncompleteSignatureException", "UnrecognizedClientException",
 * "InvalidSignatureException") and the reason into errstr. */
typedef const char *(*mtr_sigv4_secret_lookup_fn)(void *ctx, const char *access_key_id);

mtr_err_t mtr_sigv4_verify(const mtr_sigv4_request_t *req, const char *region, const char *service,
                           int64_t now_ms, mtr_sigv4_secret_lookup_fn lookup, void *lookup_ctx,
                           char *aws_error_type, size_t aws_error_type_size, char *errstr,
                           size_t errstr_size);

/* ---- Building blocks shared with `meterd sigv4`, its test-suite runner and
 * the emulator. ---- */
#include <stdbool.h>

/* Stage 1 with the path rule chosen: normalize_path = true removes "." and
 * ".." segments and empty segments (every service but S3);
 * mtr_sigv4_canonical_request() is this with true. */
mtr_err_t mtr_sigv4_canonical_request_opts(const mtr_sigv4_request_t *req, bool normalize_path,
                                           char **canonical, char **signed_headers, char *errstr,
                                           size_t errstr_size);

/* Lower-case hex SHA-256 of data; 65 bytes with the NUL. */
void mtr_sigv4_sha256_hex(const void *data, size_t len, char hex[65]);

/* RFC 3986 percent-encoding of every byte outside A-Z a-z 0-9 - _ . ~
 * (and '/', when keep_slash). Caller frees. */
char *mtr_sigv4_uri_encode(const char *s, size_t len, bool keep_slash);

/* "20150830T123600Z" to Unix milliseconds; MTR_ERR_PARSE if malformed. */
mtr_err_t mtr_sigv4_parse_amz_date(const char *amz_date, int64_t *time_ms);

/* Case-insensitive lookup of the first header named `name`; NULL if absent. */
const char *mtr_sigv4_find_header(const mtr_sigv4_request_t *req, const char *name);

#endif
