/* The libcurl multi transport: one easy handle per request, connections
 * kept alive in the multi handle's cache and reused, TLS verification on. */
#include "emit/transport.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"

typedef struct xfer {
    struct xfer *prev, *next; /* the transport's list of requests in flight */
    CURL *easy;
    struct curl_slist *headers;
    uint64_t tag;
    char *body;
    size_t len;
    size_t cap;
    bool too_big;
    char error_type[128];
    bool has_error_type;
    char curl_err[CURL_ERROR_SIZE];
} xfer_t;

typedef struct curl_transport {
    mtr_emit_transport_t base;
    CURLM *multi;
    xfer_t *head; /* requests in flight */
    size_t in_flight;
    int64_t connect_timeout_ms;
    char *ca_file;
} curl_transport_t;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

/* curl_global_init is not thread-safe: run it once, whoever comes first. */
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    xfer_t *x = userp;
    size_t n = size * nmemb;
    if (x->len + n > MTR_EMIT_MAX_RESPONSE_BYTES) {
        x->too_big = true;
        return 0; /* makes curl fail the transfer with CURLE_WRITE_ERROR */
    }
    if (x->len + n + 1 > x->cap) {
        x->cap = (x->len + n + 1) * 2;
        x->body = mtr_realloc(x->body, x->cap);
    }
    memcpy(x->body + x->len, data, n);
    x->len += n;
    x->body[x->len] = '\0';
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    xfer_t *x = userp;
    size_t n = size * nmemb;
    static const char name[] = "x-amzn-errortype:";
    if (n > sizeof name - 1 && strncasecmp(data, name, sizeof name - 1) == 0) {
        const char *v = data + sizeof name - 1;
        size_t vlen = n - (sizeof name - 1);
        while (vlen > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vlen--;
        }
        while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
            vlen--;
        if (vlen >= sizeof x->error_type)
            vlen = sizeof x->error_type - 1;
        memcpy(x->error_type, v, vlen);
        x->error_type[vlen] = '\0';
        x->has_error_type = true;
    }
    return n;
}

static void xfer_free(xfer_t *x)
{
    curl_slist_free_all(x->headers);
    curl_easy_cleanup(x->easy);
    mtr_free(x->body);
    mtr_free(x);
}

static mtr_err_t curl_submit(mtr_emit_transport_t *base, const mtr_emit_http_request_t *req,
                             char *errstr, size_t errstr_size)
{
    curl_transport_t *t = (curl_transport_t *)base;
    xfer_t *x = mtr_calloc(1, sizeof *x);
    x->tag = req->tag;
    x->easy = curl_easy_init();
    if (!x->easy) {
        mtr_free(x);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_TRANSPORT,
                           "emit: libcurl could not create a handle for %s", req->url);
    }
    char line[8192];
    for (size_t i = 0; i < req->n_headers; i++) {
        snprintf(line, sizeof line, "%s: %s", req->headers[i].name, req->headers[i].value);
        x->headers = curl_slist_append(x->headers, line);
    }
    /* No "Expect: 100-continue" round trip before bodies over 1 KiB. */
    x->headers = curl_slist_append(x->headers, "Expect:");

    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)(req->timeout_ms > 0 ? req->timeout_ms : 10000));
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)t->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    /* Billing data and signed requests: the peer is always verified. */
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (t->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, t->ca_file);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->curl_err);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);

    CURLMcode mc = curl_multi_add_handle(t->multi, e);
    if (mc != CURLM_OK) {
        xfer_free(x);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_TRANSPORT, "emit: starting POST %s: %s",
                           req->url, curl_multi_strerror(mc));
    }
    x->next = t->head;
    if (t->head)
        t->head->prev = x;
    t->head = x;
    t->in_flight++;
    return MTR_OK;
}

static void unlink_xfer(curl_transport_t *t, xfer_t *x)
{
    if (x->prev)
        x->prev->next = x->next;
    else
        t->head = x->next;
    if (x->next)
        x->next->prev = x->prev;
    t->in_flight--;
}

static void report(curl_transport_t *t, CURLMsg *msg, mtr_emit_transport_done_fn done, void *ctx)
{
    xfer_t *x = NULL;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    CURLcode rc = msg->data.result;
    char errbuf[CURL_ERROR_SIZE + 128];
    mtr_emit_http_response_t resp = {.tag = x->tag, .err = MTR_OK};
    if (rc == CURLE_OK) {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &resp.status);
        resp.body = x->body ? x->body : "";
        resp.body_len = x->len;
        resp.error_type = x->has_error_type ? x->error_type : NULL;
    } else {
        char *url = NULL;
        curl_easy_getinfo(x->easy, CURLINFO_EFFECTIVE_URL, &url);
        if (x->too_big)
            snprintf(errbuf, sizeof errbuf, "POST %s: response larger than %d bytes",
                     url ? url : "?", MTR_EMIT_MAX_RESPONSE_BYTES);
        else
            snprintf(errbuf, sizeof errbuf, "POST %s: %s", url ? url : "?",
                     x->curl_err[0] ? x->curl_err : curl_easy_strerror(rc));
        resp.err = rc == CURLE_OPERATION_TIMEDOUT ? MTR_ERR_TIMEOUT : MTR_ERR_TRANSPORT;
        resp.errstr = errbuf;
        resp.body = "";
    }
    curl_multi_remove_handle(t->multi, x->easy);
    unlink_xfer(t, x);
    done(ctx, &resp);
    xfer_free(x);
}

static int drain(curl_transport_t *t, mtr_emit_transport_done_fn done, void *ctx)
{
    int finished = 0, queued;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(t->multi, &queued)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        report(t, msg, done, ctx);
        finished++;
    }
    return finished;
}

static int curl_poll(mtr_emit_transport_t *base, int64_t timeout_ms,
                     mtr_emit_transport_done_fn done, void *ctx)
{
    curl_transport_t *t = (curl_transport_t *)base;
    int running;
    curl_multi_perform(t->multi, &running);
    int finished = drain(t, done, ctx);
    if (finished > 0 || t->in_flight == 0)
        return finished;
    if (timeout_ms < 0)
        timeout_ms = 0;
    curl_multi_poll(t->multi, NULL, 0, (int)(timeout_ms > 60000 ? 60000 : timeout_ms), NULL);
    curl_multi_perform(t->multi, &running);
    return drain(t, done, ctx);
}

static size_t curl_in_flight(mtr_emit_transport_t *base)
{
    return ((curl_transport_t *)base)->in_flight;
}

static void curl_destroy(mtr_emit_transport_t *base)
{
    curl_transport_t *t = (curl_transport_t *)base;
    while (t->head) {
        xfer_t *x = t->head;
        curl_multi_remove_handle(t->multi, x->easy);
        unlink_xfer(t, x);
        xfer_free(x);
    }
    curl_multi_cleanup(t->multi);
    mtr_free(t->ca_file);
    mtr_free(t);
}

static const mtr_emit_transport_vtable_t curl_vtable = {
    .submit = curl_submit,
    .poll = curl_poll,
    .in_flight = curl_in_flight,
    .destroy = curl_destroy,
};

mtr_emit_transport_t *mtr_emit_transport_curl_new(const mtr_emit_curl_options_t *opts)
{
    pthread_once(&curl_once, curl_init_once);
    curl_transport_t *t = mtr_calloc(1, sizeof *t);
    t->base.vt = &curl_vtable;
    t->multi = curl_multi_init();
    int max_conn = opts && opts->max_connections > 0 ? opts->max_connections : 4;
    t->connect_timeout_ms = opts && opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : 5000;
    t->ca_file = opts && opts->ca_file ? mtr_strdup(opts->ca_file) : NULL;
    curl_multi_setopt(t->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)max_conn);
    /* Keep at least as many idle connections as may be busy at once. */
    curl_multi_setopt(t->multi, CURLMOPT_MAXCONNECTS, (long)max_conn);
    return &t->base;
}
