/* Internals of the SigV4 module shared by the signer (sigv4.c) and the
 * verifier (sigv4_verify.c): a growable string and the canonical-request
 * builder restricted to a given list of signed headers. Not for use outside
 * emit/. */
#ifndef MTR_SIGV4_INT_H
#define MTR_SIGV4_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "emit/sigv4.h"

/* Growable NUL-terminated string; start zeroed, take the result with
 * mtr_sigv4_buf_take (caller frees) or release it with mtr_free(b.p). */
typedef struct mtr_sigv4_buf {
    char *p;
    size_t len;
    size_t cap;
} mtr_sigv4_buf_t;

void mtr_sigv4_buf_put(mtr_sigv4_buf_t *b, const char *s, size_t n);
void mtr_sigv4_buf_puts(mtr_sigv4_buf_t *b, const char *s);
void mtr_sigv4_buf_putc(mtr_sigv4_buf_t *b, char c);
char *mtr_sigv4_buf_take(mtr_sigv4_buf_t *b);

/* The canonical request. only_signed == NULL signs every header of the
 * request except those AWS SDKs leave unsigned (authorization, expect,
 * user-agent, x-amzn-trace-id). Otherwise only_signed is a SignedHeaders
 * value ("host;x-amz-date") and exactly those headers are used; a name in
 * it that the request lacks gives MTR_ERR_NOT_FOUND naming the header. */
mtr_err_t mtr_sigv4_canonical_build(const mtr_sigv4_request_t *req, bool normalize_path,
                                    const char *only_signed, char **canonical,
                                    char **signed_headers, char *errstr, size_t errstr_size);

#endif
