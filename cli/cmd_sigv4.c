/* `meterd sigv4`: prints one stage of the SigV4 signature of a raw HTTP
 * request, given a context in the format of AWS's signing test suite, so a
 * signature can be checked stage by stage against the suite or against
 * another SDK. */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli/cmd.h"
#include "core/mem.h"
#include "emit/http_request.h"
#include "emit/sigv4_case.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: meterd sigv4 --context FILE --request FILE [--print STAGE] [--mode MODE]\n"
                 "\n"
                 "Signs a raw HTTP/1.1 request with AWS Signature Version 4 and prints one stage.\n"
                 "\n"
                 "  --context FILE  signing context as JSON, in the format of AWS's SigV4 test\n"
                 "                  suite (context.json): credentials {access_key_id,\n"
                 "                  secret_access_key, token}, region, service, timestamp\n"
                 "                  (\"2015-08-30T12:36:00Z\"), normalize, sign_body,\n"
                 "                  omit_session_token, expiration_in_seconds\n"
                 "  --request FILE  the raw request: request line, headers, blank line, body\n"
                 "  --print STAGE   canonical-request, string-to-sign, signature, authorization\n"
                 "                  (default) or signed-request\n"
                 "  --mode MODE     header (default: Authorization header) or query (presigned\n"
                 "                  URL parameters; no authorization stage)\n"
                 "  -h, --help      this text\n"
                 "\n"
                 "The stage is printed byte for byte as the test suite's expected files hold it,\n"
                 "without a trailing newline, so `cmp` against them works. The secret key is\n"
                 "never printed. Exit status: 0 printed, 2 bad flags or input files.\n");
}

typedef enum stage {
    STAGE_CANONICAL,
    STAGE_STRING_TO_SIGN,
    STAGE_SIGNATURE,
    STAGE_AUTHORIZATION,
    STAGE_SIGNED_REQUEST
} stage_t;

static const char *const stage_names[] = {"canonical-request", "string-to-sign", "signature",
                                          "authorization", "signed-request"};

static int parse_stage(const char *s)
{
    for (size_t i = 0; i < sizeof stage_names / sizeof stage_names[0]; i++)
        if (!strcmp(s, stage_names[i]))
            return (int)i;
    return -1;
}

static int run_one(const char *context_path, const char *request_path, mtr_sigv4_mode_t mode,
                   mtr_sigv4_stages_t *st, char *errstr, size_t errstr_size)
{
    mtr_sigv4_context_t ctx;
    mtr_http_request_t req;
    if (mtr_sigv4_context_read_file(context_path, &ctx, errstr, errstr_size) != MTR_OK)
        return 2;
    if (mtr_http_request_read_file(request_path, &req, errstr, errstr_size) != MTR_OK) {
        mtr_sigv4_context_free(&ctx);
        return 2;
    }
    mtr_err_t err = mtr_sigv4_case_run(&ctx, &req, mode, st, errstr, errstr_size);
    mtr_http_request_free(&req);
    mtr_sigv4_context_free(&ctx);
    return err == MTR_OK ? 0 : 2;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Undocumented: every subdirectory of dir holding context.json and
 * request.txt, in name order, as one JSON line each. Lets differential tests
 * sign thousands of requests without a process per request. */
static int run_batch(const char *dir, mtr_sigv4_mode_t mode)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "meterd sigv4: --batch %s: cannot open the directory\n", dir);
        return 2;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        names = mtr_realloc(names, (n + 1) * sizeof *names);
        names[n++] = mtr_strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_names);
    for (size_t i = 0; i < n; i++) {
        size_t plen = strlen(dir) + strlen(names[i]) + 32;
        char *ctx_path = mtr_malloc(plen), *req_path = mtr_malloc(plen);
        snprintf(ctx_path, plen, "%s/%s/context.json", dir, names[i]);
        snprintf(req_path, plen, "%s/%s/request.txt", dir, names[i]);
        mtr_sigv4_stages_t st;
        char errstr[512];
        cJSON *line = cJSON_CreateObject();
        cJSON_AddStringToObject(line, "case", names[i]);
        if (run_one(ctx_path, req_path, mode, &st, errstr, sizeof errstr) == 0) {
            cJSON_AddStringToObject(line, "canonical_request", st.canonical_request);
            cJSON_AddStringToObject(line, "string_to_sign", st.string_to_sign);
            cJSON_AddStringToObject(line, "signature", st.signature);
            if (st.authorization)
                cJSON_AddStringToObject(line, "authorization", st.authorization);
            mtr_sigv4_stages_free(&st);
        } else {
            cJSON_AddStringToObject(line, "error", errstr);
        }
        char *text = cJSON_PrintUnformatted(line);
        printf("%s\n", text);
        cJSON_free(text);
        cJSON_Delete(line);
        mtr_free(ctx_path);
        mtr_free(req_path);
        mtr_free(names[i]);
    }
    mtr_free(names);
    return fflush(stdout) == 0 ? 0 : 1;
}

int cmd_sigv4(int argc, char **argv)
{
    static const struct option opts[] = {{"context", required_argument, NULL, 'c'},
                                         {"request", required_argument, NULL, 'r'},
                                         {"print", required_argument, NULL, 'p'},
                                         {"mode", required_argument, NULL, 'm'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *context_path = NULL, *request_path = NULL, *batch_dir = NULL;
    int stage = STAGE_AUTHORIZATION;
    mtr_sigv4_mode_t mode = MTR_SIGV4_MODE_HEADER;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            context_path = optarg;
            break;
        case 'r':
            request_path = optarg;
            break;
        case 'b':
            batch_dir = optarg;
            break;
        case 'p':
            stage = parse_stage(optarg);
            if (stage < 0) {
                fprintf(stderr,
                        "meterd sigv4: --print \"%s\": unknown stage (expected "
                        "canonical-request, string-to-sign, signature, authorization or "
                        "signed-request)\n",
                        optarg);
                return 2;
            }
            break;
        case 'm':
            if (!strcmp(optarg, "header")) {
                mode = MTR_SIGV4_MODE_HEADER;
            } else if (!strcmp(optarg, "query")) {
                mode = MTR_SIGV4_MODE_QUERY;
            } else {
                fprintf(stderr, "meterd sigv4: --mode \"%s\": expected header or query\n", optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "meterd sigv4: %s needs a value\n\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        default:
            fprintf(stderr, "meterd sigv4: unknown option \"%s\"\n\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "meterd sigv4: unexpected argument \"%s\"\n\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (batch_dir)
        return run_batch(batch_dir, mode);
    if (!context_path || !request_path) {
        fprintf(stderr, "meterd sigv4: --context and --request are both required\n\n");
        usage(stderr);
        return 2;
    }
    if (mode == MTR_SIGV4_MODE_QUERY && stage == STAGE_AUTHORIZATION) {
        fprintf(stderr, "meterd sigv4: --mode query signs in the URL and has no authorization "
                        "stage; print signed-request or signature instead\n");
        return 2;
    }
    mtr_sigv4_stages_t st;
    char errstr[512];
    int rc = run_one(context_path, request_path, mode, &st, errstr, sizeof errstr);
    if (rc != 0) {
        fprintf(stderr, "meterd sigv4: %s\n", errstr);
        return rc;
    }
    const char *text = stage == STAGE_CANONICAL        ? st.canonical_request
                       : stage == STAGE_STRING_TO_SIGN ? st.string_to_sign
                       : stage == STAGE_SIGNATURE      ? st.signature
                       : stage == STAGE_AUTHORIZATION  ? st.authorization
                                                       : st.signed_request;
    fputs(text, stdout);
    mtr_sigv4_stages_free(&st);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "meterd sigv4: cannot write to standard output\n");
        return 1;
    }
    return 0;
}
