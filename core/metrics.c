/* The metrics registry (metrics.h): families with atomic series, scrape
 * hooks, the Prometheus 0.0.4 text renderer with its escaping rules, and the
 * listen-address parser shared by the config validator and the server. */
#include "core/metrics.h"

#include <assert.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

struct mtr_metric {
    char *name;
    char *help;
    char *label; /* NULL: one unlabelled series */
    mtr_metric_type_t type;
    char **values;
    size_t n_series;
    /* Counters: the count. Gauges: the bits of a double, so that set and
     * add stay lock-free without relying on _Atomic double support. */
    _Atomic uint64_t *cells;
};

typedef struct scrape_hook {
    mtr_metrics_scrape_fn fn;
    void *ctx;
} scrape_hook_t;

struct mtr_metrics {
    pthread_mutex_t mu;
    mtr_metric_t **families; /* each allocated alone: pointers stay valid */
    size_t n_families, cap_families;
    scrape_hook_t *hooks;
    size_t n_hooks, cap_hooks;
};

/* ---- names ---------------------------------------------------------------- */

static bool is_metric_name(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_' || *s == ':'))
        return false;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_' || *p == ':') || (unsigned char)*p >= 0x80)
            return false;
    return true;
}

static bool is_label_name(const char *s)
{
    if (!s || !(isalpha((unsigned char)*s) || *s == '_') || !strncmp(s, "__", 2))
        return false;
    for (const char *p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_') || (unsigned char)*p >= 0x80)
            return false;
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !memcmp(s + n - k, suffix, k);
}

/* ---- registry ---------------------------------------------------------------- */

mtr_metrics_t *mtr_metrics_new(void)
{
    mtr_metrics_t *m = mtr_calloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

static void metric_free(mtr_metric_t *f)
{
    for (size_t i = 0; f->label && i < f->n_series; i++)
        mtr_free(f->values[i]);
    mtr_free(f->values);
    mtr_free(f->cells);
    mtr_free(f->name);
    mtr_free(f->help);
    mtr_free(f->label);
    mtr_free(f);
}

void mtr_metrics_free(mtr_metrics_t *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_families; i++)
        metric_free(m->families[i]);
    mtr_free(m->families);
    mtr_free(m->hooks);
    pthread_mutex_destroy(&m->mu);
    mtr_free(m);
}

static mtr_err_t check_desc(const mtr_metric_desc_t *d, char *errstr, size_t errstr_size)
{
    const char *name = d->name ? d->name : "(null)";
    if (!is_metric_name(d->name))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "metric name \"%s\" is not [a-zA-Z_:][a-zA-Z0-9_:]*", name);
    if (!d->help || !*d->help)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "metric %s: a help text is required", name);
    if (d->type == MTR_METRIC_COUNTER && !ends_with(name, "_total"))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "metric %s: counter names end in _total", name);
    if (d->type != MTR_METRIC_COUNTER && d->type != MTR_METRIC_GAUGE)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG, "metric %s: unknown type %d",
                           name, (int)d->type);
    if (!d->label)
        return MTR_OK;
    if (!is_label_name(d->label))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "metric %s: label name \"%s\" is not [a-zA-Z_][a-zA-Z0-9_]* or "
                           "starts with __",
                           name, d->label);
    if (!d->n_values || !d->values)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "metric %s: label %s needs at least one value", name, d->label);
    for (size_t i = 0; i < d->n_values; i++) {
        if (!d->values[i])
            return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                               "metric %s: label value %zu is NULL", name, i);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(d->values[i], d->values[j]))
                return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                                   "metric %s: label value %s=\"%s\" given twice", name, d->label,
                                   d->values[i]);
    }
    return MTR_OK;
}

mtr_err_t mtr_metrics_add(mtr_metrics_t *m, const mtr_metric_desc_t *desc, mtr_metric_t **out,
                          char *errstr, size_t errstr_size)
{
    *out = NULL;
    mtr_err_t err = check_desc(desc, errstr, errstr_size);
    if (err)
        return err;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_families; i++)
        if (!strcmp(m->families[i]->name, desc->name)) {
            pthread_mutex_unlock(&m->mu);
            return mtr_err_set(errstr, errstr_size, MTR_ERR_EXISTS, "metric %s is registered twice",
                               desc->name);
        }
    mtr_metric_t *f = mtr_calloc(1, sizeof *f);
    f->name = mtr_strdup(desc->name);
    f->help = mtr_strdup(desc->help);
    f->type = desc->type;
    f->n_series = desc->label ? desc->n_values : 1;
    if (desc->label) {
        f->label = mtr_strdup(desc->label);
        f->values = mtr_calloc(f->n_series, sizeof *f->values);
        for (size_t i = 0; i < f->n_series; i++)
            f->values[i] = mtr_strdup(desc->values[i]);
    }
    /* calloc gives 0 for counters and the bits of +0.0 for gauges. */
    f->cells = mtr_calloc(f->n_series, sizeof *f->cells);
    if (m->n_families == m->cap_families) {
        m->cap_families = m->cap_families ? 2 * m->cap_families : 16;
        m->families = mtr_realloc(m->families, m->cap_families * sizeof *m->families);
    }
    m->families[m->n_families++] = f;
    pthread_mutex_unlock(&m->mu);
    *out = f;
    return MTR_OK;
}

void mtr_metrics_on_scrape(mtr_metrics_t *m, mtr_metrics_scrape_fn fn, void *ctx)
{
    pthread_mutex_lock(&m->mu);
    if (m->n_hooks == m->cap_hooks) {
        m->cap_hooks = m->cap_hooks ? 2 * m->cap_hooks : 4;
        m->hooks = mtr_realloc(m->hooks, m->cap_hooks * sizeof *m->hooks);
    }
    m->hooks[m->n_hooks++] = (scrape_hook_t){fn, ctx};
    pthread_mutex_unlock(&m->mu);
}

void mtr_metrics_clear_scrape(mtr_metrics_t *m)
{
    pthread_mutex_lock(&m->mu);
    m->n_hooks = 0;
    pthread_mutex_unlock(&m->mu);
}

/* ---- updates ------------------------------------------------------------------- */

static uint64_t double_bits(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits;
}

static double bits_double(uint64_t bits)
{
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

void mtr_metric_inc(mtr_metric_t *metric, size_t series, uint64_t n)
{
    assert(metric->type == MTR_METRIC_COUNTER && series < metric->n_series);
    atomic_fetch_add_explicit(&metric->cells[series], n, memory_order_relaxed);
}

void mtr_metric_counter_set(mtr_metric_t *metric, size_t series, uint64_t total)
{
    assert(metric->type == MTR_METRIC_COUNTER && series < metric->n_series);
    atomic_store_explicit(&metric->cells[series], total, memory_order_relaxed);
}

void mtr_metric_gauge_set(mtr_metric_t *metric, size_t series, double value)
{
    assert(metric->type == MTR_METRIC_GAUGE && series < metric->n_series);
    atomic_store_explicit(&metric->cells[series], double_bits(value), memory_order_relaxed);
}

void mtr_metric_gauge_add(mtr_metric_t *metric, size_t series, double delta)
{
    assert(metric->type == MTR_METRIC_GAUGE && series < metric->n_series);
    _Atomic uint64_t *cell = &metric->cells[series];
    uint64_t old = atomic_load_explicit(cell, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(cell, &old, double_bits(bits_double(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

uint64_t mtr_metric_counter_value(const mtr_metric_t *metric, size_t series)
{
    assert(metric->type == MTR_METRIC_COUNTER && series < metric->n_series);
    return atomic_load_explicit(&metric->cells[series], memory_order_relaxed);
}

double mtr_metric_gauge_value(const mtr_metric_t *metric, size_t series)
{
    assert(metric->type == MTR_METRIC_GAUGE && series < metric->n_series);
    return bits_double(atomic_load_explicit(&metric->cells[series], memory_order_relaxed));
}

/* ---- rendering ------------------------------------------------------------------ */

typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

static void put(buf_t *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap)
            b->cap = b->cap ? 2 * b->cap : 4096;
        b->p = mtr_realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

/* The format's escapes: help text escapes backslash and newline; label
 * values also the double quote. Everything else is copied as is (UTF-8). */
static void put_escaped(buf_t *b, const char *s, bool quote)
{
    const char *run = s;
    for (const char *p = s; *p; p++) {
        const char *esc = NULL;
        if (*p == '\\')
            esc = "\\\\";
        else if (*p == '\n')
            esc = "\\n";
        else if (*p == '"' && quote)
            esc = "\\\"";
        if (!esc)
            continue;
        put(b, run, (size_t)(p - run));
        puts_(b, esc);
        run = p + 1;
    }
    puts_(b, run);
}

/* Shortest text that reads back as the same double; Prometheus spells the
 * special values NaN, +Inf and -Inf. */
static void format_double(double v, char *out, size_t size)
{
    if (isnan(v)) {
        snprintf(out, size, "NaN");
    } else if (isinf(v)) {
        snprintf(out, size, v > 0 ? "+Inf" : "-Inf");
    } else {
        snprintf(out, size, "%.15g", v);
        if (strtod(out, NULL) != v)
            snprintf(out, size, "%.17g", v);
    }
}

static void render_family(buf_t *b, const mtr_metric_t *f)
{
    puts_(b, "# HELP ");
    puts_(b, f->name);
    puts_(b, " ");
    put_escaped(b, f->help, false);
    puts_(b, "\n# TYPE ");
    puts_(b, f->name);
    puts_(b, f->type == MTR_METRIC_COUNTER ? " counter\n" : " gauge\n");
    for (size_t i = 0; i < f->n_series; i++) {
        puts_(b, f->name);
        if (f->label) {
            puts_(b, "{");
            puts_(b, f->label);
            puts_(b, "=\"");
            put_escaped(b, f->values[i], true);
            puts_(b, "\"}");
        }
        char num[40];
        if (f->type == MTR_METRIC_COUNTER)
            snprintf(num, sizeof num, " %llu\n",
                     (unsigned long long)mtr_metric_counter_value(f, i));
        else {
            num[0] = ' ';
            format_double(mtr_metric_gauge_value(f, i), num + 1, sizeof num - 2);
            strcat(num, "\n");
        }
        puts_(b, num);
    }
}

char *mtr_metrics_render(mtr_metrics_t *m, size_t *len)
{
    buf_t b = {0};
    put(&b, "", 0);
    /* One lock for hooks and text: two scrapes at once cannot interleave
     * their hooks' stores, so a counter never reads lower than it did in
     * an earlier scrape. */
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_hooks; i++)
        m->hooks[i].fn(m->hooks[i].ctx);
    for (size_t i = 0; i < m->n_families; i++)
        render_family(&b, m->families[i]);
    pthread_mutex_unlock(&m->mu);
    if (len)
        *len = b.len;
    return b.p;
}

/* ---- listen addresses --------------------------------------------------------- */

mtr_err_t mtr_metrics_parse_listen(const char *text, char *host, size_t host_size, uint16_t *port,
                                   char *errstr, size_t errstr_size)
{
    const char *h, *h_end, *p;
    bool v6 = text[0] == '[';
    if (v6) {
        h = text + 1;
        h_end = strchr(h, ']');
        if (!h_end || h_end[1] != ':')
            return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                               "\"%s\": expected [ipv6-address]:port such as [::1]:9464", text);
        p = h_end + 2;
    } else {
        h = text;
        h_end = strrchr(text, ':');
        if (!h_end)
            return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                               "\"%s\": expected host:port such as 127.0.0.1:9464", text);
        if (memchr(h, ':', (size_t)(h_end - h)))
            return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                               "\"%s\": write an IPv6 address in brackets, e.g. [::1]:9464", text);
        p = h_end + 1;
    }
    size_t hlen = (size_t)(h_end - h);
    if (!hlen)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "\"%s\": the host is missing (0.0.0.0:PORT listens on every "
                           "interface, 127.0.0.1:PORT on this machine only)",
                           text);
    for (size_t i = 0; i < hlen; i++) {
        unsigned char c = (unsigned char)h[i];
        bool ok = v6 ? (isxdigit(c) || c == ':' || c == '.') : (isalnum(c) || c == '.' || c == '-');
        if (!ok)
            return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                               "\"%s\": the host \"%.*s\" is not a %s", text, (int)hlen, h,
                               v6 ? "bracketed IPv6 address" : "host name or IPv4 address");
    }
    unsigned long value = 0;
    size_t digits = strspn(p, "0123456789");
    if (digits > 0 && digits <= 5)
        value = strtoul(p, NULL, 10);
    if (!digits || p[digits] || digits > 5 || value < 1 || value > 65535)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "\"%s\": the port must be a number from 1 to 65535", text);
    if (hlen + 1 > host_size)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                           "\"%s\": the host is longer than %zu characters", text, host_size - 1);
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)value;
    return MTR_OK;
}
