/* A SigV4 signing case in the format of AWS's signing test suite: a JSON
 * context (credentials, region, service, timestamp, options) applied to a
 * raw HTTP request, giving every stage of the signature. `meterd sigv4` and
 * the conformance tests run the suite's cases through this, so the command
 * and the tests cannot drift apart.
 *
 * Context fields: credentials {access_key_id, secret_access_key, token?},
 * region, service, timestamp ("2015-08-30T12:36:00Z"), normalize (default
 * true), sign_body (default false: add X-Amz-Content-Sha256), omit_session_token
 * (default false: the token is sent but not signed), expiration_in_seconds
 * (query signing; default 3600).
 *
 * Everything here is owned by the structs and freed by their _free
 * functions. Not shared between threads. */
#ifndef MTR_SIGV4_CASE_H
#define MTR_SIGV4_CASE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "emit/http_request.h"

typedef struct mtr_sigv4_context {
    char *access_key_id;
    char *secret_access_key; /* never printed */
    char *session_token;     /* NULL without one */
    char *region;
    char *service;
    char amz_date[17];
    int64_t expiration_s;
    bool normalize;
    bool sign_body;
    bool omit_session_token;
} mtr_sigv4_context_t;

typedef enum mtr_sigv4_mode {
    MTR_SIGV4_MODE_HEADER, /* Authorization header */
    MTR_SIGV4_MODE_QUERY   /* presigned URL: X-Amz-* query parameters */
} mtr_sigv4_mode_t;

typedef struct mtr_sigv4_stages {
    char *canonical_request;
    char *string_to_sign;
    char signature[65];
    char *authorization;  /* header mode only, else NULL */
    char *signed_request; /* the request as sent, signature included */
} mtr_sigv4_stages_t;

mtr_err_t mtr_sigv4_context_parse(const char *json, mtr_sigv4_context_t *ctx, char *errstr,
                                  size_t errstr_size);
mtr_err_t mtr_sigv4_context_read_file(const char *path, mtr_sigv4_context_t *ctx, char *errstr,
                                      size_t errstr_size);
void mtr_sigv4_context_free(mtr_sigv4_context_t *ctx);

/* Signs a copy of req as the suite does: header mode adds X-Amz-Date (and
 * X-Amz-Security-Token, X-Amz-Content-Sha256 as the context asks) and signs
 * every header; query mode adds the X-Amz-* parameters. */
mtr_err_t mtr_sigv4_case_run(const mtr_sigv4_context_t *ctx, const mtr_http_request_t *req,
                             mtr_sigv4_mode_t mode, mtr_sigv4_stages_t *out, char *errstr,
                             size_t errstr_size);
void mtr_sigv4_stages_free(mtr_sigv4_stages_t *st);

#endif
