/* The emulator's server: libmicrohttpd lifecycle (one thread per
 * connection, so injected latency on one request does not hold back the
 * others), request bodies, routing, the AWS JSON 1.1 protocol checks
 * (SigV4, X-Amz-Target, Content-Type, size) and the BatchMeterUsage answer.
 * The contract lives in api.c, the records in store.c, the dice in
 * faults.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <microhttpd.h>

#include "core/log.h"
#include "core/mem.h"
#include "emit/sigv4.h"
#include "emulator/emulator_int.h"

#define MODULE          "emulator"
#define TARGET_PREFIX   "AWSMPMeteringService."
#define TARGET_BATCH    TARGET_PREFIX "BatchMeterUsage"
#define CONTENT_TYPE    "application/x-amz-json-1.1"
#define SIGNING_SERVICE "aws-marketplace"
/* AWS: "BatchMeterUsage requests must be less than 1MB"; the stricter
 * decimal reading. */
#define MAX_BODY_BYTES  1000000
#define MAX_HEADERS     64
#define DEFAULT_AGE_MS  (6 * 3600 * 1000LL)
#define DEFAULT_SKEW_MS (5 * 60 * 1000LL)

struct mtr_emulator {
    struct MHD_Daemon *daemon;
    const mtr_config_t *cfg;
    mtr_clock_t *clock;
    char *region;
    mtr_emulator_credential_t *creds;
    size_t n_creds;
    mtr_emu_contract_t contract;
    mtr_emu_store_t *store;
    mtr_emu_faults_t faults;
    mtr_emu_counters_t counters;
    uint16_t port;
    _Atomic uint64_t request_seq;
};

/* Per request: the raw request target (for SigV4's path and query) and the
 * body as it arrives. */
typedef struct conn_ctx {
    char *raw_uri;
    bool headers_seen;
    char *body;
    size_t len, cap;
    bool too_large;
} conn_ctx_t;

typedef struct header_list {
    mtr_http_header_t items[MAX_HEADERS];
    size_t n;
    bool overflow;
} header_list_t;

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con)
{
    (void)cls;
    (void)con;
    conn_ctx_t *ctx = mtr_calloc(1, sizeof *ctx);
    ctx->raw_uri = mtr_strdup(uri ? uri : "/");
    return ctx;
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)con;
    (void)toe;
    conn_ctx_t *ctx = *con_cls;
    if (!ctx)
        return;
    mtr_free(ctx->raw_uri);
    mtr_free(ctx->body);
    mtr_free(ctx);
    *con_cls = NULL;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    header_list_t *h = cls;
    if (h->n == MAX_HEADERS) {
        h->overflow = true;
        return MHD_NO;
    }
    h->items[h->n].name = key;
    h->items[h->n].value = value ? value : "";
    h->n++;
    return MHD_YES;
}

static enum MHD_Result send_json(struct MHD_Connection *con, unsigned status, const char *body,
                                 const char *error_type, uint64_t request_seq)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    char request_id[40];
    snprintf(request_id, sizeof request_id, "00000000-0000-4000-8000-%012llx",
             (unsigned long long)request_seq);
    MHD_add_response_header(r, "Content-Type", CONTENT_TYPE);
    MHD_add_response_header(r, "x-amzn-RequestId", request_id);
    if (error_type)
        MHD_add_response_header(r, "x-amzn-ErrorType", error_type);
    enum MHD_Result ret = MHD_queue_response(con, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_cjson(mtr_emulator_t *em, struct MHD_Connection *con, cJSON *o)
{
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    enum MHD_Result ret =
        send_json(con, 200, text ? text : "{}", NULL, atomic_fetch_add(&em->request_seq, 1));
    cJSON_free(text);
    return ret;
}

static enum MHD_Result send_error(mtr_emulator_t *em, struct MHD_Connection *con,
                                  const mtr_emu_error_t *err)
{
    char *body = mtr_emu_error_body(err);
    enum MHD_Result ret =
        send_json(con, (unsigned)mtr_emu_error_status(err->type), body,
                  mtr_emu_error_name(err->type), atomic_fetch_add(&em->request_seq, 1));
    mtr_free(body);
    return ret;
}

static const char *lookup_secret(void *vctx, const char *access_key_id)
{
    mtr_emulator_t *em = vctx;
    for (size_t i = 0; i < em->n_creds; i++)
        if (!strcmp(em->creds[i].access_key_id, access_key_id))
            return em->creds[i].secret_access_key;
    return NULL;
}

static bool subscribed(const mtr_config_t *cfg, const mtr_emu_record_t *r)
{
    if (cfg->emulator.n_customers == 0)
        return true;
    const char *who = r->customer_identifier ? r->customer_identifier : r->customer_account_id;
    for (size_t i = 0; i < cfg->emulator.n_customers; i++)
        if (!strcmp(cfg->emulator.customers[i], who))
            return true;
    return false;
}

/* Signature, operation and media type, in AWS's order: who is calling
 * before what they ask for. */
static bool check_protocol(mtr_emulator_t *em, struct MHD_Connection *con, conn_ctx_t *ctx,
                           mtr_emu_error_t *err)
{
    if (ctx->too_large)
        return mtr_emu_fail(err, MTR_EMU_E_TOO_LARGE,
                            "request body is %zu bytes or more; BatchMeterUsage requests must be "
                            "less than %d bytes",
                            ctx->len, MAX_BODY_BYTES);
    header_list_t h = {.n = 0};
    MHD_get_connection_values(con, MHD_HEADER_KIND, collect_header, &h);
    if (h.overflow)
        return mtr_emu_fail(err, MTR_EMU_E_INCOMPLETE_SIGNATURE, "more than %d request headers",
                            MAX_HEADERS);
    char *query = strchr(ctx->raw_uri, '?');
    char *path =
        mtr_strndup(ctx->raw_uri, query ? (size_t)(query - ctx->raw_uri) : strlen(ctx->raw_uri));
    mtr_sigv4_request_t req = {.method = "POST",
                               .path = path,
                               .query = query ? query + 1 : NULL,
                               .headers = h.items,
                               .n_headers = h.n,
                               .body = ctx->body ? ctx->body : "",
                               .body_len = ctx->len};
    char aws_type[64] = "", reason[256] = "";
    mtr_err_t rc =
        mtr_sigv4_verify(&req, em->region, SIGNING_SERVICE, mtr_clock_wall_ms(em->clock),
                         lookup_secret, em, aws_type, sizeof aws_type, reason, sizeof reason);
    mtr_free(path);
    if (rc != MTR_OK)
        return mtr_emu_fail(err, mtr_emu_error_from_auth_name(aws_type), "%s", reason);

    const char *target = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "X-Amz-Target");
    if (!target)
        return mtr_emu_fail(err, MTR_EMU_E_UNKNOWN_OPERATION,
                            "missing X-Amz-Target (expected " TARGET_BATCH ")");
    if (strcmp(target, TARGET_BATCH))
        return mtr_emu_fail(err, MTR_EMU_E_UNKNOWN_OPERATION,
                            "X-Amz-Target \"%.100s\": this emulator implements only " TARGET_BATCH,
                            target);
    const char *ctype = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Content-Type");
    if (!ctype || strcasecmp(ctype, CONTENT_TYPE))
        return mtr_emu_fail(err, MTR_EMU_E_UNSUPPORTED_MEDIA_TYPE,
                            "Content-Type \"%.100s\": AWS JSON 1.1 requires " CONTENT_TYPE,
                            ctype ? ctype : "(none)");
    return true;
}

/* Applies a parsed batch under the store lock and builds the answer. */
static cJSON *apply_batch(mtr_emulator_t *em, mtr_emu_batch_t *b)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *results = cJSON_AddArrayToObject(out, "Results");
    cJSON *unprocessed = cJSON_AddArrayToObject(out, "UnprocessedRecords");
    double unprocessed_ratio = mtr_emu_faults_get(&em->faults).unprocessed_ratio;
    mtr_emu_store_lock(em->store);
    for (size_t i = 0; i < b->n_records; i++) {
        cJSON *echo = cJSON_Duplicate(b->echo[i], true);
        if (mtr_emu_faults_roll(&em->faults, unprocessed_ratio)) {
            atomic_fetch_add(&em->counters.records_unprocessed, 1);
            cJSON_AddItemToArray(unprocessed, echo);
            continue;
        }
        cJSON *res = cJSON_CreateObject();
        cJSON_AddItemToObject(res, "UsageRecord", echo);
        if (!subscribed(em->cfg, &b->records[i])) {
            atomic_fetch_add(&em->counters.records_not_subscribed, 1);
            cJSON_AddStringToObject(res, "Status", "CustomerNotSubscribed");
        } else {
            char id[37];
            switch (mtr_emu_store_apply(em->store, &b->records[i], id)) {
            case MTR_EMU_STATUS_SUCCESS:
                atomic_fetch_add(&em->counters.records_success, 1);
                cJSON_AddStringToObject(res, "MeteringRecordId", id);
                cJSON_AddStringToObject(res, "Status", "Success");
                break;
            case MTR_EMU_STATUS_IDEMPOTENT:
                atomic_fetch_add(&em->counters.records_idempotent, 1);
                cJSON_AddStringToObject(res, "MeteringRecordId", id);
                cJSON_AddStringToObject(res, "Status", "Success");
                break;
            case MTR_EMU_STATUS_DUPLICATE:
                atomic_fetch_add(&em->counters.records_duplicate, 1);
                cJSON_AddStringToObject(res, "Status", "DuplicateRecord");
                break;
            }
        }
        cJSON_AddItemToArray(results, res);
    }
    mtr_emu_store_unlock(em->store);
    return out;
}

static enum MHD_Result handle_batch(mtr_emulator_t *em, struct MHD_Connection *con, conn_ctx_t *ctx)
{
    atomic_fetch_add(&em->counters.requests, 1);
    mtr_emulator_faults_t f = mtr_emu_faults_get(&em->faults);
    if (f.latency_ms > 0) {
        struct timespec ts = {.tv_sec = f.latency_ms / 1000,
                              .tv_nsec = (long)(f.latency_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
            ;
    }
    mtr_emu_error_t err;
    if (!check_protocol(em, con, ctx, &err))
        goto fail;
    if (mtr_emu_faults_roll(&em->faults, f.throttle_ratio)) {
        mtr_emu_fail(&err, MTR_EMU_E_THROTTLING, "Rate exceeded (injected)");
        goto fail;
    }
    if (mtr_emu_faults_roll(&em->faults, f.error_ratio)) {
        mtr_emu_fail(&err, MTR_EMU_E_INTERNAL, "internal service error (injected)");
        goto fail;
    }
    mtr_emu_batch_t batch;
    if (!mtr_emu_batch_parse(&em->contract, ctx->body ? ctx->body : "", ctx->len,
                             mtr_clock_wall_ms(em->clock), &batch, &err))
        goto fail;
    cJSON *answer = apply_batch(em, &batch);
    mtr_emu_batch_free(&batch);
    if (mtr_emu_faults_roll(&em->faults, f.drop_after_apply_ratio)) {
        /* Returning MHD_NO closes the connection without an answer: the
         * client cannot tell whether the records were applied. */
        atomic_fetch_add(&em->counters.dropped, 1);
        cJSON_Delete(answer);
        return MHD_NO;
    }
    atomic_fetch_add(&em->counters.answered_ok, 1);
    return send_cjson(em, con, answer);
fail:
    mtr_emu_counters_count_error(&em->counters, err.type);
    return send_error(em, con, &err);
}

static bool json_ratio(const cJSON *o, const char *name, double *out, mtr_emu_error_t *err)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!v)
        return true;
    if (!cJSON_IsNumber(v))
        return mtr_emu_fail(err, MTR_EMU_E_SERIALIZATION, "%s: expected a number", name);
    *out = v->valuedouble;
    return true;
}

/* POST /_emulator/faults {"throttle_ratio": 0.5, ..., "latency_ms": 10,
 * "seed": 1}: members left out are 0. */
static enum MHD_Result handle_set_faults(mtr_emulator_t *em, struct MHD_Connection *con,
                                         conn_ctx_t *ctx)
{
    mtr_emu_error_t err;
    mtr_emulator_faults_t f = {0};
    double latency = 0, seed = 0;
    cJSON *o = cJSON_ParseWithLength(ctx->body ? ctx->body : "", ctx->len);
    bool ok = o && cJSON_IsObject(o);
    if (!ok)
        mtr_emu_fail(&err, MTR_EMU_E_SERIALIZATION, "expected a JSON object of fault settings");
    ok = ok && json_ratio(o, "throttle_ratio", &f.throttle_ratio, &err) &&
         json_ratio(o, "error_ratio", &f.error_ratio, &err) &&
         json_ratio(o, "unprocessed_ratio", &f.unprocessed_ratio, &err) &&
         json_ratio(o, "drop_after_apply_ratio", &f.drop_after_apply_ratio, &err) &&
         json_ratio(o, "latency_ms", &latency, &err) && json_ratio(o, "seed", &seed, &err);
    cJSON_Delete(o);
    char reason[256];
    if (ok) {
        f.latency_ms = latency >= 0 && latency <= 60000 ? (int64_t)latency : -1;
        f.seed = seed >= 0 && seed < 1.8e19 ? (uint64_t)seed : 0;
        if (mtr_emulator_set_faults(em, &f, reason, sizeof reason) != MTR_OK)
            ok = mtr_emu_fail(&err, MTR_EMU_E_VALIDATION, "%s", reason);
    }
    if (!ok)
        return send_error(em, con, &err);
    return send_cjson(em, con, cJSON_CreateObject());
}

static enum MHD_Result handle_inspection(mtr_emulator_t *em, struct MHD_Connection *con,
                                         const char *url, const char *method, conn_ctx_t *ctx)
{
    bool get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    if (!strcmp(url, "/_emulator/records") && get)
        return send_cjson(
            em, con,
            mtr_emu_store_to_json(em->store, atomic_load(&em->counters.records_duplicate)));
    if (!strcmp(url, "/_emulator/stats") && get)
        return send_cjson(em, con,
                          mtr_emu_counters_to_json(&em->counters, mtr_emu_store_count(em->store)));
    if (!strcmp(url, "/_emulator/reset") && post) {
        mtr_emulator_reset(em);
        return send_cjson(em, con, cJSON_CreateObject());
    }
    if (!strcmp(url, "/_emulator/faults") && post)
        return handle_set_faults(em, con, ctx);
    mtr_emu_error_t err;
    mtr_emu_fail(&err, MTR_EMU_E_NOT_FOUND,
                 "%s %.100s: the emulator serves GET /_emulator/records, GET /_emulator/stats, "
                 "POST /_emulator/reset, POST /_emulator/faults",
                 method, url);
    return send_error(em, con, &err);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    mtr_emulator_t *em = cls;
    conn_ctx_t *ctx = *con_cls;
    if (!ctx->headers_seen) {
        ctx->headers_seen = true;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        if (ctx->too_large || ctx->len + n >= MAX_BODY_BYTES) {
            /* Keep reading (and counting) so the client gets the answer, but
             * do not keep the bytes. */
            ctx->too_large = true;
            ctx->len += n;
        } else {
            if (ctx->len + n + 1 > ctx->cap) {
                ctx->cap = (ctx->len + n + 1) * 2;
                ctx->body = mtr_realloc(ctx->body, ctx->cap);
            }
            memcpy(ctx->body + ctx->len, upload_data, n);
            ctx->len += n;
            ctx->body[ctx->len] = '\0';
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!strncmp(url, "/_emulator/", 11))
        return handle_inspection(em, con, url, method, ctx);
    if (!strcmp(method, "POST"))
        return handle_batch(em, con, ctx);
    mtr_emu_error_t err;
    mtr_emu_fail(&err, MTR_EMU_E_UNKNOWN_OPERATION,
                 "%s %.100s: AWS JSON 1.1 operations are POST / with X-Amz-Target", method, url);
    return send_error(em, con, &err);
}

static void free_creds(mtr_emulator_t *em)
{
    for (size_t i = 0; i < em->n_creds; i++) {
        mtr_free(em->creds[i].access_key_id);
        mtr_free(em->creds[i].secret_access_key);
    }
    mtr_free(em->creds);
}

static void destroy(mtr_emulator_t *em)
{
    free_creds(em);
    mtr_free(em->region);
    mtr_emu_store_free(em->store);
    mtr_emu_faults_destroy(&em->faults);
    mtr_free(em);
}

static bool copy_credentials(mtr_emulator_t *em, const mtr_config_t *cfg,
                             const mtr_emulator_options_t *opts)
{
    const mtr_emulator_credential_t *src = cfg->emulator.credentials;
    size_t n = cfg->emulator.n_credentials;
    if (n == 0 && opts->fallback_credential && opts->fallback_credential->access_key_id &&
        opts->fallback_credential->secret_access_key) {
        src = opts->fallback_credential;
        n = 1;
    }
    if (n == 0)
        return false;
    em->creds = mtr_calloc(n, sizeof *em->creds);
    for (size_t i = 0; i < n; i++) {
        em->creds[i].access_key_id = mtr_strdup(src[i].access_key_id);
        em->creds[i].secret_access_key = mtr_strdup(src[i].secret_access_key);
    }
    em->n_creds = n;
    return true;
}

static struct MHD_Daemon *listen_on(mtr_emulator_t *em, const char *host, uint16_t port,
                                    bool *bad_host)
{
    struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
    const struct sockaddr *addr;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
    *bad_host = false;
    if (inet_pton(AF_INET, host, &v4.sin_addr) == 1) {
        addr = (const struct sockaddr *)&v4;
    } else if (inet_pton(AF_INET6, host, &v6.sin6_addr) == 1) {
        addr = (const struct sockaddr *)&v6;
        flags |= MHD_USE_IPv6;
    } else {
        *bad_host = true;
        return NULL;
    }
    return MHD_start_daemon(flags, port, NULL, NULL, on_request, em, MHD_OPTION_SOCK_ADDR, addr,
                            MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL, MHD_OPTION_NOTIFY_COMPLETED,
                            on_completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)512, MHD_OPTION_END);
}

mtr_emulator_t *mtr_emulator_start(const mtr_config_t *cfg, const mtr_emulator_options_t *opts,
                                   char *errstr, size_t errstr_size)
{
    mtr_emulator_options_t defaults = {0};
    if (!opts)
        opts = &defaults;
    if (mtr_emulator_faults_check(&opts->faults, errstr, errstr_size) != MTR_OK)
        return NULL;
    if (opts->max_record_age_ms < 0 || opts->max_future_skew_ms < 0) {
        mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                    "emulator: the timestamp window must not be negative");
        return NULL;
    }
    mtr_emulator_t *em = mtr_calloc(1, sizeof *em);
    em->cfg = cfg;
    em->clock = opts->clock ? opts->clock : mtr_clock_system();
    const char *region = cfg->emulator.region ? cfg->emulator.region
                         : cfg->aws.region    ? cfg->aws.region
                                              : "us-east-1";
    em->region = mtr_strdup(region);
    em->contract.cfg = cfg;
    em->contract.max_record_age_ms =
        opts->max_record_age_ms ? opts->max_record_age_ms : DEFAULT_AGE_MS;
    em->contract.max_future_skew_ms =
        opts->max_future_skew_ms ? opts->max_future_skew_ms : DEFAULT_SKEW_MS;
    /* MeteringRecordIds differ from run to run, as AWS's do, unless a seed
     * asks for a reproducible run. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    em->store = mtr_emu_store_new(opts->faults.seed ? opts->faults.seed
                                                    : (uint64_t)now.tv_sec * 1000000000ULL +
                                                          (uint64_t)now.tv_nsec);
    mtr_emu_faults_init(&em->faults, &opts->faults);
    mtr_emu_counters_reset(&em->counters);
    if (!copy_credentials(em, cfg, opts)) {
        mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                    "emulator: no credentials to verify signatures with: list "
                    "emulator.credentials in the config or set AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY");
        destroy(em);
        return NULL;
    }
    const char *host = opts->host ? opts->host : "127.0.0.1";
    bool bad_host;
    errno = 0;
    em->daemon = listen_on(em, host, opts->port, &bad_host);
    if (!em->daemon) {
        int e = errno;
        if (bad_host)
            mtr_err_set(errstr, errstr_size, MTR_ERR_INVALID_ARG,
                        "emulator: listen host \"%s\" is not a numeric IPv4 or IPv6 address", host);
        else
            mtr_err_set(errstr, errstr_size, MTR_ERR_IO,
                        "emulator: cannot listen on %s port %u: %s (is the port in use?)", host,
                        (unsigned)opts->port, e ? strerror(e) : "libmicrohttpd refused");
        destroy(em);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(em->daemon, MHD_DAEMON_INFO_BIND_PORT);
    em->port = info ? info->port : opts->port;
    return em;
}

void mtr_emulator_stop(mtr_emulator_t *em)
{
    if (!em)
        return;
    MHD_stop_daemon(em->daemon);
    destroy(em);
}

uint16_t mtr_emulator_port(const mtr_emulator_t *em)
{
    return em->port;
}

const char *mtr_emulator_region(const mtr_emulator_t *em)
{
    return em->region;
}

mtr_err_t mtr_emulator_set_faults(mtr_emulator_t *em, const mtr_emulator_faults_t *faults,
                                  char *errstr, size_t errstr_size)
{
    mtr_err_t rc = mtr_emulator_faults_check(faults, errstr, errstr_size);
    if (rc == MTR_OK)
        mtr_emu_faults_set(&em->faults, faults);
    return rc;
}

void mtr_emulator_get_stats(mtr_emulator_t *em, mtr_emulator_stats_t *out)
{
    mtr_emu_counters_snapshot(&em->counters, out);
    out->stored = mtr_emu_store_count(em->store);
}

char *mtr_emulator_records_json(mtr_emulator_t *em)
{
    cJSON *o = mtr_emu_store_to_json(em->store, atomic_load(&em->counters.records_duplicate));
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    char *out = mtr_strdup(text ? text : "{}");
    cJSON_free(text);
    return out;
}

void mtr_emulator_reset(mtr_emulator_t *em)
{
    mtr_emu_store_reset(em->store);
    mtr_emu_counters_reset(&em->counters);
    /* Restart the dice too, so a reset run sees the same faults again. */
    mtr_emulator_faults_t f = mtr_emu_faults_get(&em->faults);
    mtr_emu_faults_set(&em->faults, &f);
}
