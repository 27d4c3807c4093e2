/* Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 * AWS_SESSION_TOKEN, as read by the chain; they never expire. */
#include "core/mem.h"
#include "emit/cred_int.h"

typedef struct env_provider {
    mtr_cred_provider_t base;
    const mtr_cred_ctx_t *ctx;
} env_provider_t;

static const char *env_name(mtr_cred_provider_t *p)
{
    (void)p;
    return "environment";
}

static mtr_err_t env_resolve(mtr_cred_provider_t *p, mtr_credentials_t *out, char *errstr,
                             size_t errstr_size)
{
    const mtr_cred_env_t *e = &((env_provider_t *)p)->ctx->env;
    bool have_id = e->access_key_id && *e->access_key_id;
    bool have_secret = e->secret_access_key && *e->secret_access_key;
    if (!have_id && !have_secret)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_NOT_FOUND, "AWS_ACCESS_KEY_ID not set");
    if (!have_secret)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                           "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; set "
                           "both, or unset AWS_ACCESS_KEY_ID to use another source");
    if (!have_id)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                           "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not; set "
                           "both, or unset AWS_SECRET_ACCESS_KEY to use another source");
    mtr_cred_set(out, e->access_key_id, e->secret_access_key, e->session_token, 0, NULL);
    return MTR_OK;
}

static void env_destroy(mtr_cred_provider_t *p)
{
    mtr_free(p);
}

static const mtr_cred_provider_vtable_t env_vtable = {env_name, env_resolve, env_destroy};

mtr_cred_provider_t *mtr_cred_env_new(const mtr_cred_ctx_t *ctx)
{
    env_provider_t *p = mtr_calloc(1, sizeof *p);
    p->base.vt = &env_vtable;
    p->ctx = ctx;
    return &p->base;
}
