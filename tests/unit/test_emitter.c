/* The emitter against a scripted BatchMeterUsage server (libmicrohttpd on
 * loopback): retries of the same request after throttling, 5xx and dropped
 * connections, unprocessed records, bisection of a poisoned request,
 * terminal answers, pacing, concurrency and connection reuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "core/log.h"
#include "core/mem.h"
#include "support_stderr.h"
#include "emit/emitter.h"

#define HOUR0     1764151200000LL
#define MAX_REQS  256
#define N_RECORDS 25

/* ---- the scripted server ---- */

typedef struct reply {
    int status;           /* 0: answer every record according to `answer` */
    const char *body;     /* for status != 0 */
    const char *type_hdr; /* x-amzn-ErrorType, or NULL */
    int drop;             /* close the connection without answering */
    int n_unprocessed;    /* first n records go to UnprocessedRecords */
} reply_t;

typedef struct server server_t;
typedef void (*script_fn)(server_t *s, int k, cJSON *request, reply_t *out);

struct server {
    struct MHD_Daemon *d;
    pthread_mutex_t lock;
    script_fn script;
    int n_requests;
    char *bodies[MAX_REQS];
    char *target[MAX_REQS];
    char *auth[MAX_REQS];
    char *token[MAX_REQS];
    int n_connections;
    int active, max_active;
    int delay_ms;
    char url[64];
};

typedef struct conn_req {
    char *data;
    size_t len;
} conn_req_t;

/* Status per record: customer "dup" is a DuplicateRecord, "gone" is not
 * subscribed, everyone else succeeds with an id derived from the record. */
static char *answer_records(cJSON *request, int n_unprocessed)
{
    cJSON *out = cJSON_CreateObject();
    cJSON *results = cJSON_AddArrayToObject(out, "Results");
    cJSON *unprocessed = cJSON_AddArrayToObject(out, "UnprocessedRecords");
    cJSON *list = cJSON_GetObjectItem(request, "UsageRecords");
    int i = 0;
    cJSON *rec;
    cJSON_ArrayForEach(rec, list)
    {
        if (i++ < n_unprocessed) {
            cJSON_AddItemToArray(unprocessed, cJSON_Duplicate(rec, 1));
            continue;
        }
        const char *cust = cJSON_GetObjectItem(rec, "CustomerIdentifier")->valuestring;
        const char *dim = cJSON_GetObjectItem(rec, "Dimension")->valuestring;
        cJSON *r = cJSON_CreateObject();
        cJSON_AddItemToObject(r, "UsageRecord", cJSON_Duplicate(rec, 1));
        if (strcmp(cust, "dup") == 0) {
            cJSON_AddStringToObject(r, "Status", "DuplicateRecord");
        } else if (strcmp(cust, "gone") == 0) {
            cJSON_AddStringToObject(r, "Status", "CustomerNotSubscribed");
        } else {
            char id[128];
            snprintf(id, sizeof id, "m-%s-%s", cust, dim);
            cJSON_AddStringToObject(r, "MeteringRecordId", id);
            cJSON_AddStringToObject(r, "Status", "Success");
        }
        /* Answers in reverse order: matching must not rely on position. */
        cJSON_InsertItemInArray(results, 0, r);
    }
    char *text = cJSON_PrintUnformatted(out);
    cJSON_Delete(out);
    return text;
}

static char *dup_header(struct MHD_Connection *c, const char *name)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, name);
    return v ? strdup(v) : NULL;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)url;
    (void)method;
    (void)version;
    server_t *s = cls;
    conn_req_t *req = *con_cls;
    if (!req) {
        *con_cls = calloc(1, sizeof *req);
        return MHD_YES;
    }
    if (*upload_size) {
        req->data = realloc(req->data, req->len + *upload_size + 1);
        memcpy(req->data + req->len, upload, *upload_size);
        req->len += *upload_size;
        req->data[req->len] = '\0';
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&s->lock);
    int k = s->n_requests++;
    if (k < MAX_REQS) {
        s->bodies[k] = strdup(req->data ? req->data : "");
        s->target[k] = dup_header(c, "X-Amz-Target");
        s->auth[k] = dup_header(c, "Authorization");
        s->token[k] = dup_header(c, "X-Amz-Security-Token");
    }
    if (++s->active > s->max_active)
        s->max_active = s->active;
    pthread_mutex_unlock(&s->lock);
    if (s->delay_ms)
        usleep((useconds_t)s->delay_ms * 1000);

    cJSON *request = cJSON_Parse(req->data ? req->data : "");
    reply_t r = {0};
    s->script(s, k, request, &r);
    char *body = r.status ? strdup(r.body ? r.body : "") : answer_records(request, r.n_unprocessed);
    cJSON_Delete(request);
    pthread_mutex_lock(&s->lock);
    s->active--;
    pthread_mutex_unlock(&s->lock);
    if (r.drop) {
        free(body);
        return MHD_NO; /* libmicrohttpd closes the connection unanswered */
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, "Content-Type", "application/x-amz-json-1.1");
    if (r.type_hdr)
        MHD_add_response_header(resp, "x-amzn-ErrorType", r.type_hdr);
    enum MHD_Result ret = MHD_queue_response(c, r.status ? (unsigned)r.status : 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    conn_req_t *req = *con_cls;
    if (req) {
        free(req->data);
        free(req);
    }
    *con_cls = NULL;
}

static void connection_event(void *cls, struct MHD_Connection *c, void **socket_ctx,
                             enum MHD_ConnectionNotificationCode toe)
{
    (void)c;
    (void)socket_ctx;
    server_t *s = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        pthread_mutex_lock(&s->lock);
        s->n_connections++;
        pthread_mutex_unlock(&s->lock);
    }
}

static server_t *server_start(script_fn script)
{
    server_t *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->script = script;
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                            NULL, NULL, handle, s, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, connection_event, s, MHD_OPTION_SOCK_ADDR,
                            NULL, MHD_OPTION_END);
    assert_non_null(s->d);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u/", info->port);
    return s;
}

static void server_stop(server_t *s)
{
    MHD_stop_daemon(s->d);
    for (int i = 0; i < MAX_REQS; i++) {
        free(s->bodies[i]);
        free(s->target[i]);
        free(s->auth[i]);
        free(s->token[i]);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int records_in(const char *body)
{
    cJSON *j = cJSON_Parse(body);
    int n = cJSON_GetArraySize(cJSON_GetObjectItem(j, "UsageRecords"));
    cJSON_Delete(j);
    return n;
}

static int request_has_dimension(cJSON *request, const char *dim)
{
    cJSON *rec;
    cJSON_ArrayForEach(rec, cJSON_GetObjectItem(request, "UsageRecords"))
    {
        if (strcmp(cJSON_GetObjectItem(rec, "Dimension")->valuestring, dim) == 0)
            return 1;
    }
    return 0;
}

/* ---- the client side ---- */

typedef struct outcome {
    mtr_emit_outcome_t outcome;
    char id[128];
    char detail[400];
    int attempts;
    int calls;
} outcome_t;

typedef struct harness {
    server_t *server;
    mtr_config_t cfg;
    mtr_emitter_t *emitter;
    mtr_record_t records[64];
    char customers[64][32];
    size_t n;
    outcome_t out[64];
} harness_t;

static mtr_err_t test_credentials(void *ctx, mtr_sigv4_credentials_t *out, char *errstr,
                                  size_t errstr_size)
{
    (void)ctx;
    (void)errstr;
    (void)errstr_size;
    out->access_key_id = "AKIDEXAMPLE";
    out->secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    out->session_token = "session-token-1";
    return MTR_OK;
}

static void on_result(void *ctx, const mtr_emit_result_t *res)
{
    harness_t *h = ctx;
    outcome_t *o = &h->out[res->record - h->records];
    o->outcome = res->outcome;
    o->calls++;
    o->attempts = res->attempts;
    snprintf(o->id, sizeof o->id, "%s", res->metering_record_id ? res->metering_record_id : "");
    snprintf(o->detail, sizeof o->detail, "%s", res->detail);
}

static void harness_init(harness_t *h, script_fn script, size_t n, int max_attempts,
                         int max_in_flight, double calls_per_second)
{
    memset(h, 0, sizeof *h);
    h->server = server_start(script);
    h->cfg.aws.region = "us-east-1";
    h->cfg.aws.endpoint = h->server->url;
    h->cfg.emit.max_attempts = max_attempts;
    h->cfg.emit.max_in_flight = max_in_flight;
    h->cfg.emit.request_timeout_ms = 5000;
    h->cfg.emit.calls_per_second = calls_per_second;
    mtr_emitter_options_t opts = {.config = &h->cfg,
                                  .credentials = test_credentials,
                                  .backoff_base_ms = 1,
                                  .backoff_cap_ms = 5};
    char err[256];
    assert_int_equal(mtr_emitter_new(&opts, &h->emitter, err, sizeof err), MTR_OK);
    h->n = n;
    for (size_t i = 0; i < n; i++) {
        snprintf(h->customers[i], sizeof h->customers[i], "cust-%02zu", i);
        h->records[i] = (mtr_record_t){.product_code = "prod-1",
                                       .customer_identifier = h->customers[i],
                                       .dimension = "api",
                                       .hour_start_ms = HOUR0,
                                       .quantity = (int64_t)i + 1,
                                       .id = (int64_t)i};
    }
}

static void harness_send(harness_t *h)
{
    mtr_emitter_send(h->emitter, h->records, h->n, on_result, h);
    for (size_t i = 0; i < h->n; i++)
        assert_int_equal(h->out[i].calls, 1); /* exactly one outcome per record */
}

static void harness_fini(harness_t *h)
{
    mtr_emitter_free(h->emitter);
    server_stop(h->server);
}

static void assert_all_accepted(harness_t *h, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        assert_int_equal(h->out[i].outcome, MTR_EMIT_ACCEPTED);
        char want[128];
        snprintf(want, sizeof want, "m-%s-%s", h->records[i].customer_identifier,
                 h->records[i].dimension);
        assert_string_equal(h->out[i].id, want);
    }
}

/* ---- scripts and tests ---- */

static void throttle_once(server_t *s, int k, cJSON *request, reply_t *out)
{
    (void)s;
    (void)request;
    if (k == 0)
        *out = (reply_t){400, "{\"__type\":\"com.amazonaws.awsmpmeteringservice#"
                              "ThrottlingException\",\"message\":\"Rate exceeded\"}"};
}

static void test_throttled_request_is_sent_again_unchanged_and_signed(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, throttle_once, N_RECORDS, 5, 1, 0);
    harness_send(&h);
    assert_int_equal(h.server->n_requests, 2);
    assert_string_equal(h.server->bodies[0], h.server->bodies[1]);
    assert_int_equal(records_in(h.server->bodies[0]), N_RECORDS);
    assert_all_accepted(&h, 0, N_RECORDS);
    assert_int_equal(h.out[0].attempts, 2);
    assert_string_equal(h.server->target[0], "AWSMPMeteringService.BatchMeterUsage");
    assert_string_equal(h.server->token[0], "session-token-1");
    assert_non_null(strstr(h.server->auth[0], "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
    assert_non_null(strstr(h.server->auth[0], "/us-east-1/aws-marketplace/aws4_request"));
    mtr_emit_stats_t st;
    mtr_emitter_stats(h.emitter, &st);
    assert_int_equal(st.throttled, 1);
    assert_int_equal(st.requests, 2);
    harness_fini(&h);
}

static void server_errors_twice(server_t *s, int k, cJSON *request, reply_t *out)
{
    (void)s;
    (void)request;
    if (k == 0)
        *out = (reply_t){500, "{\"__type\":\"InternalServiceErrorException\"}"};
    else if (k == 1)
        *out = (reply_t){503, "<html>Service Unavailable</html>"};
    else if (k == 2)
        *out = (reply_t){200, "this is not json"};
}

static void test_5xx_and_garbage_answers_are_retried_with_the_same_records(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, server_errors_twice, 10, 5, 1, 0);
    harness_send(&h);
    assert_int_equal(h.server->n_requests, 4);
    for (int k = 1; k < 4; k++)
        assert_string_equal(h.server->bodies[0], h.server->bodies[k]);
    assert_all_accepted(&h, 0, 10);
    assert_int_equal(h.out[3].attempts, 4);
    harness_fini(&h);
}

static void drop_after_apply(server_t *s, int k, cJSON *request, reply_t *out)
{
    (void)s;
    (void)request;
    if (k == 0)
        out->drop = 1;
}

static void test_dropped_connection_is_retried_with_the_same_body_and_results(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, drop_after_apply, N_RECORDS, 5, 1, 0);
    harness_send(&h);
    assert_int_equal(h.server->n_requests, 2);
    assert_string_equal(h.server->bodies[0], h.server->bodies[1]);
    assert_all_accepted(&h, 0, N_RECORDS);
    harness_fini(&h);
}

static void unprocessed_three(server_t *s, int k, cJSON *request, reply_t *out)
{
    (void)s;
    (void)request;
    if (k == 0)
        out->n_unprocessed = 3;
}

static void test_unprocessed_records_alone_are_sent_again(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, unprocessed_three, N_RECORDS, 5, 1, 0);
    harness_send(&h);
    assert_int_equal(h.server->n_requests, 2);
    assert_int_equal(records_in(h.server->bodies[0]), N_RECORDS);
    assert_int_equal(records_in(h.server->bodies[1]), 3);
    assert_all_accepted(&h, 0, N_RECORDS);
    harness_fini(&h);
}

static void reject_bad_dimension(server_t *s, int k, cJSON *request, reply_t *out)
{
    (void)s;
    (void)k;
    if (request_has_dimension(request, "poison"))
        *out = (reply_t){400, "{\"__type\":\"InvalidUsageDimensionException\",\"message\":"
                              "\"dimension poison is not part of the product\"}"};
}

static void test_one_poisoned_record_in_25_is_parked_and_24_accepted(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, reject_bad_dimension, N_RECORDS, 3, 2, 0);
    h.records[17].dimension = "poison";
    harness_send(&h);
    int accepted = 0;
    for (size_t i = 0; i < N_RECORDS; i++) {
        if (i == 17)
            continue;
        assert_int_equal(h.out[i].outcome, MTR_EMIT_ACCEPTED);
        accepted++;
    }
    assert_int_equal(accepted, 24);
    assert_int_equal(h.out[17].outcome, MTR_EMIT_PARKED);
    assert_non_null(strstr(h.out[17].detail, "InvalidUsageDimensionException"));
    /* Halving 25 isolates one record in at most ceil(log2 25) + 1 levels of
     * two requests each. */
    assert_true(h.server->n_requests <= 1 + 2 * 5);
    mtr_emit_stats_t st;
    mtr_emitter_stats(h.emitter, &st);
    assert_true(st.bisections >= 4);
    harness_fini(&h);
}

static void stale_old_hour(server_t *s, int k, cJSON *request, reply_t *out)
{
    (void)s;
    (void)k;
    cJSON *rec;
    cJSON_ArrayForEach(rec, cJSON_GetObjectItem(request, "UsageRecords"))
    {
        if ((int64_t)cJSON_GetObjectItem(rec, "Timestamp")->valuedouble < HOUR0 / 1000)
            *out = (reply_t){400, "{\"__type\":\"TimestampOutOfBoundsException\"}"};
    }
}

static void test_timestamp_out_of_bounds_isolates_the_stale_record(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, stale_old_hour, 8, 3, 1, 0);
    h.records[5].hour_start_ms = HOUR0 - 7 * MTR_MS_PER_HOUR;
    harness_send(&h);
    for (size_t i = 0; i < 8; i++)
        assert_int_equal(h.out[i].outcome, i == 5 ? MTR_EMIT_STALE : MTR_EMIT_ACCEPTED);
    harness_fini(&h);
}

static void always_ok(server_t *s, int k, cJSON *request, reply_t *out)
{
    (void)s;
    (void)k;
    (void)request;
    (void)out;
}

static void test_duplicate_and_not_subscribed_are_terminal(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, always_ok, 5, 3, 1, 0);
    snprintf(h.customers[1], sizeof h.customers[1], "dup");
    snprintf(h.customers[3], sizeof h.customers[3], "gone");
    harness_send(&h);
    assert_int_equal(h.server->n_requests, 1);
    assert_int_equal(h.out[1].outcome, MTR_EMIT_DUPLICATE);
    assert_int_equal(h.out[3].outcome, MTR_EMIT_CUSTOMER_NOT_SUBSCRIBED);
    assert_all_accepted(&h, 0, 1);
    assert_all_accepted(&h, 2, 3);
    assert_all_accepted(&h, 4, 5);
    harness_fini(&h);
}

static void always_500(server_t *s, int k, cJSON *request, reply_t *out)
{
    (void)s;
    (void)k;
    (void)request;
    *out = (reply_t){500, "{\"__type\":\"InternalServiceErrorException\"}"};
}

static void test_retries_stop_at_max_attempts(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, always_500, 4, 3, 1, 0);
    harness_send(&h);
    assert_int_equal(h.server->n_requests, 3);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(h.out[i].outcome, MTR_EMIT_RETRY_EXHAUSTED);
        assert_int_equal(h.out[i].attempts, 3);
    }
    harness_fini(&h);
}

static void auth_refused(server_t *s, int k, cJSON *request, reply_t *out)
{
    (void)s;
    (void)k;
    (void)request;
    *out = (reply_t){403,
                     "{\"message\":\"The security token included in the request is "
                     "invalid.\"}",
                     "UnrecognizedClientException:http://internal.amazon.com/coral/"};
}

static void test_auth_errors_defer_records_without_retrying(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, auth_refused, 3, 5, 1, 0);
    harness_send(&h);
    assert_int_equal(h.server->n_requests, 1);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(h.out[i].outcome, MTR_EMIT_DEFERRED);
        assert_non_null(strstr(h.out[i].detail, "UnrecognizedClientException"));
    }
    harness_fini(&h);
}

static mtr_err_t no_credentials(void *ctx, mtr_sigv4_credentials_t *out, char *errstr,
                                size_t errstr_size)
{
    (void)ctx;
    (void)out;
    return mtr_err_set(errstr, errstr_size, MTR_ERR_TIMEOUT, "instance metadata timed out");
}

static void test_missing_credentials_defer_records_without_sending(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, always_ok, 3, 5, 1, 0);
    mtr_emitter_free(h.emitter);
    mtr_emitter_options_t opts = {.config = &h.cfg, .credentials = no_credentials};
    char err[256];
    assert_int_equal(mtr_emitter_new(&opts, &h.emitter, err, sizeof err), MTR_OK);
    harness_send(&h);
    assert_int_equal(h.server->n_requests, 0);
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(h.out[i].outcome, MTR_EMIT_DEFERRED);
        assert_non_null(strstr(h.out[i].detail, "instance metadata"));
    }
    harness_fini(&h);
}

/* Without credentials, 60 records in three requests: one line for the
 * whole send, with the count, the reason and the fix; none per record. */
static void test_records_waiting_for_credentials_are_told_once_per_send(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, always_ok, 60, 5, 1, 0);
    mtr_emitter_free(h.emitter);
    mtr_emitter_options_t opts = {.config = &h.cfg, .credentials = no_credentials};
    char err[256];
    assert_int_equal(mtr_emitter_new(&opts, &h.emitter, err, sizeof err), MTR_OK);
    stderr_capture_t cap;
    stderr_capture_begin(&cap);
    harness_send(&h);
    char *log = stderr_capture_end(&cap);
    assert_int_equal(h.server->n_requests, 0);
    assert_int_equal(stderr_lines_with(log, "record(s) wait"), 1);
    assert_int_equal(stderr_lines_with(log, "60 record(s) wait, not sent: instance metadata"), 1);
    assert_int_equal(stderr_lines_with(log, "Fix: give meterd AWS credentials"), 1);
    assert_int_equal(stderr_lines_with(log, "DEFERRED"), 0);
    mtr_free(log);
    harness_fini(&h);
}

static void test_invalid_records_are_parked_without_being_sent(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, always_ok, 3, 3, 1, 0);
    h.records[1].quantity = -5;
    harness_send(&h);
    assert_int_equal(h.server->n_requests, 1);
    assert_int_equal(records_in(h.server->bodies[0]), 2);
    assert_int_equal(h.out[1].outcome, MTR_EMIT_PARKED);
    assert_int_equal(h.out[1].attempts, 0);
    assert_all_accepted(&h, 0, 1);
    harness_fini(&h);
}

static int64_t now_ms(void)
{
    return mtr_clock_monotonic_ms(mtr_clock_system());
}

static void test_requests_run_in_parallel_over_reused_connections(void **state)
{
    (void)state;
    harness_t h;
    harness_init(&h, always_ok, 64, 3, 4, 0);
    for (size_t i = 0; i < 64; i++)
        h.records[i].dimension = i % 2 ? "api" : "seats"; /* 64 records: 3 requests */
    h.server->delay_ms = 150;
    harness_send(&h);
    assert_int_equal(h.server->n_requests, 3);
    assert_true(h.server->max_active >= 2);
    assert_true(h.server->max_active <= 4);
    int first_connections = h.server->n_connections;
    /* A second round on the same emitter reuses the kept-alive connections. */
    h.server->delay_ms = 0;
    memset(h.out, 0, sizeof h.out);
    harness_send(&h);
    assert_int_equal(h.server->n_connections, first_connections);
    assert_true(first_connections <= 4);
    harness_fini(&h);
}

static void test_pacing_spaces_requests_at_the_configured_rate(void **state)
{
    (void)state;
    harness_t h;
    /* 64 records in two products make 4 requests; at 20 calls/s with a
     * burst of 1 they are at least 50 ms apart. */
    harness_init(&h, always_ok, 64, 3, 4, 20);
    for (size_t i = 0; i < 64; i++)
        h.records[i].product_code = i % 2 ? "prod-1" : "prod-2";
    int64_t start = now_ms();
    harness_send(&h);
    int64_t elapsed = now_ms() - start;
    assert_int_equal(h.server->n_requests, 4);
    assert_true(elapsed >= 3 * 50 - 2);
    assert_all_accepted(&h, 0, 64);
    harness_fini(&h);
}

/* A self-signed certificate for 127.0.0.1, as PEM strings (caller frees). */
static void self_signed(char **key_pem, char **cert_pem)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -60);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    X509_sign(x, key, EVP_sha256());
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL);
    char *data;
    long len = BIO_get_mem_data(b, &data);
    *key_pem = strndup(data, (size_t)len);
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    len = BIO_get_mem_data(b, &data);
    *cert_pem = strndup(data, (size_t)len);
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(key);
}

static void test_https_endpoint_with_an_untrusted_certificate_is_refused(void **state)
{
    (void)state;
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS))
        skip();
    char *key, *cert;
    self_signed(&key, &cert);
    server_t *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->script = always_ok;
    s->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_TLS, 0, NULL,
        NULL, handle, s, MHD_OPTION_NOTIFY_COMPLETED, completed, s, MHD_OPTION_HTTPS_MEM_KEY, key,
        MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_END);
    assert_non_null(s->d);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(s->url, sizeof s->url, "https://127.0.0.1:%u/", info->port);

    mtr_config_t cfg = {0};
    cfg.aws.region = "us-east-1";
    cfg.aws.endpoint = s->url;
    cfg.emit.max_attempts = 2;
    cfg.emit.max_in_flight = 1;
    cfg.emit.request_timeout_ms = 5000;
    mtr_emitter_options_t opts = {
        .config = &cfg, .credentials = test_credentials, .backoff_base_ms = 1, .backoff_cap_ms = 2};
    mtr_emitter_t *em;
    char err[256];
    assert_int_equal(mtr_emitter_new(&opts, &em, err, sizeof err), MTR_OK);
    static harness_t h;
    memset(&h, 0, sizeof h);
    h.n = 1;
    h.records[0] = (mtr_record_t){.product_code = "prod-1",
                                  .customer_identifier = "cust-1",
                                  .dimension = "api",
                                  .hour_start_ms = HOUR0,
                                  .quantity = 1};
    mtr_emitter_send(em, h.records, 1, on_result, &h);
    assert_int_equal(h.out[0].outcome, MTR_EMIT_RETRY_EXHAUSTED);
    /* The handshake failed: no request ever reached the handler. */
    assert_int_equal(s->n_requests, 0);
    mtr_emitter_free(em);

    /* Trusting that very certificate makes the same endpoint work: the
     * failure above was verification, not a broken server. */
    char path[] = "/tmp/test_emitter_ca_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, cert, strlen(cert)), (ssize_t)strlen(cert));
    close(fd);
    opts.ca_file = path;
    assert_int_equal(mtr_emitter_new(&opts, &em, err, sizeof err), MTR_OK);
    memset(&h.out, 0, sizeof h.out);
    mtr_emitter_send(em, h.records, 1, on_result, &h);
    assert_int_equal(h.out[0].outcome, MTR_EMIT_ACCEPTED);
    assert_int_equal(s->n_requests, 1);
    mtr_emitter_free(em);
    unlink(path);
    server_stop(s);
    free(key);
    free(cert);
}

static void test_endpoint_defaults_to_the_regional_aws_endpoint(void **state)
{
    (void)state;
    char *url, err[128];
    assert_int_equal(mtr_emit_endpoint_url("eu-west-1", NULL, &url, err, sizeof err), MTR_OK);
    assert_string_equal(url, "https://metering.marketplace.eu-west-1.amazonaws.com/");
    mtr_free(url);
    assert_int_equal(mtr_emit_endpoint_url(NULL, NULL, &url, err, sizeof err), MTR_ERR_CONFIG);
    assert_int_equal(mtr_emit_endpoint_url("eu-west-1", "ftp://x", &url, err, sizeof err),
                     MTR_ERR_CONFIG);
}

int main(void)
{
    mtr_log_set_level(MTR_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_throttled_request_is_sent_again_unchanged_and_signed),
        cmocka_unit_test(test_5xx_and_garbage_answers_are_retried_with_the_same_records),
        cmocka_unit_test(test_dropped_connection_is_retried_with_the_same_body_and_results),
        cmocka_unit_test(test_unprocessed_records_alone_are_sent_again),
        cmocka_unit_test(test_one_poisoned_record_in_25_is_parked_and_24_accepted),
        cmocka_unit_test(test_timestamp_out_of_bounds_isolates_the_stale_record),
        cmocka_unit_test(test_duplicate_and_not_subscribed_are_terminal),
        cmocka_unit_test(test_retries_stop_at_max_attempts),
        cmocka_unit_test(test_auth_errors_defer_records_without_retrying),
        cmocka_unit_test(test_missing_credentials_defer_records_without_sending),
        cmocka_unit_test(test_records_waiting_for_credentials_are_told_once_per_send),
        cmocka_unit_test(test_invalid_records_are_parked_without_being_sent),
        cmocka_unit_test(test_requests_run_in_parallel_over_reused_connections),
        cmocka_unit_test(test_pacing_spaces_requests_at_the_configured_rate),
        cmocka_unit_test(test_https_endpoint_with_an_untrusted_certificate_is_refused),
        cmocka_unit_test(test_endpoint_defaults_to_the_regional_aws_endpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
