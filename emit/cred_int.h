/* Inside the credentials module: the settings every provider reads (built
 * once by the chain from options and environment), the provider
 * constructors, and the small helpers the providers share (cred_values.c).
 * The chain (credentials.c) builds the providers; the providers use only
 * cred_values.c and, for STS, cred_web_identity.c. */
#ifndef MTR_CRED_INT_H
#define MTR_CRED_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "emit/credentials.h"

/* Owned by the chain, read-only after mtr_cred_chain_new(), outlives every
 * provider. All strings are owned copies (NULL: not set). */
typedef struct mtr_cred_ctx {
    mtr_cred_env_t env;
    char *profile;          /* resolved profile name */
    bool profile_explicit;  /* named by config or AWS_PROFILE, not the default */
    char *credentials_path; /* resolved shared credentials file */
    char *config_path;      /* resolved config file */
    char *region;           /* NULL: none known */
    char *sts_endpoint;     /* without trailing '/' */
    char *container_endpoint;
    char *imds_endpoint;
    int64_t imds_timeout_ms;
    mtr_http_client_t *http;
    mtr_clock_t *clock;
} mtr_cred_ctx_t;

mtr_cred_provider_t *mtr_cred_env_new(const mtr_cred_ctx_t *ctx);
mtr_cred_provider_t *mtr_cred_profile_new(const mtr_cred_ctx_t *ctx);
mtr_cred_provider_t *mtr_cred_web_identity_new(const mtr_cred_ctx_t *ctx);
mtr_cred_provider_t *mtr_cred_container_new(const mtr_cred_ctx_t *ctx);
mtr_cred_provider_t *mtr_cred_imds_new(const mtr_cred_ctx_t *ctx);

/* STS AssumeRoleWithWebIdentity with the token read (fresh) from
 * token_file; shared by the web identity and profile providers.
 * token_setting names where the file came from in messages
 * ("AWS_WEB_IDENTITY_TOKEN_FILE", "web_identity_token_file").
 * session_name NULL or "": "meterd-<ms>". */
mtr_err_t mtr_cred_web_identity_fetch(const mtr_cred_ctx_t *ctx, const char *token_setting,
                                      const char *role_arn, const char *session_name,
                                      const char *token_file, mtr_credentials_t *out, char *errstr,
                                      size_t errstr_size);

/* Reads a whole file (at most max_bytes) into a NUL-terminated buffer the
 * caller frees with mtr_cred_free_secret(). MTR_ERR_NOT_FOUND when it does
 * not exist. Messages name the path. */
mtr_err_t mtr_cred_read_file(const char *path, size_t max_bytes, char **out, size_t *out_len,
                             char *errstr, size_t errstr_size);
/* Wipes and frees a string that may hold a secret. NULL is fine. */
void mtr_cred_free_secret(char *s);
/* Trims ASCII whitespace at both ends, in place; returns the start. */
char *mtr_cred_trim(char *s);

/* Credentials from the JSON that the container endpoint and IMDS answer:
 * AccessKeyId, SecretAccessKey, Token, Expiration. `what` names the source
 * in messages. */
mtr_err_t mtr_cred_from_json(const char *body, const char *what, mtr_credentials_t *out,
                             char *errstr, size_t errstr_size);

/* Sets *out from borrowed strings (copied). token and expiration optional. */
void mtr_cred_set(mtr_credentials_t *out, const char *access_key_id, const char *secret_access_key,
                  const char *session_token, int64_t expiration_ms, const char *provider);

#endif
