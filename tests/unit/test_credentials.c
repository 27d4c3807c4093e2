/* The credential chain against real HTTP servers on loopback (libmicrohttpd
 * playing the ECS/EKS container endpoint, EC2 instance metadata and STS)
 * and real profile files in a temporary directory; time from a manual
 * clock. Every secret in these tests contains "S3CR3T", and every errstr
 * and log line the tests produce is kept and scanned for it at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/mem.h"
#include "emit/credentials.h"

#define MARK "S3CR3T"

/* 2026-11-26T16:00:00Z */
#define T0     1795708800000LL
#define MIN_MS 60000LL

/* ---- everything the code under test said ------------------------------ */

static char *seen;
static size_t seen_len;

static void note(const char *s)
{
    size_t n = strlen(s);
    seen = realloc(seen, seen_len + n + 2);
    memcpy(seen + seen_len, s, n);
    seen_len += n;
    seen[seen_len++] = '\n';
    seen[seen_len] = '\0';
}

static int saved_stderr = -1;
static FILE *capture_file;

static void capture_begin(void)
{
    fflush(stderr);
    capture_file = tmpfile();
    saved_stderr = dup(STDERR_FILENO);
    dup2(fileno(capture_file), STDERR_FILENO);
}

/* Returns what was logged since capture_begin (caller frees); it is also
 * kept for the final scan and echoed to the real stderr. */
static char *capture_end(void)
{
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    long n = ftell(capture_file);
    char *text = calloc(1, (size_t)(n > 0 ? n : 0) + 1);
    rewind(capture_file);
    size_t got = fread(text, 1, (size_t)(n > 0 ? n : 0), capture_file);
    text[got] = '\0';
    fclose(capture_file);
    note(text);
    fputs(text, stderr);
    return text;
}

/* mtr_cred_chain_get with its errstr and log lines kept for the scan. */
static mtr_err_t get(mtr_cred_chain_t *chain, mtr_credentials_t *out, char *errstr, size_t n,
                     char **log)
{
    capture_begin();
    errstr[0] = '\0';
    mtr_err_t err = mtr_cred_chain_get(chain, out, errstr, n);
    char *text = capture_end();
    note(errstr);
    if (log)
        *log = text;
    else
        free(text);
    return err;
}

/* ---- files ------------------------------------------------------------ */

static char tmpdir[64];
static char *made[32];
static int n_made;

static const char *tfile(const char *name, const char *content)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
    for (int i = 0; i < n_made; i++)
        if (strcmp(made[i], path) == 0)
            return made[i];
    assert_true(n_made < 32);
    made[n_made] = strdup(path);
    return made[n_made++];
}

/* ---- scripted HTTP servers -------------------------------------------- */

typedef struct server server_t;
typedef struct http_req {
    const char *method;
    const char *url;
    const char *body;
    struct MHD_Connection *conn;
} http_req_t;
/* Returns the status; *reply gets a malloc'd body. Called with s->mu held. */
typedef int (*handler_fn)(server_t *s, const http_req_t *r, char **reply);

struct server {
    struct MHD_Daemon *d;
    char base[64];
    pthread_mutex_t mu;
    handler_fn fn;
    /* script */
    int fail_status;        /* answer this instead, when non-zero */
    const char *raw_reply;  /* answer this body with 200, when set */
    const char *token;      /* expected Authorization (container) */
    const char *expiration; /* Expiration in credential answers */
    int delay_ms;
    /* observations */
    int hits;
    int tokenless_gets;
    int ttl_puts;
    char last_body[8192];
};

typedef struct upload {
    char data[8192];
    size_t len;
} upload_t;

static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *out = NULL;
    assert_true(vasprintf(&out, f, ap) >= 0);
    va_end(ap);
    return out;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    server_t *s = cls;
    if (!*con_cls) {
        *con_cls = calloc(1, sizeof(upload_t));
        return MHD_YES;
    }
    upload_t *up = *con_cls;
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        if (up->len + n < sizeof up->data) {
            memcpy(up->data + up->len, upload_data, n);
            up->len += n;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&s->mu);
    s->hits++;
    int delay = s->delay_ms;
    snprintf(s->last_body, sizeof s->last_body, "%s", up->data);
    http_req_t r = {method, url, up->data, conn};
    char *reply = NULL;
    int status;
    if (s->fail_status) {
        status = s->fail_status;
        reply = strdup("{\"message\":\"scripted failure\"}");
    } else if (s->raw_reply) {
        status = 200;
        reply = strdup(s->raw_reply);
    } else {
        status = s->fn(s, &r, &reply);
    }
    pthread_mutex_unlock(&s->mu);
    if (delay)
        usleep((useconds_t)delay * 1000);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(reply), reply, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls, (void)conn, (void)code;
    free(*con_cls);
    *con_cls = NULL;
}

static server_t *server_start(handler_fn fn)
{
    server_t *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->fn = fn;
    s->expiration = "2026-11-26T17:00:00Z";
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, on_request, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL, MHD_OPTION_END);
    assert_non_null(s->d);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    snprintf(s->base, sizeof s->base, "http://127.0.0.1:%u", (unsigned)info->port);
    return s;
}

static void server_stop(server_t *s)
{
    MHD_stop_daemon(s->d);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int hits(server_t *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->hits;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static const char *header(const http_req_t *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

/* ECS / EKS Pod Identity endpoint: checks the Authorization token. */
static int container_handler(server_t *s, const http_req_t *r, char **reply)
{
    const char *auth = header(r, "Authorization");
    if (strcmp(r->method, "GET") != 0 || strcmp(r->url, "/v2/credentials/abc") != 0) {
        *reply = strdup("{\"message\":\"no such path\"}");
        return 404;
    }
    if (s->token && (!auth || strcmp(auth, s->token) != 0)) {
        *reply = strdup("{\"code\":\"AccessDenied\",\"message\":\"bad authorization token\"}");
        return 401;
    }
    *reply = fmt("{\"AccessKeyId\":\"ASIACTR%d\",\"SecretAccessKey\":\"" MARK "-ctr-secret-%d\","
                 "\"Token\":\"" MARK "-ctr-token-%d\",\"Expiration\":\"%s\","
                 "\"RoleArn\":\"arn:aws:iam::123456789012:role/app\"}",
                 s->hits, s->hits, s->hits, s->expiration);
    return 200;
}

#define IMDS_TOKEN MARK "-imds-session-token"

/* EC2 instance metadata, IMDSv2 only: every GET needs the session token. */
static int imds_handler(server_t *s, const http_req_t *r, char **reply)
{
    if (strcmp(r->method, "PUT") == 0 && strcmp(r->url, "/latest/api/token") == 0) {
        if (!header(r, "X-aws-ec2-metadata-token-ttl-seconds")) {
            *reply = strdup("");
            return 400;
        }
        s->ttl_puts++;
        *reply = strdup(IMDS_TOKEN);
        return 200;
    }
    const char *tok = header(r, "X-aws-ec2-metadata-token");
    if (!tok || strcmp(tok, IMDS_TOKEN) != 0) {
        s->tokenless_gets++;
        *reply = strdup("");
        return 401;
    }
    if (strcmp(r->url, "/latest/meta-data/iam/security-credentials/") == 0) {
        *reply = strdup("meterd-node-role\n");
        return 200;
    }
    if (strcmp(r->url, "/latest/meta-data/iam/security-credentials/meterd-node-role") == 0) {
        *reply = fmt("{\"Code\":\"Success\",\"LastUpdated\":\"2026-11-26T15:00:00Z\","
                     "\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIAIMDS%d\","
                     "\"SecretAccessKey\":\"" MARK "-imds-secret\",\"Token\":\"" MARK
                     "-imds-token\",\"Expiration\":\"%s\"}",
                     s->hits, s->expiration);
        return 200;
    }
    *reply = strdup("");
    return 404;
}

#define WEB_TOKEN MARK ".jwt-payload+/="
#define ROLE_ARN  "arn:aws:iam::123456789012:role/meterd-irsa"

/* The value of a form field (percent-decoded) into out. */
static bool form_value(const char *body, const char *key, char *out, size_t size)
{
    size_t klen = strlen(key);
    for (const char *p = body; p && *p; p = strchr(p, '&'), p = p ? p + 1 : NULL) {
        if (strncmp(p, key, klen) != 0 || p[klen] != '=')
            continue;
        size_t o = 0;
        for (const char *v = p + klen + 1; *v && *v != '&' && o + 1 < size; v++) {
            if (*v == '%' && v[1] && v[2]) {
                char hex[3] = {v[1], v[2], 0};
                out[o++] = (char)strtol(hex, NULL, 16);
                v += 2;
            } else {
                out[o++] = *v == '+' ? ' ' : *v;
            }
        }
        out[o] = '\0';
        return true;
    }
    return false;
}

/* STS: AssumeRoleWithWebIdentity as a form POST, answered in XML. */
static int sts_handler(server_t *s, const http_req_t *r, char **reply)
{
    char action[64], version[32], role[128], session[80], token[256];
    bool ok =
        strcmp(r->method, "POST") == 0 && form_value(r->body, "Action", action, sizeof action) &&
        form_value(r->body, "Version", version, sizeof version) &&
        form_value(r->body, "RoleArn", role, sizeof role) &&
        form_value(r->body, "RoleSessionName", session, sizeof session) &&
        form_value(r->body, "WebIdentityToken", token, sizeof token) &&
        strcmp(action, "AssumeRoleWithWebIdentity") == 0 && strcmp(version, "2011-06-15") == 0 &&
        strcmp(role, ROLE_ARN) == 0 && strcmp(token, WEB_TOKEN) == 0 && session[0];
    if (!ok) {
        *reply = strdup("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                        "<Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>"
                        "<Message>Incorrect token audience</Message></Error>"
                        "<RequestId>c6104cbe</RequestId></ErrorResponse>");
        return 400;
    }
    /* A decoy element whose name starts like a wanted one, and an entity. */
    *reply = fmt("<AssumeRoleWithWebIdentityResponse "
                 "xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"
                 "<AssumeRoleWithWebIdentityResult>"
                 "<SubjectFromWebIdentityToken>system:serviceaccount:billing:meterd"
                 "</SubjectFromWebIdentityToken>"
                 "<AssumedRoleUser><Arn>%s/%s</Arn><AssumedRoleId>AROA:%s</AssumedRoleId>"
                 "</AssumedRoleUser>"
                 "<Credentials>"
                 "<AccessKeyIdHint>ASIAWRONG</AccessKeyIdHint>"
                 "<SessionToken>" MARK "-sts-token&amp;%d</SessionToken>"
                 "<SecretAccessKey>" MARK "-sts-secret</SecretAccessKey>"
                 "<Expiration>%s</Expiration>"
                 "<AccessKeyId>ASIASTS%d</AccessKeyId>"
                 "</Credentials>"
                 "</AssumeRoleWithWebIdentityResult>"
                 "</AssumeRoleWithWebIdentityResponse>",
                 role, session, session, s->hits, s->expiration, s->hits);
    return 200;
}

/* ---- fixtures --------------------------------------------------------- */

static mtr_clock_t clk;

/* An environment that reaches nothing outside the test: HOME is the
 * temporary directory and instance metadata is off. */
static mtr_cred_env_t quiet_env(void)
{
    mtr_cred_env_t e = {0};
    e.home = tmpdir;
    e.ec2_metadata_disabled = "true";
    return e;
}

static mtr_cred_chain_t *chain_with(const mtr_cred_env_t *env, const char *profile)
{
    mtr_clock_manual_init(&clk, T0);
    mtr_cred_chain_options_t o = {.env = env, .clock = &clk, .profile = profile};
    return mtr_cred_chain_new(&o);
}

/* Asserts every field of credentials a provider gave (expiration 0: none). */
static void assert_credentials(const mtr_credentials_t *c, const char *key, const char *secret,
                               const char *token, int64_t expiration_ms, const char *provider)
{
    assert_string_equal(c->access_key_id, key);
    assert_string_equal(c->secret_access_key, secret);
    assert_string_equal(c->session_token, token);
    assert_int_equal(c->expiration_ms, expiration_ms);
    assert_string_equal(c->provider, provider);
}

/* Fetches from chain and asserts that it works and gives access key `key`. */
static void assert_get_key(mtr_cred_chain_t *chain, const char *key)
{
    mtr_credentials_t c;
    char err[2048];
    assert_int_equal(get(chain, &c, err, sizeof err, NULL), MTR_OK);
    assert_string_equal(c.access_key_id, key);
    mtr_credentials_clear(&c);
}

/* Fetches from chain and asserts that it fails with `code` and an errstr
 * containing each of the texts (a NULL-terminated list). */
static void assert_get_fails(mtr_cred_chain_t *chain, mtr_err_t code, const char *text, ...)
{
    mtr_credentials_t c;
    char err[2048];
    assert_int_equal(get(chain, &c, err, sizeof err, NULL), code);
    const char *missing = NULL;
    va_list ap;
    va_start(ap, text);
    for (const char *t = text; t && !missing; t = va_arg(ap, const char *))
        if (!strstr(err, t))
            missing = t;
    va_end(ap);
    if (missing)
        fail_msg("errstr \"%s\" does not contain \"%s\"", err, missing);
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mtr-cred-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < n_made; i++) {
        unlink(made[i]);
        free(made[i]);
    }
    char aws[96];
    snprintf(aws, sizeof aws, "%s/.aws", tmpdir);
    rmdir(aws);
    rmdir(tmpdir);
    free(seen);
    return 0;
}

/* ---- ISO 8601 --------------------------------------------------------- */

static void test_iso8601_parses_utc_fractions_and_offsets(void **state)
{
    (void)state;
    int64_t ms;
    assert_int_equal(mtr_cred_parse_iso8601("2026-11-26T16:00:00Z", &ms), MTR_OK);
    assert_int_equal(ms, T0);
    assert_int_equal(mtr_cred_parse_iso8601("2026-11-26T17:00:00.250Z", &ms), MTR_OK);
    assert_int_equal(ms, T0 + 3600000 + 250);
    assert_int_equal(mtr_cred_parse_iso8601("2026-11-26T18:00:00+02:00", &ms), MTR_OK);
    assert_int_equal(ms, T0);
    assert_int_equal(mtr_cred_parse_iso8601("1970-01-01T00:00:00Z", &ms), MTR_OK);
    assert_int_equal(ms, 0);
    assert_int_equal(mtr_cred_parse_iso8601("2024-02-29T00:00:00Z", &ms), MTR_OK);
    assert_int_equal(ms, 1709164800000LL);
}

static void test_iso8601_rejects_malformed_times(void **state)
{
    (void)state;
    int64_t ms;
    const char *bad[] = {"",
                         "2026-11-26",
                         "2026-11-26T16:00:00",
                         "2026-13-01T00:00:00Z",
                         "2026-02-29T00:00:00Z",
                         "2026-11-26T24:00:00Z",
                         "2026-11-26T16:00:00.Z",
                         "2026-11-26T16:00:00Zjunk",
                         "2026-11-26 16:00:00Z",
                         "2026-11-26T16:00:00+2:00",
                         "x026-11-26T16:00:00Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(mtr_cred_parse_iso8601(bad[i], &ms), MTR_ERR_PARSE);
    assert_int_equal(mtr_cred_parse_iso8601(NULL, &ms), MTR_ERR_PARSE);
}

/* ---- environment ------------------------------------------------------ */

static void test_environment_keys_are_used_and_never_expire(void **state)
{
    (void)state;
    mtr_cred_env_t env = quiet_env();
    env.access_key_id = "AKIAENV";
    env.secret_access_key = MARK "-env-secret";
    env.session_token = MARK "-env-token";
    mtr_cred_chain_t *chain = chain_with(&env, NULL);
    mtr_credentials_t c;
    char err[2048];
    assert_int_equal(get(chain, &c, err, sizeof err, NULL), MTR_OK);
    assert_credentials(&c, "AKIAENV", MARK "-env-secret", MARK "-env-token", 0, "environment");
    mtr_sigv4_credentials_t v = mtr_credentials_sigv4(&c);
    assert_ptr_equal(v.secret_access_key, c.secret_access_key);
    mtr_credentials_clear(&c);
    /* Years later the same keys still come from the cache. */
    mtr_clock_manual_advance(&clk, 3LL * 365 * 24 * 60 * MIN_MS);
    assert_get_key(chain, "AKIAENV");
    mtr_cred_chain_free(chain);
}

static void test_environment_key_without_secret_names_the_missing_variable(void **state)
{
    (void)state;
    mtr_cred_env_t env = quiet_env();
    env.access_key_id = "AKIAENV";
    mtr_cred_chain_t *chain = chain_with(&env, NULL);
    assert_get_fails(chain, MTR_ERR_CONFIG,
                     "environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not",
                     NULL);
    mtr_cred_chain_free(chain);
}

/* ---- profile files ---------------------------------------------------- */

static void test_profile_file_with_comments_and_whitespace_gives_its_keys(void **state)
{
    (void)state;
    mtr_cred_env_t env = quiet_env();
    env.shared_credentials_file =
        tfile("credentials", "# written by hand\n"
                             "[default]\n"
                             "aws_access_key_id=AKIADEFAULT\n"
                             "aws_secret_access_key=" MARK "-d\n"
                             "\n"
                             "  [ prod ]   ; the real one\n"
                             "; aws_access_key_id = AKIACOMMENTED\n"
                             "\tAWS_Access_Key_ID   =   AKIAPROD  \r\n"
                             "aws_secret_access_key = " MARK "-prod # rotated monthly\n"
                             "aws_session_token =\t" MARK "-ptok\n"
                             "[other]\n"
                             "aws_access_key_id = AKIAOTHER\n");
    mtr_cred_chain_t *chain = chain_with(&env, "prod");
    mtr_credentials_t c;
    char err[2048];
    assert_int_equal(get(chain, &c, err, sizeof err, NULL), MTR_OK);
    assert_credentials(&c, "AKIAPROD", MARK "-prod", MARK "-ptok", 0, "profile \"prod\"");
    mtr_credentials_clear(&c);
    mtr_cred_chain_free(chain);

    /* Without a profile name: AWS_PROFILE, then "default". */
    env.profile = "other";
    chain = chain_with(&env, NULL);
    assert_int_not_equal(get(chain, &c, err, sizeof err, NULL), MTR_OK);
    assert_non_null(strstr(err, "profile \"other\": "));
    mtr_cred_chain_free(chain);
    env.profile = NULL;
    chain = chain_with(&env, NULL);
    assert_get_key(chain, "AKIADEFAULT");
    mtr_cred_chain_free(chain);
}

static void test_config_profile_sections_and_credentials_file_win_key_by_key(void **state)
{
    (void)state;
    mtr_cred_env_t env = quiet_env();
    env.config_file = tfile("config", "[default]\n"
                                      "region = us-east-1\n"
                                      "[ci]\n" /* not a profile in the config file */
                                      "aws_access_key_id = AKIAWRONGSECTION\n"
                                      "aws_secret_access_key = " MARK "-wrong\n"
                                      "[profile   ci]\n"
                                      "s3 =\n"
                                      "  aws_access_key_id = AKIASUBPROPERTY\n"
                                      "aws_access_key_id = AKIACONFIG\n"
                                      "aws_secret_access_key = " MARK "-config\n"
                                      "aws_session_token = " MARK "-config-token\n");
    env.shared_credentials_file =
        tfile("credentials-ci", "[ci]\n"
                                "aws_secret_access_key = " MARK "-from-credentials\n");
    mtr_cred_chain_t *chain = chain_with(&env, "ci");
    mtr_credentials_t c;
    char err[2048];
    assert_int_equal(get(chain, &c, err, sizeof err, NULL), MTR_OK);
    assert_string_equal(c.access_key_id, "AKIACONFIG");
    assert_string_equal(c.secret_access_key, MARK "-from-credentials");
    assert_string_equal(c.session_token, MARK "-config-token");
    mtr_credentials_clear(&c);
    mtr_cred_chain_free(chain);
}

static void test_profile_key_without_secret_is_an_error_naming_the_file(void **state)
{
    (void)state;
    mtr_cred_env_t env = quiet_env();
    env.shared_credentials_file = tfile("credentials-half", "[default]\n"
                                                            "aws_access_key_id = AKIAHALF\n");
    mtr_cred_chain_t *chain = chain_with(&env, NULL);
    char want[512];
    snprintf(want, sizeof want,
             "profile \"default\": %s sets aws_access_key_id but not aws_secret_access_key",
             env.shared_credentials_file);
    assert_get_fails(chain, MTR_ERR_CONFIG, want, NULL);
    mtr_cred_chain_free(chain);
}

static void test_named_profile_that_does_not_exist_is_a_config_error(void **state)
{
    (void)state;
    mtr_cred_env_t env = quiet_env();
    env.shared_credentials_file = tfile("credentials-nope", "[default]\n"
                                                            "aws_access_key_id = AKIAX\n"
                                                            "aws_secret_access_key = " MARK "-x\n");
    mtr_cred_chain_t *chain = chain_with(&env, "staging");
    assert_get_fails(chain, MTR_ERR_CONFIG, "profile \"staging\": no such profile in ",
                     "check aws.profile / AWS_PROFILE", NULL);
    mtr_cred_chain_free(chain);
}

static void test_malformed_profile_line_is_reported_without_its_content(void **state)
{
    (void)state;
    mtr_cred_env_t env = quiet_env();
    env.shared_credentials_file =
        tfile("credentials-bad", "[default]\n"
                                 "aws_access_key_id = AKIAX\n" MARK "-pasted-secret-without-key\n");
    mtr_cred_chain_t *chain = chain_with(&env, NULL);
    mtr_credentials_t c;
    char err[2048];
    assert_int_equal(get(chain, &c, err, sizeof err, NULL), MTR_ERR_PARSE);
    assert_non_null(strstr(err, "credentials-bad line 3: expected"));
    assert_null(strstr(err, MARK));
    mtr_cred_chain_free(chain);
}

/* ---- container endpoint ----------------------------------------------- */

static mtr_cred_chain_t *container_chain(server_t *s, mtr_cred_env_t *env)
{
    mtr_clock_manual_init(&clk, T0);
    mtr_cred_chain_options_t o = {.env = env, .clock = &clk, .container_endpoint = s->base};
    return mtr_cred_chain_new(&o);
}

/* A loopback endpoint and a chain whose environment leads to it; the chain
 * keeps a pointer to env, so a rig stays where it was started. */
typedef struct rig {
    server_t *s;
    mtr_cred_env_t env;
    mtr_cred_chain_t *chain;
} rig_t;

/* A container endpoint that wants the Authorization `want` (NULL: any),
 * reached through AWS_CONTAINER_CREDENTIALS_RELATIVE_URI with the token
 * `sent` (NULL: none). */
static void container_rig(rig_t *r, const char *want, const char *sent)
{
    r->s = server_start(container_handler);
    r->s->token = want;
    r->env = quiet_env();
    r->env.container_relative_uri = "/v2/credentials/abc";
    r->env.container_auth_token = sent;
    r->chain = container_chain(r->s, &r->env);
}

static void rig_stop(rig_t *r)
{
    mtr_cred_chain_free(r->chain);
    server_stop(r->s);
}

static void test_container_relative_uri_sends_the_token_from_the_environment(void **state)
{
    (void)state;
    rig_t r;
    container_rig(&r, MARK "-ecs-auth", MARK "-ecs-auth");
    mtr_credentials_t c;
    char err[2048];
    assert_int_equal(get(r.chain, &c, err, sizeof err, NULL), MTR_OK);
    assert_credentials(&c, "ASIACTR1", MARK "-ctr-secret-1", MARK "-ctr-token-1", T0 + 60 * MIN_MS,
                       "container");
    mtr_credentials_clear(&c);
    rig_stop(&r);
}

static void test_container_token_file_is_read_again_on_every_fetch(void **state)
{
    (void)state;
    server_t *s = server_start(container_handler);
    s->token = MARK "-pod-token-1";
    mtr_cred_env_t env = quiet_env();
    char uri[128];
    snprintf(uri, sizeof uri, "%s/v2/credentials/abc", s->base);
    env.container_full_uri = uri;
    env.container_auth_token = MARK "-ignored-when-file-is-set";
    env.container_auth_token_file = tfile("pod-token", MARK "-pod-token-1\n");
    mtr_cred_chain_t *chain = chain_with(&env, NULL);
    assert_get_key(chain, "ASIACTR1");

    /* The agent rotates the token; the next fetch must send the new one. */
    tfile("pod-token", MARK "-pod-token-2");
    pthread_mutex_lock(&s->mu);
    s->token = MARK "-pod-token-2";
    pthread_mutex_unlock(&s->mu);
    mtr_clock_manual_advance(&clk, 56 * MIN_MS);
    assert_get_key(chain, "ASIACTR2");
    mtr_cred_chain_free(chain);
    server_stop(s);
}

static void test_container_wrong_token_is_an_auth_error(void **state)
{
    (void)state;
    rig_t r;
    container_rig(&r, MARK "-right", MARK "-wrong");
    assert_get_fails(r.chain, MTR_ERR_AUTH, "container: ",
                     "answered HTTP 401: bad authorization token (check the container "
                     "authorization token)",
                     NULL);
    assert_int_equal(hits(r.s), 1);
    rig_stop(&r);
}

static void test_container_full_uri_refuses_plain_http_to_other_hosts(void **state)
{
    (void)state;
    const char *refused[] = {"http://10.1.2.3/creds", "http://169.254.170.3/creds",
                             "http://example.com:80/creds", "http://127.0.0.1@10.0.0.1/x",
                             "ftp://127.0.0.1/creds"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        mtr_cred_env_t env = quiet_env();
        env.container_full_uri = refused[i];
        env.container_auth_token = MARK "-must-not-travel";
        mtr_cred_chain_t *chain = chain_with(&env, NULL);
        assert_get_fails(chain, MTR_ERR_CONFIG, "container: AWS_CONTAINER_CREDENTIALS_FULL_URI",
                         NULL);
        mtr_cred_chain_free(chain);
    }
}

static void test_malformed_endpoint_answers_are_errors_not_crashes(void **state)
{
    (void)state;
    server_t *s = server_start(container_handler);
    mtr_cred_env_t env = quiet_env();
    env.container_relative_uri = "/v2/credentials/abc";
    struct {
        const char *body;
        const char *want;
    } cases[] = {
        {"not json", "answer is not a JSON object"},
        {"[1,2]", "answer is not a JSON object"},
        {"{\"AccessKeyId\":\"ASIA1\",\"Token\":\"" MARK "-t\"}", "answer has no SecretAccessKey"},
        {"{\"AccessKeyId\":7,\"SecretAccessKey\":\"" MARK "-s\"}", "answer has no AccessKeyId"},
        {"{\"AccessKeyId\":\"ASIA1\",\"SecretAccessKey\":\"" MARK "-s\",\"Expiration\":\"soon\"}",
         "Expiration \"soon\" is not an ISO 8601 time"},
        {NULL, "response larger than"},
    };
    /* The last case is an endless answer, which is cut off. */
    char *huge = malloc(MTR_HTTP_CLIENT_MAX_BODY + 100);
    memset(huge, 'A', MTR_HTTP_CLIENT_MAX_BODY + 99);
    huge[MTR_HTTP_CLIENT_MAX_BODY + 99] = '\0';
    cases[sizeof cases / sizeof cases[0] - 1].body = huge;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        s->raw_reply = cases[i].body;
        mtr_cred_chain_t *chain = container_chain(s, &env);
        assert_get_fails(chain, MTR_ERR_PARSE, cases[i].want, NULL);
        mtr_cred_chain_free(chain);
    }
    server_stop(s);
    free(huge);
}

/* ---- instance metadata ------------------------------------------------ */

/* Instance metadata on loopback, with AWS_EC2_METADATA_DISABLED set to
 * `disabled`. */
static void imds_rig(rig_t *r, const char *disabled)
{
    r->s = server_start(imds_handler);
    r->env = quiet_env();
    r->env.ec2_metadata_disabled = disabled;
    r->env.ec2_metadata_endpoint = r->s->base;
    r->chain = chain_with(&r->env, NULL);
}

static void test_imds_gets_a_session_token_first_then_the_role_credentials(void **state)
{
    (void)state;
    rig_t r;
    imds_rig(&r, "false");
    server_t *s = r.s;
    mtr_credentials_t c;
    char err[2048];
    assert_int_equal(get(r.chain, &c, err, sizeof err, NULL), MTR_OK);
    assert_credentials(&c, "ASIAIMDS3", MARK "-imds-secret", MARK "-imds-token", T0 + 60 * MIN_MS,
                       "EC2 instance metadata");
    assert_int_equal(s->ttl_puts, 1);
    assert_int_equal(s->tokenless_gets, 0);
    assert_int_equal(hits(s), 3);
    mtr_credentials_clear(&c);
    rig_stop(&r);
}

static void test_imds_disabled_makes_no_request(void **state)
{
    (void)state;
    rig_t r;
    imds_rig(&r, "TRUE");
    assert_get_fails(r.chain, MTR_ERR_AUTH,
                     "EC2 instance metadata: disabled by AWS_EC2_METADATA_DISABLED", NULL);
    assert_int_equal(hits(r.s), 0);
    rig_stop(&r);
}

/* ---- STS web identity ------------------------------------------------- */

static mtr_cred_chain_t *sts_chain(server_t *s, mtr_cred_env_t *env, const char *profile)
{
    mtr_clock_manual_init(&clk, T0);
    mtr_cred_chain_options_t o = {
        .env = env, .clock = &clk, .sts_endpoint = s->base, .profile = profile};
    return mtr_cred_chain_new(&o);
}

static void test_web_identity_posts_role_and_token_and_reads_the_xml_answer(void **state)
{
    (void)state;
    server_t *s = server_start(sts_handler);
    mtr_cred_env_t env = quiet_env();
    env.web_identity_token_file = tfile("irsa-token", WEB_TOKEN "\n");
    env.role_arn = ROLE_ARN;
    env.role_session_name = "meterd-pod-7";
    mtr_cred_chain_t *chain = sts_chain(s, &env, NULL);
    mtr_credentials_t c;
    char err[2048];
    assert_int_equal(get(chain, &c, err, sizeof err, NULL), MTR_OK);
    assert_credentials(&c, "ASIASTS1", MARK "-sts-secret", MARK "-sts-token&1", T0 + 60 * MIN_MS,
                       "web identity");
    char session[80];
    assert_true(form_value(s->last_body, "RoleSessionName", session, sizeof session));
    assert_string_equal(session, "meterd-pod-7");
    mtr_credentials_clear(&c);
    mtr_cred_chain_free(chain);
    server_stop(s);
}

static void test_web_identity_sts_error_code_appears_in_the_message(void **state)
{
    (void)state;
    server_t *s = server_start(sts_handler);
    mtr_cred_env_t env = quiet_env();
    env.web_identity_token_file = tfile("irsa-token-old", MARK "-not-the-expected-token");
    env.role_arn = ROLE_ARN;
    mtr_cred_chain_t *chain = sts_chain(s, &env, NULL);
    assert_get_fails(chain, MTR_ERR_AUTH, "web identity: STS ",
                     "AssumeRoleWithWebIdentity for " ROLE_ARN
                     " failed: HTTP 400 InvalidIdentityToken: Incorrect token audience",
                     NULL);
    assert_int_equal(hits(s), 1);
    mtr_cred_chain_free(chain);

    /* A missing token file is named. */
    env.web_identity_token_file = "/nonexistent/irsa/token";
    chain = sts_chain(s, &env, NULL);
    assert_get_fails(chain, MTR_ERR_CONFIG,
                     "web identity: AWS_WEB_IDENTITY_TOKEN_FILE: /nonexistent/irsa/token not found",
                     NULL);
    assert_int_equal(hits(s), 1);
    mtr_cred_chain_free(chain);
    server_stop(s);
}

static void test_profile_role_arn_with_web_identity_token_file_assumes_the_role(void **state)
{
    (void)state;
    server_t *s = server_start(sts_handler);
    const char *token_file = tfile("profile-irsa-token", WEB_TOKEN);
    char config[512];
    snprintf(config, sizeof config,
             "[profile irsa]\nrole_arn = %s\nweb_identity_token_file = %s\n"
             "role_session_name = from-profile\n",
             ROLE_ARN, token_file);
    mtr_cred_env_t env = quiet_env();
    env.config_file = tfile("config-irsa", config);
    mtr_cred_chain_t *chain = sts_chain(s, &env, "irsa");
    mtr_credentials_t c;
    char err[2048];
    assert_int_equal(get(chain, &c, err, sizeof err, NULL), MTR_OK);
    assert_string_equal(c.access_key_id, "ASIASTS1");
    assert_string_equal(c.provider, "profile \"irsa\"");
    char session[80];
    assert_true(form_value(s->last_body, "RoleSessionName", session, sizeof session));
    assert_string_equal(session, "from-profile");
    mtr_credentials_clear(&c);
    mtr_cred_chain_free(chain);
    server_stop(s);
}

/* ---- the chain -------------------------------------------------------- */

static void test_chain_order_is_env_profile_web_identity_container_imds(void **state)
{
    (void)state;
    server_t *sts = server_start(sts_handler);
    server_t *ctr = server_start(container_handler);
    server_t *imds = server_start(imds_handler);
    mtr_cred_env_t env = quiet_env();
    env.access_key_id = "AKIAENV";
    env.secret_access_key = MARK "-env";
    env.shared_credentials_file =
        tfile("credentials-order", "[default]\n"
                                   "aws_access_key_id = AKIAPROFILE\n"
                                   "aws_secret_access_key = " MARK "-p\n");
    env.web_identity_token_file = tfile("order-token", WEB_TOKEN);
    env.role_arn = ROLE_ARN;
    env.container_relative_uri = "/v2/credentials/abc";
    env.ec2_metadata_disabled = NULL;
    env.ec2_metadata_endpoint = imds->base;
    const char *expect[] = {"environment", "profile \"default\"", "web identity", "container",
                            "EC2 instance metadata"};
    int want_hits[][3] = {{0, 0, 0}, {0, 0, 0}, {1, 0, 0}, {1, 1, 0}, {1, 1, 3}};
    for (int step = 0; step < 5; step++) {
        mtr_clock_manual_init(&clk, T0);
        mtr_cred_chain_options_t o = {
            .env = &env, .clock = &clk, .sts_endpoint = sts->base, .container_endpoint = ctr->base};
        mtr_cred_chain_t *chain = mtr_cred_chain_new(&o);
        mtr_credentials_t c;
        char err[2048];
        assert_int_equal(get(chain, &c, err, sizeof err, NULL), MTR_OK);
        assert_string_equal(c.provider, expect[step]);
        assert_int_equal(hits(sts), want_hits[step][0]);
        assert_int_equal(hits(ctr), want_hits[step][1]);
        assert_int_equal(hits(imds), want_hits[step][2]);
        mtr_credentials_clear(&c);
        mtr_cred_chain_free(chain);
        /* Take away the source that just won. */
        if (step == 0)
            env.access_key_id = env.secret_access_key = NULL;
        else if (step == 1)
            env.shared_credentials_file = "/nonexistent/credentials";
        else if (step == 2)
            env.web_identity_token_file = NULL;
        else if (step == 3)
            env.container_relative_uri = NULL;
    }
    server_stop(sts);
    server_stop(ctr);
    server_stop(imds);
}

static void test_cached_credentials_do_not_call_the_endpoint_again(void **state)
{
    (void)state;
    rig_t r;
    container_rig(&r, NULL, NULL);
    for (int i = 0; i < 5; i++) {
        assert_get_key(r.chain, "ASIACTR1");
        mtr_clock_manual_advance(&clk, 10 * MIN_MS); /* up to 16:50, still > 5 min left */
    }
    assert_int_equal(hits(r.s), 1);
    rig_stop(&r);
}

static void test_credentials_are_refreshed_five_minutes_before_expiry(void **state)
{
    (void)state;
    rig_t r;
    container_rig(&r, NULL, NULL);
    assert_get_key(r.chain, "ASIACTR1");
    /* 16:54:59.999: five minutes and a millisecond left, cached. */
    mtr_clock_manual_advance(&clk, 55 * MIN_MS - 1);
    assert_get_key(r.chain, "ASIACTR1");
    assert_int_equal(hits(r.s), 1);
    /* 16:55:00: refreshed, and the new ones are cached in turn. */
    r.s->expiration = "2026-11-26T18:00:00Z";
    mtr_clock_manual_advance(&clk, 1);
    mtr_credentials_t c;
    char err[2048];
    assert_int_equal(get(r.chain, &c, err, sizeof err, NULL), MTR_OK);
    assert_string_equal(c.access_key_id, "ASIACTR2");
    assert_int_equal(c.expiration_ms, T0 + 120 * MIN_MS);
    mtr_credentials_clear(&c);
    assert_get_key(r.chain, "ASIACTR2");
    assert_int_equal(hits(r.s), 2);
    rig_stop(&r);
}

static void test_failed_refresh_keeps_still_valid_credentials_and_warns(void **state)
{
    (void)state;
    rig_t r;
    container_rig(&r, NULL, NULL);
    assert_get_key(r.chain, "ASIACTR1");
    r.s->fail_status = 503;
    mtr_clock_manual_advance(&clk, 57 * MIN_MS); /* 16:57, 3 minutes left */
    mtr_credentials_t c;
    char err[2048], *log;
    assert_int_equal(get(r.chain, &c, err, sizeof err, &log), MTR_OK);
    assert_string_equal(c.access_key_id, "ASIACTR1");
    mtr_credentials_clear(&c);
    assert_non_null(strstr(log, "warn "));
    assert_non_null(strstr(log, "refresh failed, keeping the current credentials from "
                                "container (valid until 2026-11-26T17:00:00Z)"));
    assert_non_null(strstr(log, "answered HTTP 503"));
    free(log);
    assert_int_equal(hits(r.s), 2);
    /* Within the pause after a failure the endpoint is not asked again. */
    mtr_clock_manual_advance(&clk, MTR_CRED_RETRY_AFTER_FAILURE_MS - 1);
    assert_get_key(r.chain, "ASIACTR1");
    assert_int_equal(hits(r.s), 2);
    /* After it, it is; and once it answers again the new ones are used. */
    r.s->fail_status = 0;
    mtr_clock_manual_advance(&clk, 1);
    assert_get_key(r.chain, "ASIACTR3");
    rig_stop(&r);
}

static void test_expired_credentials_with_failing_refresh_is_an_error(void **state)
{
    (void)state;
    rig_t r;
    container_rig(&r, NULL, NULL);
    assert_get_key(r.chain, "ASIACTR1");
    r.s->fail_status = 500;
    mtr_clock_manual_advance(&clk, 60 * MIN_MS); /* 17:00:00, expired */
    mtr_credentials_t c;
    char err[2048];
    assert_int_equal(get(r.chain, &c, err, sizeof err, NULL), MTR_ERR_SERVER);
    assert_null(c.access_key_id);
    assert_non_null(strstr(err, "no AWS credentials: "));
    assert_non_null(strstr(err, "container: "));
    assert_non_null(strstr(err, "answered HTTP 500"));
    rig_stop(&r);
}

typedef struct getter {
    mtr_cred_chain_t *chain;
    mtr_err_t err;
    char key[32];
} getter_t;

static void *get_in_thread(void *arg)
{
    getter_t *g = arg;
    mtr_credentials_t c;
    char err[2048];
    g->err = mtr_cred_chain_get(g->chain, &c, err, sizeof err);
    if (g->err == MTR_OK)
        snprintf(g->key, sizeof g->key, "%s", c.access_key_id);
    mtr_credentials_clear(&c);
    return NULL;
}

static void test_concurrent_callers_share_one_refresh(void **state)
{
    (void)state;
    rig_t r;
    container_rig(&r, NULL, NULL);
    r.s->delay_ms = 200; /* keeps the first fetch in flight while the others arrive */
    enum { N = 8 };
    pthread_t t[N];
    getter_t g[N];
    capture_begin();
    for (int i = 0; i < N; i++) {
        g[i] = (getter_t){.chain = r.chain};
        pthread_create(&t[i], NULL, get_in_thread, &g[i]);
    }
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    free(capture_end());
    for (int i = 0; i < N; i++) {
        assert_int_equal(g[i].err, MTR_OK);
        assert_string_equal(g[i].key, "ASIACTR1");
    }
    assert_int_equal(hits(r.s), 1);
    rig_stop(&r);
}

static void test_nothing_configured_lists_every_provider_and_what_to_set(void **state)
{
    (void)state;
    mtr_cred_env_t env = quiet_env();
    mtr_cred_chain_t *chain = chain_with(&env, NULL);
    mtr_credentials_t c;
    char err[2048];
    assert_int_equal(get(chain, &c, err, sizeof err, NULL), MTR_ERR_AUTH);
    char want[1024];
    snprintf(want, sizeof want,
             "no AWS credentials: environment: AWS_ACCESS_KEY_ID not set; "
             "profile \"default\": %s/.aws/credentials not found, %s/.aws/config not found; "
             "web identity: AWS_WEB_IDENTITY_TOKEN_FILE not set; "
             "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
             "AWS_CONTAINER_CREDENTIALS_FULL_URI not set; "
             "EC2 instance metadata: disabled by AWS_EC2_METADATA_DISABLED",
             tmpdir, tmpdir);
    assert_string_equal(err, want);
    mtr_cred_chain_free(chain);
}

static void test_unreachable_imds_counts_as_not_configured(void **state)
{
    (void)state;
    /* A loopback port nobody listens on: refused at once. */
    server_t *s = server_start(imds_handler);
    char dead[64];
    snprintf(dead, sizeof dead, "%s", s->base);
    server_stop(s);
    mtr_cred_env_t env = quiet_env();
    env.ec2_metadata_disabled = NULL;
    env.ec2_metadata_endpoint = dead;
    mtr_cred_chain_t *chain = chain_with(&env, NULL);
    assert_get_fails(chain, MTR_ERR_AUTH, "EC2 instance metadata: no instance metadata service",
                     NULL);
    mtr_cred_chain_free(chain);
}

/* ---- a scripted client in place of libcurl ---------------------------- */

typedef struct fake_http {
    mtr_http_client_t base;
    int n;
    char url[4][256];
    int64_t timeout_ms[4], connect_timeout_ms[4];
    bool no_proxy[4];
} fake_http_t;

static mtr_err_t fake_send(mtr_http_client_t *client, const mtr_http_client_request_t *req,
                           mtr_http_response_t *resp, char *errstr, size_t errstr_size)
{
    fake_http_t *f = (fake_http_t *)client;
    if (f->n < 4) {
        snprintf(f->url[f->n], sizeof f->url[0], "%s", req->url);
        f->timeout_ms[f->n] = req->timeout_ms;
        f->connect_timeout_ms[f->n] = req->connect_timeout_ms;
        f->no_proxy[f->n] = req->no_proxy;
    }
    f->n++;
    memset(resp, 0, sizeof *resp);
    return mtr_err_set(errstr, errstr_size, MTR_ERR_TIMEOUT, "%s %s: no answer", req->method,
                       req->url);
}

static void fake_destroy(mtr_http_client_t *client)
{
    (void)client;
}

static const mtr_http_client_vtable_t fake_vtable = {fake_send, fake_destroy};

static void test_imds_requests_use_short_timeouts_and_no_proxy(void **state)
{
    (void)state;
    fake_http_t f = {.base.vt = &fake_vtable};
    mtr_cred_env_t env = quiet_env();
    env.ec2_metadata_disabled = NULL;
    mtr_clock_manual_init(&clk, T0);
    mtr_cred_chain_options_t o = {.env = &env, .clock = &clk, .http = &f.base};
    mtr_cred_chain_t *chain = mtr_cred_chain_new(&o);
    mtr_credentials_t c;
    char err[2048];
    assert_int_equal(get(chain, &c, err, sizeof err, NULL), MTR_ERR_AUTH);
    assert_int_equal(f.n, 1);
    assert_string_equal(f.url[0], "http://169.254.169.254/latest/api/token");
    assert_int_equal(f.timeout_ms[0], 1000);
    assert_int_equal(f.connect_timeout_ms[0], 1000);
    assert_true(f.no_proxy[0]);
    assert_non_null(strstr(err, "EC2 instance metadata: no instance metadata service"));
    mtr_cred_chain_free(chain);
}

static void test_sts_endpoint_follows_the_configured_region(void **state)
{
    (void)state;
    const struct {
        const char *config_region, *env_region, *url;
    } cases[] = {
        {"eu-west-1", "us-east-2", "https://sts.eu-west-1.amazonaws.com/"},
        {NULL, "us-east-2", "https://sts.us-east-2.amazonaws.com/"},
        {"cn-north-1", NULL, "https://sts.cn-north-1.amazonaws.com.cn/"},
        {NULL, NULL, "https://sts.amazonaws.com/"},
    };
    const char *token = tfile("region-token", WEB_TOKEN);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake_http_t f = {.base.vt = &fake_vtable};
        mtr_cred_env_t env = quiet_env();
        env.web_identity_token_file = token;
        env.role_arn = ROLE_ARN;
        env.region = cases[i].env_region;
        mtr_clock_manual_init(&clk, T0);
        mtr_cred_chain_options_t o = {
            .env = &env, .clock = &clk, .http = &f.base, .region = cases[i].config_region};
        mtr_cred_chain_t *chain = mtr_cred_chain_new(&o);
        mtr_credentials_t c;
        char err[2048];
        assert_int_equal(get(chain, &c, err, sizeof err, NULL), MTR_ERR_TIMEOUT);
        assert_int_equal(f.n, 1);
        assert_string_equal(f.url[0], cases[i].url);
        assert_false(f.no_proxy[0]);
        mtr_cred_chain_free(chain);
    }
}

static void test_imds_that_does_not_answer_in_time_is_given_up(void **state)
{
    (void)state;
    server_t *s = server_start(imds_handler);
    s->delay_ms = 600;
    mtr_cred_env_t env = quiet_env();
    env.ec2_metadata_disabled = NULL;
    mtr_clock_manual_init(&clk, T0);
    mtr_cred_chain_options_t o = {
        .env = &env, .clock = &clk, .imds_endpoint = s->base, .imds_timeout_ms = 100};
    mtr_cred_chain_t *chain = mtr_cred_chain_new(&o);
    mtr_credentials_t c;
    char err[2048];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(get(chain, &c, err, sizeof err, NULL), MTR_ERR_AUTH);
    clock_gettime(CLOCK_MONOTONIC, &b);
    int64_t elapsed = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    assert_true(elapsed < 500);
    assert_non_null(strstr(err, "no answer within 100 ms"));
    mtr_cred_chain_free(chain);
    server_stop(s);
}

/* Runs last: everything the tests above made the module say. */
static void test_no_secret_reaches_errstr_or_logs(void **state)
{
    (void)state;
    assert_non_null(seen);
    /* The capture worked: info lines and error texts are in it. */
    assert_non_null(strstr(seen, "using credentials from container"));
    assert_non_null(strstr(seen, "InvalidIdentityToken"));
    assert_non_null(strstr(seen, "refresh failed"));
    const char *leak = strstr(seen, MARK);
    if (leak)
        fprintf(stderr, "leaked: ...%.80s\n", leak > seen + 40 ? leak - 40 : seen);
    assert_null(leak);
}

int main(void)
{
    /* Every server here is on loopback; a proxy from the environment must
     * not get in the way. */
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iso8601_parses_utc_fractions_and_offsets),
        cmocka_unit_test(test_iso8601_rejects_malformed_times),
        cmocka_unit_test(test_environment_keys_are_used_and_never_expire),
        cmocka_unit_test(test_environment_key_without_secret_names_the_missing_variable),
        cmocka_unit_test(test_profile_file_with_comments_and_whitespace_gives_its_keys),
        cmocka_unit_test(test_config_profile_sections_and_credentials_file_win_key_by_key),
        cmocka_unit_test(test_profile_key_without_secret_is_an_error_naming_the_file),
        cmocka_unit_test(test_named_profile_that_does_not_exist_is_a_config_error),
        cmocka_unit_test(test_malformed_profile_line_is_reported_without_its_content),
        cmocka_unit_test(test_container_relative_uri_sends_the_token_from_the_environment),
        cmocka_unit_test(test_container_token_file_is_read_again_on_every_fetch),
        cmocka_unit_test(test_container_wrong_token_is_an_auth_error),
        cmocka_unit_test(test_container_full_uri_refuses_plain_http_to_other_hosts),
        cmocka_unit_test(test_malformed_endpoint_answers_are_errors_not_crashes),
        cmocka_unit_test(test_imds_gets_a_session_token_first_then_the_role_credentials),
        cmocka_unit_test(test_imds_disabled_makes_no_request),
        cmocka_unit_test(test_web_identity_posts_role_and_token_and_reads_the_xml_answer),
        cmocka_unit_test(test_web_identity_sts_error_code_appears_in_the_message),
        cmocka_unit_test(test_profile_role_arn_with_web_identity_token_file_assumes_the_role),
        cmocka_unit_test(test_chain_order_is_env_profile_web_identity_container_imds),
        cmocka_unit_test(test_cached_credentials_do_not_call_the_endpoint_again),
        cmocka_unit_test(test_credentials_are_refreshed_five_minutes_before_expiry),
        cmocka_unit_test(test_failed_refresh_keeps_still_valid_credentials_and_warns),
        cmocka_unit_test(test_expired_credentials_with_failing_refresh_is_an_error),
        cmocka_unit_test(test_concurrent_callers_share_one_refresh),
        cmocka_unit_test(test_nothing_configured_lists_every_provider_and_what_to_set),
        cmocka_unit_test(test_unreachable_imds_counts_as_not_configured),
        cmocka_unit_test(test_imds_requests_use_short_timeouts_and_no_proxy),
        cmocka_unit_test(test_sts_endpoint_follows_the_configured_region),
        cmocka_unit_test(test_imds_that_does_not_answer_in_time_is_given_up),
        cmocka_unit_test(test_no_secret_reaches_errstr_or_logs),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
