/* A small blocking HTTP client for the rare calls of the credential
 * providers (container endpoint, EC2 instance metadata, STS): one request,
 * one response, a timeout, nothing kept between calls.
 *
 * It sits behind a vtable so tests and other callers can put something else
 * on the other side; mtr_http_client_curl() is the libcurl implementation.
 *
 * Ownership: a client is created by its constructor and freed with
 * mtr_http_client_destroy(). A response's body belongs to the caller, who
 * frees it with mtr_http_response_clear().
 * Threads: the libcurl client keeps no state between requests, so any
 * thread may call mtr_http_client_send() at any time.
 * Secrets: request bodies and header values are never copied into errstr;
 * only the method and URL are, so callers never put a secret in a URL. */
#ifndef MTR_HTTP_CLIENT_H
#define MTR_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "emit/sigv4.h"

/* Responses larger than this are cut off with MTR_ERR_PARSE: every answer
 * these endpoints give is a few kilobytes. */
#define MTR_HTTP_CLIENT_MAX_BODY (1024 * 1024)

typedef struct mtr_http_client_request {
    const char *method; /* "GET", "PUT", "POST" */
    const char *url;
    const mtr_http_header_t *headers;
    size_t n_headers;
    const void *body; /* may be NULL */
    size_t body_len;
    int64_t connect_timeout_ms; /* 0: the total timeout */
    int64_t timeout_ms;         /* whole request; 0 means 10 s */
    bool no_proxy;              /* link-local endpoints never go through a proxy */
} mtr_http_client_request_t;

typedef struct mtr_http_response {
    long status;
    char *body; /* NUL-terminated; owned by the caller */
    size_t body_len;
} mtr_http_response_t;

typedef struct mtr_http_client mtr_http_client_t;

typedef struct mtr_http_client_vtable {
    /* Sends one request and waits for the answer. Any HTTP status is MTR_OK
     * (the caller judges it); MTR_ERR_TIMEOUT / MTR_ERR_TRANSPORT when there
     * was no complete answer. On error *resp is left empty. */
    mtr_err_t (*send)(mtr_http_client_t *client, const mtr_http_client_request_t *req,
                      mtr_http_response_t *resp, char *errstr, size_t errstr_size);
    void (*destroy)(mtr_http_client_t *client);
} mtr_http_client_vtable_t;

struct mtr_http_client {
    const mtr_http_client_vtable_t *vt;
};

/* The libcurl client. Returns a new client each call (cheap). */
mtr_http_client_t *mtr_http_client_curl_new(void);

static inline mtr_err_t mtr_http_client_send(mtr_http_client_t *client,
                                             const mtr_http_client_request_t *req,
                                             mtr_http_response_t *resp, char *errstr,
                                             size_t errstr_size)
{
    return client->vt->send(client, req, resp, errstr, errstr_size);
}

static inline void mtr_http_client_destroy(mtr_http_client_t *client)
{
    if (client)
        client->vt->destroy(client);
}

void mtr_http_response_clear(mtr_http_response_t *resp);

#endif
