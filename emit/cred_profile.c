/* Credentials from a named profile in the shared credentials file
 * ("[name]") and the config file ("[profile name]", "[default]"): static
 * keys, or role_arn + web_identity_token_file through STS. The credentials
 * file wins over the config file key by key, as in the AWS SDKs.
 *
 * INI as the AWS tools write it: '#' and ';' start comments (also after a
 * value when preceded by whitespace), whitespace around names and values is
 * ignored, keys are case-insensitive, indented lines under an empty value
 * are sub-properties (skipped). Lines are never echoed in messages: they
 * may hold a secret. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"
#include "emit/cred_int.h"

#define MAX_FILE_BYTES (1024 * 1024)

enum { K_ACCESS_KEY, K_SECRET, K_TOKEN, K_ROLE_ARN, K_TOKEN_FILE, K_SESSION, K_PROCESS, K__COUNT };

static const char *const key_names[K__COUNT] = {
    "aws_access_key_id",       "aws_secret_access_key", "aws_session_token", "role_arn",
    "web_identity_token_file", "role_session_name",     "credential_process"};

typedef struct props {
    char *value[K__COUNT];
    const char *file[K__COUNT]; /* which file set it */
    bool section_found;
} props_t;

typedef struct profile_provider {
    mtr_cred_provider_t base;
    const mtr_cred_ctx_t *ctx;
    char name[160];
} profile_provider_t;

static void props_clear(props_t *p)
{
    for (int i = 0; i < K__COUNT; i++)
        mtr_cred_free_secret(p->value[i]);
    memset(p, 0, sizeof *p);
}

/* Cuts a value at a comment that follows whitespace. */
static void strip_inline_comment(char *v)
{
    for (char *s = v; *s; s++)
        if ((*s == '#' || *s == ';') && s > v && (s[-1] == ' ' || s[-1] == '\t')) {
            *s = '\0';
            return;
        }
}

/* Does the section header name our profile in this kind of file? */
static bool section_matches(const char *section, bool config_file, const char *profile)
{
    if (!config_file)
        return strcmp(section, profile) == 0;
    if (strcmp(section, "default") == 0)
        return strcmp(profile, "default") == 0;
    if (strncmp(section, "profile", 7) != 0 || !isspace((unsigned char)section[7]))
        return false;
    const char *name = section + 7;
    while (isspace((unsigned char)*name))
        name++;
    return strcmp(name, profile) == 0;
}

/* Parses text (modified in place) and overlays the profile's keys on *out. */
static mtr_err_t parse_ini(char *text, const char *path, bool config_file, const char *profile,
                           props_t *out, char *errstr, size_t errstr_size)
{
    bool in_profile = false;
    bool in_subproperties = false;
    int lineno = 0;
    char *next = text;
    while (next) {
        char *line = next;
        char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        lineno++;
        bool indented = line[0] == ' ' || line[0] == '\t';
        line = mtr_cred_trim(line);
        if (!*line || *line == '#' || *line == ';')
            continue;
        if (indented && in_subproperties)
            continue;
        if (*line == '[') {
            char *close = strchr(line, ']');
            char *rest = close ? mtr_cred_trim(close + 1) : NULL;
            if (!close || (*rest && *rest != '#' && *rest != ';'))
                return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                                   "%s line %d: section header without a closing ']'", path,
                                   lineno);
            *close = '\0';
            in_profile = section_matches(mtr_cred_trim(line + 1), config_file, profile);
            in_subproperties = false;
            out->section_found |= in_profile;
            continue;
        }
        char *eq = strchr(line, '=');
        if (!eq || eq == line)
            return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                               "%s line %d: expected \"[section]\" or \"key = value\"", path,
                               lineno);
        *eq = '\0';
        char *key = mtr_cred_trim(line);
        char *value = eq + 1;
        strip_inline_comment(value);
        value = mtr_cred_trim(value);
        in_subproperties = *value == '\0';
        if (!in_profile)
            continue;
        for (int k = 0; k < K__COUNT; k++)
            if (strcasecmp(key, key_names[k]) == 0) {
                mtr_cred_free_secret(out->value[k]);
                out->value[k] = mtr_strdup(value);
                out->file[k] = path;
            }
    }
    return MTR_OK;
}

/* Loads one file into *out; *exists tells whether it was there. */
static mtr_err_t load(const char *path, bool config_file, const char *profile, props_t *out,
                      bool *exists, char *errstr, size_t errstr_size)
{
    *exists = false;
    if (!path)
        return MTR_OK;
    char *text;
    mtr_err_t err = mtr_cred_read_file(path, MAX_FILE_BYTES, &text, NULL, errstr, errstr_size);
    if (err == MTR_ERR_NOT_FOUND)
        return MTR_OK;
    if (err != MTR_OK)
        return err;
    *exists = true;
    err = parse_ini(text, path, config_file, profile, out, errstr, errstr_size);
    mtr_cred_free_secret(text);
    return err;
}

static const char *profile_name(mtr_cred_provider_t *p)
{
    return ((profile_provider_t *)p)->name;
}

static bool has(const props_t *p, int k)
{
    return p->value[k] && *p->value[k];
}

static mtr_err_t from_props(const mtr_cred_ctx_t *ctx, const props_t *pr, mtr_credentials_t *out,
                            char *errstr, size_t errstr_size)
{
    if (has(pr, K_ACCESS_KEY) || has(pr, K_SECRET)) {
        int missing = !has(pr, K_ACCESS_KEY) ? K_ACCESS_KEY : !has(pr, K_SECRET) ? K_SECRET : -1;
        if (missing >= 0) {
            int present = missing == K_SECRET ? K_ACCESS_KEY : K_SECRET;
            return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                               "%s sets %s but not %s; add it to the profile", pr->file[present],
                               key_names[present], key_names[missing]);
        }
        mtr_cred_set(out, pr->value[K_ACCESS_KEY], pr->value[K_SECRET], pr->value[K_TOKEN], 0,
                     NULL);
        return MTR_OK;
    }
    if (has(pr, K_ROLE_ARN) && has(pr, K_TOKEN_FILE))
        return mtr_cred_web_identity_fetch(ctx, "web_identity_token_file", pr->value[K_ROLE_ARN],
                                           pr->value[K_SESSION], pr->value[K_TOKEN_FILE], out,
                                           errstr, errstr_size);
    if (has(pr, K_ROLE_ARN))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                           "role_arn without web_identity_token_file (source_profile and "
                           "credential_source are not supported); give the profile static "
                           "keys or a web_identity_token_file");
    if (has(pr, K_PROCESS))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_CONFIG,
                           "credential_process is not supported; give the profile static keys "
                           "or use another source");
    return mtr_err_set(errstr, errstr_size,
                       ctx->profile_explicit ? MTR_ERR_CONFIG : MTR_ERR_NOT_FOUND,
                       "the profile has no aws_access_key_id and no role_arn");
}

static mtr_err_t profile_resolve(mtr_cred_provider_t *p, mtr_credentials_t *out, char *errstr,
                                 size_t errstr_size)
{
    profile_provider_t *pp = (profile_provider_t *)p;
    const mtr_cred_ctx_t *ctx = pp->ctx;
    if (!ctx->credentials_path && !ctx->config_path)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_NOT_FOUND,
                           "HOME not set and no AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE");
    props_t pr = {0};
    bool cfg_exists, cred_exists;
    /* Config first, then the credentials file overrides key by key. */
    mtr_err_t err =
        load(ctx->config_path, true, ctx->profile, &pr, &cfg_exists, errstr, errstr_size);
    if (err == MTR_OK)
        err = load(ctx->credentials_path, false, ctx->profile, &pr, &cred_exists, errstr,
                   errstr_size);
    if (err != MTR_OK) {
        props_clear(&pr);
        return err;
    }
    const char *cred_path = ctx->credentials_path ? ctx->credentials_path : "(no HOME)";
    const char *cfg_path = ctx->config_path ? ctx->config_path : "(no HOME)";
    if (!cfg_exists && !cred_exists)
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_NOT_FOUND, "%s not found, %s not found",
                          cred_path, cfg_path);
    else if (!pr.section_found)
        err = mtr_err_set(errstr, errstr_size,
                          ctx->profile_explicit ? MTR_ERR_CONFIG : MTR_ERR_NOT_FOUND,
                          "no such profile in %s or %s%s", cred_path, cfg_path,
                          ctx->profile_explicit ? "; check aws.profile / AWS_PROFILE" : "");
    else
        err = from_props(ctx, &pr, out, errstr, errstr_size);
    props_clear(&pr);
    return err;
}

static void profile_destroy(mtr_cred_provider_t *p)
{
    mtr_free(p);
}

static const mtr_cred_provider_vtable_t profile_vtable = {profile_name, profile_resolve,
                                                          profile_destroy};

mtr_cred_provider_t *mtr_cred_profile_new(const mtr_cred_ctx_t *ctx)
{
    profile_provider_t *p = mtr_calloc(1, sizeof *p);
    p->base.vt = &profile_vtable;
    p->ctx = ctx;
    snprintf(p->name, sizeof p->name, "profile \"%.120s\"", ctx->profile);
    return &p->base;
}
