/* A raw HTTP/1.1 request read from bytes or a file (the AWS signing test
 * suite's request.txt files, `meterd sigv4 --request`): request line,
 * headers (repeated ones kept in order, folded continuation lines joined
 * with one space as RFC 7230 3.2.4 asks) and body.
 *
 * The request owns all its strings; free it with mtr_http_request_free.
 * Not thread-safe per request; separate requests are independent. */
#ifndef MTR_HTTP_REQUEST_H
#define MTR_HTTP_REQUEST_H

#include <stddef.h>

#include "core/err.h"
#include "emit/sigv4.h"

typedef struct mtr_http_request {
    char *method;
    char *path;  /* request target up to '?', as on the wire */
    char *query; /* after '?', without it; "" when absent */
    char *version;
    mtr_http_header_t *headers; /* name and value strings owned here */
    size_t n_headers;
    char *body;
    size_t body_len;
} mtr_http_request_t;

/* Parses data[0..len). Lines may end in "\r\n" or "\n"; a missing blank line
 * after the headers means an empty body. On error *out is left empty and
 * errstr names the line. */
mtr_err_t mtr_http_request_parse(const char *data, size_t len, mtr_http_request_t *out,
                                 char *errstr, size_t errstr_size);

/* Reads and parses a file; errors name the path. */
mtr_err_t mtr_http_request_read_file(const char *path, mtr_http_request_t *out, char *errstr,
                                     size_t errstr_size);

/* Appends a header (name and value copied). */
void mtr_http_request_add_header(mtr_http_request_t *req, const char *name, const char *value);

/* Removes every header named `name` (case-insensitive). */
void mtr_http_request_remove_header(mtr_http_request_t *req, const char *name);

/* A view for the signer; valid while req is unchanged. */
mtr_sigv4_request_t mtr_http_request_view(const mtr_http_request_t *req);

void mtr_http_request_free(mtr_http_request_t *req);

#endif
