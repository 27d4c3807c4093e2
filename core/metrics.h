/* The metrics registry: counters and gauges that on-call people scrape in
 * Prometheus text exposition format 0.0.4 (`meterd run` serves it on
 * metrics.listen, see cli/metrics_server.h).
 *
 * A metric is a family registered once at start-up with a fixed label set:
 * at most one label name and the list of its values, one series each (no
 * label: one series). Series are addressed by index in that list, so hot
 * paths update them without lookups or locks:
 *
 *   - counters are uint64 atomics: mtr_metric_inc from any thread, or
 *     mtr_metric_counter_set to mirror a total kept elsewhere;
 *   - gauges are doubles held in atomics: mtr_metric_gauge_set/add.
 *
 * Figures that already live in module stats structs are not copied on every
 * event: a scrape hook (mtr_metrics_on_scrape) reads them once per scrape
 * and stores them into the series just before the text is made.
 *
 * Names: metric names match [a-zA-Z_:][a-zA-Z0-9_:]*, counters end in
 * _total; label names match [a-zA-Z_][a-zA-Z0-9_]* and do not start with
 * "__"; label values and help texts are any UTF-8 and are escaped on output.
 *
 * Ownership and threads: the registry owns its families and copies of every
 * string it is given; mtr_metrics_free frees them all, after which no
 * mtr_metric_t may be used. Registration, scrape hooks and rendering are
 * serialised by the registry's lock and may be called from any thread;
 * updates are lock-free and may be called from any thread at any time. */
#ifndef MTR_METRICS_H
#define MTR_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

typedef struct mtr_metrics mtr_metrics_t;
typedef struct mtr_metric mtr_metric_t;

typedef enum mtr_metric_type { MTR_METRIC_COUNTER, MTR_METRIC_GAUGE } mtr_metric_type_t;

typedef struct mtr_metric_desc {
    const char *name; /* e.g. "meterd_events_rejected_total" */
    const char *help; /* one line for the # HELP line */
    mtr_metric_type_t type;
    const char *label;         /* label name, or NULL: one unlabelled series */
    const char *const *values; /* label values, one series each, distinct */
    size_t n_values;
} mtr_metric_desc_t;

/* Called under the registry's lock at the start of every render, to store
 * figures kept elsewhere into the registry's series. */
typedef void (*mtr_metrics_scrape_fn)(void *ctx);

mtr_metrics_t *mtr_metrics_new(void);
void mtr_metrics_free(mtr_metrics_t *m);

/* Registers a family (strings copied). *out is owned by the registry.
 * MTR_ERR_INVALID_ARG for a bad or missing name, help, label name or label
 * value list, a counter not ending in _total, or a repeated label value;
 * MTR_ERR_EXISTS for a name registered before. */
mtr_err_t mtr_metrics_add(mtr_metrics_t *m, const mtr_metric_desc_t *desc, mtr_metric_t **out,
                          char *errstr, size_t errstr_size);

/* Adds fn(ctx) to the hooks run before each render, in registration order.
 * ctx must stay valid until mtr_metrics_free or mtr_metrics_clear_scrape. */
void mtr_metrics_on_scrape(mtr_metrics_t *m, mtr_metrics_scrape_fn fn, void *ctx);
/* Removes every hook; returns once no hook is running. */
void mtr_metrics_clear_scrape(mtr_metrics_t *m);

/* Series updates. series < the family's number of series; counters only
 * for inc/counter_set, gauges only for gauge_*. */
void mtr_metric_inc(mtr_metric_t *metric, size_t series, uint64_t n);
void mtr_metric_counter_set(mtr_metric_t *metric, size_t series, uint64_t total);
void mtr_metric_gauge_set(mtr_metric_t *metric, size_t series, double value);
void mtr_metric_gauge_add(mtr_metric_t *metric, size_t series, double delta);

uint64_t mtr_metric_counter_value(const mtr_metric_t *metric, size_t series);
double mtr_metric_gauge_value(const mtr_metric_t *metric, size_t series);

/* Runs the scrape hooks and returns every family as exposition text
 * (families in registration order, series in label-value order), NUL
 * terminated; *len (may be NULL) gets its length. The caller frees the text
 * with mtr_free. */
char *mtr_metrics_render(mtr_metrics_t *m, size_t *len);

/* The Content-Type of the rendered text. */
#define MTR_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Splits a listen address "host:port" ("127.0.0.1:9464", "localhost:9464",
 * "[::1]:9464", "0.0.0.0:9464") into host (without brackets) and port
 * (1-65535). MTR_ERR_INVALID_ARG with a message saying what is wrong. */
mtr_err_t mtr_metrics_parse_listen(const char *text, char *host, size_t host_size, uint16_t *port,
                                   char *errstr, size_t errstr_size);

#endif
