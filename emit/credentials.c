/* The credential chain: reads the AWS environment once, builds the
 * providers in SDK order, and caches what the first working one gives,
 * refreshing it before expiry with one caller at a time. The helpers the
 * providers share are cred_values.c. */
#include "emit/credentials.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "emit/cred_int.h"

#define LOG_MOD     "credentials"
#define N_PROVIDERS 5

struct mtr_cred_chain {
    mtr_cred_ctx_t ctx;
    mtr_http_client_t *own_http;
    mtr_cred_provider_t *providers[N_PROVIDERS];

    pthread_mutex_t mu; /* guards everything below */
    pthread_cond_t done;
    bool refreshing;     /* one caller is walking the chain */
    uint64_t generation; /* counts finished refreshes */
    bool have;
    mtr_credentials_t cached;
    int64_t retry_after_ms; /* no refresh before this while still valid */
    mtr_err_t last_err;
    char last_errstr[2048];
};

static void format_iso(int64_t ms, char out[32])
{
    if (ms == 0) {
        snprintf(out, 32, "never");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- the environment, read once --------------------------------------- */

static char *dup_or_null(const char *s)
{
    return s ? mtr_strdup(s) : NULL;
}

/* mtr_cred_env_t is a row of string pointers and nothing else. */
_Static_assert(sizeof(mtr_cred_env_t) % sizeof(const char *) == 0, "env holds only strings");

static void env_copy(mtr_cred_env_t *dst, const mtr_cred_env_t *src)
{
    const char *const *s = (const char *const *)src;
    const char **d = (const char **)dst;
    for (size_t i = 0; i < sizeof *src / sizeof(char *); i++)
        d[i] = dup_or_null(s[i]);
}

static void env_free(mtr_cred_env_t *env)
{
    const char **d = (const char **)env;
    for (size_t i = 0; i < sizeof *env / sizeof(char *); i++)
        mtr_cred_free_secret((char *)d[i]);
}

static void env_from_process(mtr_cred_env_t *e)
{
    e->access_key_id = getenv("AWS_ACCESS_KEY_ID");
    e->secret_access_key = getenv("AWS_SECRET_ACCESS_KEY");
    e->session_token = getenv("AWS_SESSION_TOKEN");
    e->profile = getenv("AWS_PROFILE");
    e->region = getenv("AWS_REGION");
    if (!e->region || !*e->region)
        e->region = getenv("AWS_DEFAULT_REGION");
    e->shared_credentials_file = getenv("AWS_SHARED_CREDENTIALS_FILE");
    e->config_file = getenv("AWS_CONFIG_FILE");
    e->home = getenv("HOME");
    e->web_identity_token_file = getenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    e->role_arn = getenv("AWS_ROLE_ARN");
    e->role_session_name = getenv("AWS_ROLE_SESSION_NAME");
    e->container_relative_uri = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    e->container_full_uri = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    e->container_auth_token = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    e->container_auth_token_file = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    e->ec2_metadata_disabled = getenv("AWS_EC2_METADATA_DISABLED");
    e->ec2_metadata_endpoint = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
}

static bool set(const char *s)
{
    return s && *s;
}

/* "~/x" → "$HOME/x"; NULL when it needs HOME and there is none. */
static char *expand_home(const char *path, const char *home)
{
    if (path[0] != '~')
        return mtr_strdup(path);
    if (!set(home))
        return NULL;
    size_t n = strlen(home) + strlen(path);
    char *out = mtr_malloc(n + 1);
    snprintf(out, n + 1, "%s%s", home, path + 1);
    return out;
}

static char *strip_slash(const char *url)
{
    char *s = mtr_strdup(url);
    size_t n = strlen(s);
    while (n && s[n - 1] == '/')
        s[--n] = '\0';
    return s;
}

static void ctx_init(mtr_cred_ctx_t *ctx, const mtr_cred_chain_options_t *opts)
{
    mtr_cred_env_t process = {0};
    if (!opts->env)
        env_from_process(&process);
    env_copy(&ctx->env, opts->env ? opts->env : &process);
    const mtr_cred_env_t *e = &ctx->env;

    ctx->profile_explicit = set(opts->profile) || set(e->profile);
    ctx->profile = mtr_strdup(set(opts->profile) ? opts->profile
                              : set(e->profile)  ? e->profile
                                                 : "default");
    ctx->credentials_path = expand_home(set(e->shared_credentials_file) ? e->shared_credentials_file
                                                                        : "~/.aws/credentials",
                                        e->home);
    ctx->config_path = expand_home(set(e->config_file) ? e->config_file : "~/.aws/config", e->home);
    ctx->region = dup_or_null(set(opts->region) ? opts->region : set(e->region) ? e->region : NULL);

    char sts[256];
    if (set(opts->sts_endpoint))
        snprintf(sts, sizeof sts, "%s", opts->sts_endpoint);
    else if (ctx->region)
        snprintf(sts, sizeof sts, "https://sts.%s.amazonaws.com%s", ctx->region,
                 strncmp(ctx->region, "cn-", 3) == 0 ? ".cn" : "");
    else
        snprintf(sts, sizeof sts, "https://sts.amazonaws.com");
    ctx->sts_endpoint = strip_slash(sts);
    ctx->container_endpoint = strip_slash(set(opts->container_endpoint) ? opts->container_endpoint
                                                                        : "http://169.254.170.2");
    ctx->imds_endpoint = strip_slash(set(opts->imds_endpoint)        ? opts->imds_endpoint
                                     : set(e->ec2_metadata_endpoint) ? e->ec2_metadata_endpoint
                                                                     : "http://169.254.169.254");
    ctx->imds_timeout_ms = opts->imds_timeout_ms > 0 ? opts->imds_timeout_ms : 1000;
    ctx->clock = opts->clock ? opts->clock : mtr_clock_system();
}

static void ctx_free(mtr_cred_ctx_t *ctx)
{
    env_free(&ctx->env);
    mtr_free(ctx->profile);
    mtr_free(ctx->credentials_path);
    mtr_free(ctx->config_path);
    mtr_free(ctx->region);
    mtr_free(ctx->sts_endpoint);
    mtr_free(ctx->container_endpoint);
    mtr_free(ctx->imds_endpoint);
}

/* ---- the chain --------------------------------------------------------- */

mtr_cred_chain_t *mtr_cred_chain_new(const mtr_cred_chain_options_t *opts)
{
    static const mtr_cred_chain_options_t none = {0};
    if (!opts)
        opts = &none;
    mtr_cred_chain_t *c = mtr_calloc(1, sizeof *c);
    ctx_init(&c->ctx, opts);
    if (opts->http) {
        c->ctx.http = opts->http;
    } else {
        c->own_http = mtr_http_client_curl_new();
        c->ctx.http = c->own_http;
    }
    c->providers[0] = mtr_cred_env_new(&c->ctx);
    c->providers[1] = mtr_cred_profile_new(&c->ctx);
    c->providers[2] = mtr_cred_web_identity_new(&c->ctx);
    c->providers[3] = mtr_cred_container_new(&c->ctx);
    c->providers[4] = mtr_cred_imds_new(&c->ctx);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->done, NULL);
    return c;
}

void mtr_cred_chain_free(mtr_cred_chain_t *chain)
{
    if (!chain)
        return;
    for (int i = 0; i < N_PROVIDERS; i++)
        chain->providers[i]->vt->destroy(chain->providers[i]);
    mtr_credentials_clear(&chain->cached);
    mtr_http_client_destroy(chain->own_http);
    ctx_free(&chain->ctx);
    pthread_cond_destroy(&chain->done);
    pthread_mutex_destroy(&chain->mu);
    mtr_free(chain);
}

/* Walks the providers in order; the first that answers wins. Otherwise
 * errstr collects every provider's reason. */
static mtr_err_t resolve_chain(mtr_cred_chain_t *c, mtr_credentials_t *out, char *errstr,
                               size_t errstr_size)
{
    char msg[2048];
    size_t pos = (size_t)snprintf(msg, sizeof msg, "no AWS credentials: ");
    mtr_err_t first = MTR_OK;
    for (int i = 0; i < N_PROVIDERS; i++) {
        mtr_cred_provider_t *p = c->providers[i];
        char perr[512] = "";
        mtr_credentials_t got = {0};
        mtr_err_t err = p->vt->resolve(p, &got, perr, sizeof perr);
        if (err == MTR_OK) {
            if (!got.provider)
                got.provider = p->vt->name(p);
            *out = got;
            return MTR_OK;
        }
        mtr_credentials_clear(&got);
        if (err != MTR_ERR_NOT_FOUND && first == MTR_OK)
            first = err;
        if (pos < sizeof msg)
            pos += (size_t)snprintf(msg + pos, sizeof msg - pos, "%s%s: %s", i ? "; " : "",
                                    p->vt->name(p), perr);
    }
    return mtr_err_set(errstr, errstr_size, first != MTR_OK ? first : MTR_ERR_AUTH, "%s", msg);
}

static bool valid_at(const mtr_credentials_t *c, int64_t now)
{
    return c->expiration_ms == 0 || now < c->expiration_ms;
}

static bool fresh_at(const mtr_credentials_t *c, int64_t now)
{
    return c->expiration_ms == 0 || now < c->expiration_ms - MTR_CRED_REFRESH_BEFORE_MS;
}

mtr_err_t mtr_cred_chain_get(mtr_cred_chain_t *c, mtr_credentials_t *out, char *errstr,
                             size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&c->mu);
    int64_t now = mtr_clock_wall_ms(c->ctx.clock);
    if (c->have && (fresh_at(&c->cached, now) ||
                    (valid_at(&c->cached, now) && (c->refreshing || now < c->retry_after_ms)))) {
        mtr_credentials_copy(out, &c->cached);
        pthread_mutex_unlock(&c->mu);
        return MTR_OK;
    }
    if (c->refreshing) {
        /* Nothing valid to hand out: wait for the refresher's outcome. */
        uint64_t gen = c->generation;
        while (c->generation == gen)
            pthread_cond_wait(&c->done, &c->mu);
        now = mtr_clock_wall_ms(c->ctx.clock);
        mtr_err_t err = MTR_OK;
        if (c->have && valid_at(&c->cached, now))
            mtr_credentials_copy(out, &c->cached);
        else
            err = mtr_err_set(errstr, errstr_size, c->last_err ? c->last_err : MTR_ERR_AUTH, "%s",
                              c->last_errstr);
        pthread_mutex_unlock(&c->mu);
        return err;
    }
    c->refreshing = true;
    pthread_mutex_unlock(&c->mu);

    mtr_credentials_t fresh = {0};
    char why[2048] = "";
    mtr_err_t err = resolve_chain(c, &fresh, why, sizeof why);

    pthread_mutex_lock(&c->mu);
    now = mtr_clock_wall_ms(c->ctx.clock);
    c->refreshing = false;
    c->generation++;
    c->retry_after_ms = now + MTR_CRED_RETRY_AFTER_FAILURE_MS;
    char until[32];
    if (err == MTR_OK) {
        format_iso(fresh.expiration_ms, until);
        if (!c->have || c->cached.provider != fresh.provider)
            mtr_info(LOG_MOD, "using credentials from %s (expire: %s)", fresh.provider, until);
        else
            mtr_debug(LOG_MOD, "refreshed credentials from %s (expire: %s)", fresh.provider, until);
        mtr_credentials_clear(&c->cached);
        c->cached = fresh;
        c->have = true;
        c->last_err = MTR_OK;
        c->last_errstr[0] = '\0';
        mtr_credentials_copy(out, &c->cached);
    } else {
        c->last_err = err;
        snprintf(c->last_errstr, sizeof c->last_errstr, "%s", why);
        if (c->have && valid_at(&c->cached, now)) {
            format_iso(c->cached.expiration_ms, until);
            mtr_warn(LOG_MOD,
                     "refresh failed, keeping the current credentials from %s (valid until "
                     "%s): %s",
                     c->cached.provider, until, why);
            mtr_credentials_copy(out, &c->cached);
            err = MTR_OK;
        } else {
            mtr_err_set(errstr, errstr_size, err, "%s", why);
        }
    }
    pthread_cond_broadcast(&c->done);
    pthread_mutex_unlock(&c->mu);
    return err;
}
