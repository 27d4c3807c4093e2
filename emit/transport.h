/* The emitter's HTTP transport: several POSTs in flight at once, finished
 * requests reported through a callback. It sits behind a vtable so tests can
 * script the other side; mtr_emit_transport_curl_new() is the libcurl multi
 * implementation (keep-alive connections reused across requests, TLS peer
 * and host verification always on, a timeout per request).
 *
 * Ownership: submit() copies the URL, headers and body, so the caller may
 * free them when it returns. A response and everything it points to is
 * valid only during the done callback.
 * Threads: a transport belongs to one thread (the emitter's); no call may
 * overlap another on the same transport. */
#ifndef MTR_EMIT_TRANSPORT_H
#define MTR_EMIT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "emit/sigv4.h"

typedef struct mtr_emit_http_request {
    const char *url;
    const mtr_http_header_t *headers;
    size_t n_headers;
    const char *body;
    size_t body_len;
    int64_t timeout_ms; /* whole exchange; <= 0 means 10 s */
    uint64_t tag;       /* handed back in the response */
} mtr_emit_http_request_t;

typedef struct mtr_emit_http_response {
    uint64_t tag;
    mtr_err_t err;    /* MTR_OK: an HTTP answer arrived, whatever its status */
    long status;      /* HTTP status when err is MTR_OK */
    const char *body; /* NUL-terminated, "" when empty */
    size_t body_len;
    const char *error_type; /* x-amzn-ErrorType header, NULL when absent */
    const char *errstr;     /* what went wrong when err is not MTR_OK */
} mtr_emit_http_response_t;

typedef void (*mtr_emit_transport_done_fn)(void *ctx, const mtr_emit_http_response_t *resp);

typedef struct mtr_emit_transport mtr_emit_transport_t;

typedef struct mtr_emit_transport_vtable {
    /* Starts a request. An error here means it was not started. */
    mtr_err_t (*submit)(mtr_emit_transport_t *t, const mtr_emit_http_request_t *req, char *errstr,
                        size_t errstr_size);
    /* Waits up to timeout_ms for progress and calls done once per request
     * that finished (answered, timed out or failed). Returns how many. */
    int (*poll)(mtr_emit_transport_t *t, int64_t timeout_ms, mtr_emit_transport_done_fn done,
                void *ctx);
    /* Requests started and not yet reported. */
    size_t (*in_flight)(mtr_emit_transport_t *t);
    /* Abandons requests in flight (no callbacks) and frees the transport. */
    void (*destroy)(mtr_emit_transport_t *t);
} mtr_emit_transport_vtable_t;

struct mtr_emit_transport {
    const mtr_emit_transport_vtable_t *vt;
};

typedef struct mtr_emit_curl_options {
    int max_connections;        /* per host; <= 0 means 4 */
    int64_t connect_timeout_ms; /* <= 0 means 5 s */
    /* A CA bundle to trust instead of the system's (a staging endpoint with
     * a private CA). Verification itself cannot be turned off. NULL: system. */
    const char *ca_file;
} mtr_emit_curl_options_t;

/* opts may be NULL for the defaults. */
mtr_emit_transport_t *mtr_emit_transport_curl_new(const mtr_emit_curl_options_t *opts);

/* Responses larger than this are cut off and reported as MTR_ERR_TRANSPORT:
 * a BatchMeterUsage answer for 25 records is a few kilobytes. */
#define MTR_EMIT_MAX_RESPONSE_BYTES (4 * 1024 * 1024)

static inline mtr_err_t mtr_emit_transport_submit(mtr_emit_transport_t *t,
                                                  const mtr_emit_http_request_t *req, char *errstr,
                                                  size_t errstr_size)
{
    return t->vt->submit(t, req, errstr, errstr_size);
}

static inline int mtr_emit_transport_poll(mtr_emit_transport_t *t, int64_t timeout_ms,
                                          mtr_emit_transport_done_fn done, void *ctx)
{
    return t->vt->poll(t, timeout_ms, done, ctx);
}

static inline size_t mtr_emit_transport_in_flight(mtr_emit_transport_t *t)
{
    return t->vt->in_flight(t);
}

static inline void mtr_emit_transport_destroy(mtr_emit_transport_t *t)
{
    if (t)
        t->vt->destroy(t);
}

#endif
