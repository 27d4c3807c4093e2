/* The HTTP endpoint of `meterd run` on metrics.listen (libmicrohttpd):
 *
 *   GET /metrics  the registry as Prometheus text (format 0.0.4)
 *   GET /healthz  200 "ok" while the health callback says so, else 503 with
 *                 its reason as the body
 *
 * HEAD works like GET; other methods get 405, other paths 404.
 *
 * Threads: requests are answered one at a time on the server's own thread,
 * which calls mtr_metrics_render (and so the registry's scrape hooks) and
 * the health callback. metrics_server_start/stop are called by the owning
 * thread; the registry and the health context are borrowed and must
 * outlive the server. */
#ifndef MTR_CLI_METRICS_SERVER_H
#define MTR_CLI_METRICS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/metrics.h"

/* True when healthy; otherwise writes a one-line reason into reason. Runs
 * on the server's thread. */
typedef bool (*metrics_health_fn)(void *ctx, char *reason, size_t reason_size);

typedef struct metrics_server metrics_server_t;

/* Binds listen ("host:port", see mtr_metrics_parse_listen) and starts
 * answering. MTR_ERR_INVALID_ARG for a bad address, MTR_ERR_IO when it
 * cannot be resolved or bound (errstr names the address and the cause). */
mtr_err_t metrics_server_start(const char *listen, mtr_metrics_t *metrics, metrics_health_fn health,
                               void *health_ctx, metrics_server_t **out, char *errstr,
                               size_t errstr_size);
/* The bound port. */
uint16_t metrics_server_port(const metrics_server_t *server);
/* Stops answering, closes the socket and frees the server. NULL: no-op. */
void metrics_server_stop(metrics_server_t *server);

#endif
