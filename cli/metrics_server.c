/* The /metrics and /healthz endpoint of `meterd run` (metrics_server.h):
 * binding the listen address, and answering the two paths. */
#include "cli/metrics_server.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"

struct metrics_server {
    struct MHD_Daemon *daemon;
    mtr_metrics_t *metrics;
    metrics_health_fn health;
    void *health_ctx;
    uint16_t port;
};

static enum MHD_Result respond(struct MHD_Connection *con, unsigned status, const char *type,
                               char *body, size_t len, bool owned)
{
    struct MHD_Response *r =
        owned ? MHD_create_response_from_buffer_with_free_callback(len, body, mtr_free)
              : MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_COPY);
    if (!r) {
        if (owned)
            mtr_free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    /* A scrape must never be answered from a cache. */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(con, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *con, unsigned status, const char *text)
{
    return respond(con, status, "text/plain; charset=utf-8", (char *)text, strlen(text), false);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)con_cls;
    metrics_server_t *s = cls;
    if (*upload_size) {
        /* Neither path takes a body: drop it and answer below. */
        *upload_size = 0;
        return MHD_YES;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
        return respond_text(con, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    if (!strcmp(url, "/metrics")) {
        size_t len;
        char *text = mtr_metrics_render(s->metrics, &len);
        return respond(con, MHD_HTTP_OK, MTR_METRICS_CONTENT_TYPE, text, len, true);
    }
    if (!strcmp(url, "/healthz")) {
        char reason[512] = "";
        if (s->health(s->health_ctx, reason, sizeof reason))
            return respond_text(con, MHD_HTTP_OK, "ok\n");
        char body[600];
        snprintf(body, sizeof body, "%s\n", reason[0] ? reason : "unhealthy");
        return respond_text(con, MHD_HTTP_SERVICE_UNAVAILABLE, body);
    }
    return respond_text(con, MHD_HTTP_NOT_FOUND, "not found: try /metrics or /healthz\n");
}

/* A listening socket on host:port, or -1 with errstr. Binding here rather
 * than inside libmicrohttpd gives host names and a precise error. */
static int bind_listen(const char *address, const char *host, uint16_t port, int *family,
                       char *errstr, size_t errstr_size)
{
    char service[8];
    snprintf(service, sizeof service, "%u", (unsigned)port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res;
    int gai = getaddrinfo(host, service, &hints, &res);
    if (gai) {
        mtr_err_set(errstr, errstr_size, MTR_ERR_IO, "metrics.listen %s: cannot resolve %s: %s",
                    address, host, gai_strerror(gai));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64)) {
            saved = errno;
            close(fd);
            fd = -1;
            continue;
        }
        *family = ai->ai_family;
    }
    freeaddrinfo(res);
    if (fd < 0)
        mtr_err_set(errstr, errstr_size, MTR_ERR_IO,
                    "metrics.listen %s: cannot listen: %s (pick a free port, or null to turn "
                    "the endpoint off)",
                    address, strerror(saved));
    return fd;
}

mtr_err_t metrics_server_start(const char *listen, mtr_metrics_t *metrics, metrics_health_fn health,
                               void *health_ctx, metrics_server_t **out, char *errstr,
                               size_t errstr_size)
{
    *out = NULL;
    char host[256];
    uint16_t port;
    char why[256];
    if (mtr_metrics_parse_listen(listen, host, sizeof host, &port, why, sizeof why))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG, "metrics.listen %s", why);
    int family = AF_INET;
    int fd = bind_listen(listen, host, port, &family, errstr, errstr_size);
    if (fd < 0)
        return MTR_ERR_IO;

    metrics_server_t *s = mtr_calloc(1, sizeof *s);
    s->metrics = metrics;
    s->health = health;
    s->health_ctx = health_ctx;
    struct sockaddr_storage sa;
    socklen_t sl = sizeof sa;
    if (!getsockname(fd, (struct sockaddr *)&sa, &sl))
        s->port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                           : ((struct sockaddr_in *)&sa)->sin_port);
    /* One polling thread: scrapes are rare and cheap, and answering them
     * one at a time keeps this off the pipeline's cores. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)32, MHD_OPTION_END);
    if (!s->daemon) {
        close(fd);
        mtr_free(s);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_IO,
                           "metrics.listen %s: the HTTP server did not start", listen);
    }
    mtr_info("metrics", "serving http://%s%s%s:%u/metrics and /healthz",
             family == AF_INET6 ? "[" : "", host, family == AF_INET6 ? "]" : "", (unsigned)s->port);
    *out = s;
    return MTR_OK;
}

uint16_t metrics_server_port(const metrics_server_t *server)
{
    return server->port;
}

void metrics_server_stop(metrics_server_t *server)
{
    if (!server)
        return;
    /* Closes the listen socket too (it was handed over at start). */
    MHD_stop_daemon(server->daemon);
    mtr_free(server);
}
