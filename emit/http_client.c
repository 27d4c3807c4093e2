/* The libcurl implementation of the blocking HTTP client: one easy handle
 * per request, bounded response size, no redirects, no signals. */
#include "emit/http_client.h"

#include <curl/curl.h>
#include <pthread.h>
#include <string.h>

#include "core/mem.h"

typedef struct curl_client {
    mtr_http_client_t base;
} curl_client_t;

typedef struct body_buf {
    char *data;
    size_t len;
    size_t cap;
    bool too_big;
} body_buf_t;

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

/* curl_global_init is not thread-safe; the first request of any thread runs
 * it exactly once. */
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    body_buf_t *b = userdata;
    size_t n = size * nmemb;
    if (b->len + n > MTR_HTTP_CLIENT_MAX_BODY) {
        b->too_big = true;
        return 0; /* aborts the transfer */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->data = mtr_realloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

static mtr_err_t curl_send(mtr_http_client_t *client, const mtr_http_client_request_t *req,
                           mtr_http_response_t *resp, char *errstr, size_t errstr_size)
{
    (void)client;
    memset(resp, 0, sizeof *resp);
    pthread_once(&curl_once, curl_init_once);
    CURL *h = curl_easy_init();
    if (!h)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_TRANSPORT,
                           "%s %s: cannot create a libcurl handle", req->method, req->url);

    int64_t timeout = req->timeout_ms > 0 ? req->timeout_ms : 10000;
    int64_t connect = req->connect_timeout_ms > 0 ? req->connect_timeout_ms : timeout;
    body_buf_t body = {0};
    struct curl_slist *hdrs = NULL;
    char line[4096];
    for (size_t i = 0; i < req->n_headers; i++) {
        snprintf(line, sizeof line, "%s: %s", req->headers[i].name, req->headers[i].value);
        hdrs = curl_slist_append(hdrs, line);
    }
    /* libcurl adds "Expect: 100-continue" to larger bodies; the endpoints
     * here never need it and it costs a round trip. */
    hdrs = curl_slist_append(hdrs, "Expect:");
    /* The line buffer may have held a token; do not leave it on the stack. */
    memset(line, 0, sizeof line);

    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)connect);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
    if (req->no_proxy)
        curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)(req->body ? req->body_len : 0));
    }

    CURLcode rc = curl_easy_perform(h);
    mtr_err_t err = MTR_OK;
    if (body.too_big) {
        err =
            mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE, "%s %s: response larger than %d bytes",
                        req->method, req->url, MTR_HTTP_CLIENT_MAX_BODY);
    } else if (rc == CURLE_OPERATION_TIMEDOUT) {
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_TIMEOUT, "%s %s: no answer within %lld ms",
                          req->method, req->url, (long long)timeout);
    } else if (rc != CURLE_OK) {
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_TRANSPORT, "%s %s: %s", req->method,
                          req->url, curl_easy_strerror(rc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
        resp->body = body.data ? body.data : mtr_strdup("");
        resp->body_len = body.len;
        body.data = NULL;
    }
    mtr_free(body.data);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return err;
}

static void curl_destroy(mtr_http_client_t *client)
{
    mtr_free(client);
}

static const mtr_http_client_vtable_t curl_vtable = {curl_send, curl_destroy};

mtr_http_client_t *mtr_http_client_curl_new(void)
{
    curl_client_t *c = mtr_calloc(1, sizeof *c);
    c->base.vt = &curl_vtable;
    return &c->base;
}

void mtr_http_response_clear(mtr_http_response_t *resp)
{
    mtr_free(resp->body);
    memset(resp, 0, sizeof *resp);
}
