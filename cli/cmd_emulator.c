/* `meterd emulator`: runs the local AWS Marketplace Metering Service
 * emulator until SIGINT or SIGTERM, with the products and emulator section
 * of the same config file `meterd run` reads, and optional injected faults. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "core/config.h"
#include "core/log.h"
#include "emulator/emulator.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: meterd emulator --config FILE [--listen HOST:PORT] [fault options]\n"
            "\n"
            "Serves BatchMeterUsage like AWS (SigV4, the service model's limits, idempotency,\n"
            "DuplicateRecord, CustomerNotSubscribed) for the config's products, plus\n"
            "GET /_emulator/records, GET /_emulator/stats, POST /_emulator/reset and\n"
            "POST /_emulator/faults. Runs until SIGINT or SIGTERM.\n"
            "\n"
            "  -c, --config FILE              meterd config (products, emulator section)\n"
            "  -l, --listen HOST:PORT         numeric address (default 127.0.0.1:8089; [::1]:N;\n"
            "                                 port 0 picks a free port)\n"
            "      --throttle-ratio R         answer ThrottlingException to this share of calls\n"
            "      --error-ratio R            answer 500 InternalServiceErrorException\n"
            "      --unprocessed-ratio R      return this share of records in UnprocessedRecords\n"
            "      --drop-after-apply-ratio R apply the records, then close without an answer\n"
            "      --latency MS               delay every answer (0 to 60000)\n"
            "      --seed N                   repeat a run: seeds the fault dice and the\n"
            "                                 MeteringRecordIds (default: the clock's)\n"
            "      --max-record-age DURATION  oldest accepted Timestamp (default 6h)\n"
            "      --max-future-skew DURATION furthest accepted future Timestamp (default 5m)\n"
            "\n"
            "Credentials: emulator.credentials in the config, else AWS_ACCESS_KEY_ID and\n"
            "AWS_SECRET_ACCESS_KEY from the environment.\n");
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    *out = strtod(s, &end);
    return errno == 0 && end != s && *end == '\0';
}

static bool parse_u64(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (*s == '-')
        return false;
    *out = strtoull(s, &end, 10);
    return errno == 0 && end != s && *end == '\0';
}

/* "127.0.0.1:8089", "[::1]:8089" → host and port. */
static bool parse_listen(const char *s, char *host, size_t host_size, uint16_t *port)
{
    const char *colon;
    const char *h = s;
    size_t hlen;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return false;
        h = s + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return false;
        hlen = (size_t)(colon - s);
    }
    unsigned long long p;
    if (hlen == 0 || hlen >= host_size || !parse_u64(colon + 1, &p) || p > 65535)
        return false;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return true;
}

static int load_config(const char *path, mtr_config_t **cfg)
{
    char errstr[512];
    mtr_config_problems_t problems = {0};
    if (mtr_config_load(path, cfg, &problems, errstr, sizeof errstr) == MTR_OK)
        return 0;
    fprintf(stderr, "meterd emulator: config %s:\n", path);
    for (size_t i = 0; i < problems.count; i++)
        fprintf(stderr, "  %s%s%s\n", problems.items[i].path, problems.items[i].path[0] ? ": " : "",
                problems.items[i].message);
    if (!problems.count)
        fprintf(stderr, "  %s\n", errstr);
    mtr_config_problems_free(&problems);
    return 2;
}

static const char *option_name(const struct option *opts, int val)
{
    for (; opts->name; opts++)
        if (opts->val == val)
            return opts->name;
    return "?";
}

enum {
    OPT_THROTTLE = 256,
    OPT_ERROR,
    OPT_UNPROCESSED,
    OPT_DROP,
    OPT_LATENCY,
    OPT_SEED,
    OPT_MAX_AGE,
    OPT_MAX_SKEW
};

int cmd_emulator(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"listen", required_argument, NULL, 'l'},
        {"throttle-ratio", required_argument, NULL, OPT_THROTTLE},
        {"error-ratio", required_argument, NULL, OPT_ERROR},
        {"unprocessed-ratio", required_argument, NULL, OPT_UNPROCESSED},
        {"drop-after-apply-ratio", required_argument, NULL, OPT_DROP},
        {"latency", required_argument, NULL, OPT_LATENCY},
        {"seed", required_argument, NULL, OPT_SEED},
        {"max-record-age", required_argument, NULL, OPT_MAX_AGE},
        {"max-future-skew", required_argument, NULL, OPT_MAX_SKEW},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    const char *listen = "127.0.0.1:8089";
    mtr_emulator_options_t opts = {0};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:l:h", longopts, NULL)) != -1) {
        double d = 0;
        unsigned long long u = 0;
        bool ok = true;
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'l':
            listen = optarg;
            break;
        case OPT_THROTTLE:
            ok = parse_double(optarg, &opts.faults.throttle_ratio);
            break;
        case OPT_ERROR:
            ok = parse_double(optarg, &opts.faults.error_ratio);
            break;
        case OPT_UNPROCESSED:
            ok = parse_double(optarg, &opts.faults.unprocessed_ratio);
            break;
        case OPT_DROP:
            ok = parse_double(optarg, &opts.faults.drop_after_apply_ratio);
            break;
        case OPT_LATENCY:
            ok = parse_double(optarg, &d) && d >= 0 && d <= 60000;
            opts.faults.latency_ms = (int64_t)d;
            break;
        case OPT_SEED:
            ok = parse_u64(optarg, &u);
            opts.faults.seed = u;
            break;
        case OPT_MAX_AGE:
            ok = mtr_config_parse_duration(optarg, &opts.max_record_age_ms) == MTR_OK &&
                 opts.max_record_age_ms > 0;
            break;
        case OPT_MAX_SKEW:
            ok = mtr_config_parse_duration(optarg, &opts.max_future_skew_ms) == MTR_OK &&
                 opts.max_future_skew_ms > 0;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
        if (!ok) {
            fprintf(stderr, "meterd emulator: --%s \"%s\" is not valid (see --help)\n",
                    option_name(longopts, c), optarg);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "meterd emulator: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    if (!config_path) {
        fprintf(stderr, "meterd emulator: --config FILE is required (the products and "
                        "dimensions to accept)\n");
        return 2;
    }
    char host[64];
    if (!parse_listen(listen, host, sizeof host, &opts.port)) {
        fprintf(stderr,
                "meterd emulator: --listen \"%s\": expected HOST:PORT such as 127.0.0.1:8089 "
                "or [::1]:8089\n",
                listen);
        return 2;
    }
    opts.host = host;
    char errstr[512];
    if (mtr_emulator_faults_check(&opts.faults, errstr, sizeof errstr) != MTR_OK) {
        fprintf(stderr, "meterd %s\n", errstr);
        return 2;
    }

    mtr_config_t *cfg = NULL;
    int rc = load_config(config_path, &cfg);
    if (rc)
        return rc;
    /* The environment is the fallback credential source named by the
     * config's emulator.credentials description. */
    mtr_emulator_credential_t env_cred = {getenv("AWS_ACCESS_KEY_ID"),
                                          getenv("AWS_SECRET_ACCESS_KEY")};
    opts.fallback_credential = &env_cred;
    if (cfg->emulator.n_credentials == 0 &&
        !(env_cred.access_key_id && env_cred.secret_access_key)) {
        fprintf(stderr,
                "meterd emulator: no credentials to verify signatures with: list "
                "emulator.credentials in %s or set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY\n",
                config_path);
        mtr_config_free(cfg);
        return 2;
    }

    /* Block the stop signals before the server threads exist, so that they
     * inherit the mask and only sigwait below sees the signals. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    mtr_emulator_t *em = mtr_emulator_start(cfg, &opts, errstr, sizeof errstr);
    if (!em) {
        fprintf(stderr, "meterd %s\n", errstr);
        mtr_config_free(cfg);
        return 1;
    }
    bool v6 = strchr(host, ':') != NULL;
    mtr_info("emulator", "listening on http://%s%s%s:%u (region %s, %zu products)", v6 ? "[" : "",
             host, v6 ? "]" : "", (unsigned)mtr_emulator_port(em), mtr_emulator_region(em),
             cfg->n_products);
    int sig = 0;
    while (sigwait(&stop, &sig) != 0)
        ;
    mtr_info("emulator", "signal %d: stopping", sig);
    mtr_emulator_stop(em);
    mtr_config_free(cfg);
    return 0;
}
