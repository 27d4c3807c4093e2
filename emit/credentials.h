/* AWS credentials for signing: a chain of providers tried in a fixed order,
 * with the winning credentials cached and refreshed before they expire.
 *
 * The chain, in the order the AWS SDKs use:
 *   1. environment   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *   2. profile       the shared credentials file (AWS_SHARED_CREDENTIALS_FILE,
 *                    default ~/.aws/credentials) and config file
 *                    (AWS_CONFIG_FILE, default ~/.aws/config): static keys, or
 *                    role_arn + web_identity_token_file
 *   3. web identity  AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
 *                    (+ AWS_ROLE_SESSION_NAME): STS AssumeRoleWithWebIdentity
 *                    (EKS IRSA)
 *   4. container     AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (ECS) or
 *                    AWS_CONTAINER_CREDENTIALS_FULL_URI (EKS Pod Identity), with
 *                    AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (read on every fetch,
 *                    wins) or AWS_CONTAINER_AUTHORIZATION_TOKEN
 *   5. EC2 IMDSv2    unless AWS_EC2_METADATA_DISABLED=true; endpoint from
 *                    AWS_EC2_METADATA_SERVICE_ENDPOINT, 1 s timeouts
 * The profile is aws.profile from the config, else AWS_PROFILE, else
 * "default". The STS region is aws.region, else AWS_REGION, else
 * AWS_DEFAULT_REGION, else the global endpoint.
 *
 * The environment is read once, by mtr_cred_chain_new(), into an
 * mtr_cred_env_t; no provider calls getenv.
 *
 * Secrets (secret keys, session tokens, web identity and container tokens)
 * never appear in logs or errstr. */
#ifndef MTR_CREDENTIALS_H
#define MTR_CREDENTIALS_H

#include <stdint.h>

#include "core/clock.h"
#include "core/err.h"
#include "emit/http_client.h"
#include "emit/sigv4.h"

/* Credentials are refreshed when they have less than this left. */
#define MTR_CRED_REFRESH_BEFORE_MS (5 * 60 * 1000)
/* After a failed refresh, while the old credentials are still valid, the
 * chain is not asked again for this long, so that a broken endpoint does
 * not cost every caller a round of timeouts. */
#define MTR_CRED_RETRY_AFTER_FAILURE_MS (10 * 1000)

/* Owned strings; free with mtr_credentials_clear(). */
typedef struct mtr_credentials {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;   /* NULL for long-term keys */
    int64_t expiration_ms; /* Unix ms; 0: does not expire */
    const char *provider;  /* provider's name; valid while the chain lives */
} mtr_credentials_t;

/* Frees the strings (wiping the secret ones) and zeroes *creds. */
void mtr_credentials_clear(mtr_credentials_t *creds);
/* Deep copy; dst must be empty or cleared. */
void mtr_credentials_copy(mtr_credentials_t *dst, const mtr_credentials_t *src);
/* A borrowed view for mtr_sigv4_sign(), valid while creds is unchanged. */
mtr_sigv4_credentials_t mtr_credentials_sigv4(const mtr_credentials_t *creds);

/* "2026-11-26T17:00:00Z", with optional fractional seconds and a "Z" or
 * "+hh:mm"/"-hh:mm" offset. Returns MTR_ERR_PARSE on anything else. */
mtr_err_t mtr_cred_parse_iso8601(const char *text, int64_t *out_ms);

/* One source of credentials. resolve() fetches fresh credentials (no
 * caching: that is the chain's job) and returns MTR_ERR_NOT_FOUND when the
 * source is not configured at all, another code when it is configured but
 * failed; errstr then says which and how to fix it. resolve() is called by
 * one thread at a time (the chain serialises refreshes). */
typedef struct mtr_cred_provider mtr_cred_provider_t;
typedef struct mtr_cred_provider_vtable {
    const char *(*name)(mtr_cred_provider_t *provider);
    mtr_err_t (*resolve)(mtr_cred_provider_t *provider, mtr_credentials_t *out, char *errstr,
                         size_t errstr_size);
    void (*destroy)(mtr_cred_provider_t *provider);
} mtr_cred_provider_vtable_t;

struct mtr_cred_provider {
    const mtr_cred_provider_vtable_t *vt;
};

/* The AWS environment variables the chain uses. NULL = not set. */
typedef struct mtr_cred_env {
    const char *access_key_id;             /* AWS_ACCESS_KEY_ID */
    const char *secret_access_key;         /* AWS_SECRET_ACCESS_KEY */
    const char *session_token;             /* AWS_SESSION_TOKEN */
    const char *profile;                   /* AWS_PROFILE */
    const char *region;                    /* AWS_REGION, else AWS_DEFAULT_REGION */
    const char *shared_credentials_file;   /* AWS_SHARED_CREDENTIALS_FILE */
    const char *config_file;               /* AWS_CONFIG_FILE */
    const char *home;                      /* HOME, for "~" */
    const char *web_identity_token_file;   /* AWS_WEB_IDENTITY_TOKEN_FILE */
    const char *role_arn;                  /* AWS_ROLE_ARN */
    const char *role_session_name;         /* AWS_ROLE_SESSION_NAME */
    const char *container_relative_uri;    /* AWS_CONTAINER_CREDENTIALS_RELATIVE_URI */
    const char *container_full_uri;        /* AWS_CONTAINER_CREDENTIALS_FULL_URI */
    const char *container_auth_token;      /* AWS_CONTAINER_AUTHORIZATION_TOKEN */
    const char *container_auth_token_file; /* AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE */
    const char *ec2_metadata_disabled;     /* AWS_EC2_METADATA_DISABLED */
    const char *ec2_metadata_endpoint;     /* AWS_EC2_METADATA_SERVICE_ENDPOINT */
} mtr_cred_env_t;

typedef struct mtr_cred_chain_options {
    const char *profile;     /* config aws.profile; NULL: AWS_PROFILE, else "default" */
    const char *region;      /* config aws.region; NULL: from the environment */
    mtr_clock_t *clock;      /* NULL: the system clock; not owned */
    mtr_http_client_t *http; /* NULL: libcurl; not owned */
    /* NULL: read the process environment. Tests pass their own so that no
     * process state is touched. Copied; not kept. */
    const mtr_cred_env_t *env;
    /* Overrides for tests; NULL: the real endpoints. */
    const char *sts_endpoint;       /* "https://sts.<region>.amazonaws.com" */
    const char *container_endpoint; /* "http://169.254.170.2" (relative URI base) */
    const char *imds_endpoint;      /* "http://169.254.169.254" */
    int64_t imds_timeout_ms;        /* 0: 1000 */
} mtr_cred_chain_options_t;

typedef struct mtr_cred_chain mtr_cred_chain_t;

/* Builds the chain; never fails (a provider that is not configured says so
 * when asked). Free with mtr_cred_chain_free(). */
mtr_cred_chain_t *mtr_cred_chain_new(const mtr_cred_chain_options_t *opts);
void mtr_cred_chain_free(mtr_cred_chain_t *chain);

/* Current credentials into *out (caller clears them). Cached credentials
 * are returned until MTR_CRED_REFRESH_BEFORE_MS before they expire; then one
 * caller refreshes while the others keep using the still-valid ones (or wait
 * when there are none). A failed refresh with still-valid credentials logs a
 * warning and returns them. With nothing usable returns MTR_ERR_AUTH, or the
 * error of the first configured provider that failed (MTR_ERR_TIMEOUT...),
 * and errstr lists what every provider said.
 * Thread-safe: any thread, any time. */
mtr_err_t mtr_cred_chain_get(mtr_cred_chain_t *chain, mtr_credentials_t *out, char *errstr,
                             size_t errstr_size);

#endif
