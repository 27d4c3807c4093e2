/* `meterd offsets reset`: move the group's committed offsets with the flags
 * of `kafka-consumer-groups --reset-offsets`. A dry run unless --execute:
 * it prints each partition before and after and what the move means for
 * billing. --execute is refused while the group has live members or a
 * meterd holds this host's ledger. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "cli/flags.h"
#include "cli/progress.h"
#include "cli/rows.h"
#include "cli/times.h"
#include "core/config.h"
#include "core/quantity.h"
#include "ingest/offsets_reset.h"
#include "ledger/ledger.h"

enum {
    C_TOPIC,
    C_PARTITION,
    C_CURRENT,
    C_NEW,
    C_LOG_START,
    C_LOG_END,
    C_CHANGE,
    C_UNBILLED,
    C_CONSEQUENCE,
    C_N
};

static const cli_col_t cols[C_N] = {
    {"topic", CLI_TEXT},    {"partition", CLI_NUMBER},    {"current", CLI_NUMBER_OR_NULL},
    {"new", CLI_NUMBER},    {"log_start", CLI_NUMBER},    {"log_end", CLI_NUMBER},
    {"change", CLI_NUMBER}, {"never_billed", CLI_NUMBER}, {"consequence", CLI_TEXT},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: meterd offsets reset --config FILE TARGET [--partitions 0,3]\n"
                 "         [--dry-run | --execute] [--format table|csv|json] [--timeout D]\n\n"
                 "TARGET, as kafka-consumer-groups --reset-offsets takes it:\n"
                 "  --to-earliest         the log start\n"
                 "  --to-latest           the log end\n"
                 "  --to-datetime TIME    the first offset at or after TIME (RFC 3339, UTC)\n"
                 "  --by-duration D       the first offset at or after now - D (PT2H or 2h)\n"
                 "  --to-offset N         offset N (within the log)\n"
                 "  --shift-by N          the committed offset + N (N may be negative)\n\n"
                 "A dry run by default: prints each partition's current and new offset and what\n"
                 "the move means for billing. Going back is harmless: the offsets between hold\n"
                 "only events of closed hours, which meterd skips as counted (it resumes at its\n"
                 "ledger's checkpoint). Going forward, the offsets between are never read: their\n"
                 "events of open hours are never billed; the dry run reads them and estimates\n"
                 "that usage. --execute commits the new offsets, keeping meterd's close log in\n"
                 "the metadata; it is refused while the group has live members or a meterd\n"
                 "holds the config's ledger.\n");
}

/* ISO 8601 durations as kafka-consumer-groups takes them (PnDTnHnMnS),
 * or meterd's (90m, 2h). */
static bool parse_duration(const char *s, int64_t *ms)
{
    if (s[0] != 'P')
        return mtr_config_parse_duration(s, ms) == MTR_OK;
    int64_t total = 0;
    bool in_time = false, any = false;
    for (const char *p = s + 1; *p;) {
        if (*p == 'T') {
            in_time = true;
            p++;
            continue;
        }
        char *end;
        double v = strtod(p, &end);
        if (end == p || v < 0)
            return false;
        int64_t unit = *end == 'D' && !in_time  ? 86400000
                       : *end == 'H' && in_time ? 3600000
                       : *end == 'M' && in_time ? 60000
                       : *end == 'S' && in_time ? 1000
                                                : 0;
        if (!unit)
            return false;
        total += (int64_t)(v * (double)unit);
        any = true;
        p = end + 1;
    }
    *ms = total;
    return any;
}

static void consequence(const mtr_reset_partition_t *p, char *buf, size_t size)
{
    int64_t from = p->before >= 0 ? p->before : p->log_start;
    char hour[32] = "none";
    if (p->closed_through_ms != INT64_MIN)
        cli_format_hour(p->closed_through_ms, hour, sizeof hour);
    if (p->after == from)
        snprintf(buf, size, "unchanged");
    else if (p->after < from)
        snprintf(buf, size,
                 "back: the %" PRId64 " offsets between hold only events of closed hours "
                 "(through %s), skipped as counted; none is billed twice",
                 from - p->after, hour);
    else
        snprintf(buf, size,
                 "forward: %" PRId64 " offsets never read: %llu event(s) of open hours never "
                 "billed, %llu of closed hours (through %s) already billed, %llu invalid",
                 p->after - from, (unsigned long long)p->skipped_open,
                 (unsigned long long)p->skipped_closed, hour,
                 (unsigned long long)p->skipped_invalid);
}

static void print_plan(const mtr_reset_plan_t *plan, const char *format)
{
    cli_rows_t rows = {cols, C_N, NULL, 0};
    for (size_t i = 0; i < plan->n_parts; i++) {
        const mtr_reset_partition_t *p = &plan->parts[i];
        char **c = cli_rows_add(&rows);
        char text[512];
        int64_t from = p->before >= 0 ? p->before : p->log_start;
        cli_rows_set(c, C_TOPIC, p->topic);
        cli_rows_setf(c, C_PARTITION, "%" PRId32, p->partition);
        if (p->before >= 0)
            cli_rows_setf(c, C_CURRENT, "%" PRId64, p->before);
        cli_rows_setf(c, C_NEW, "%" PRId64, p->after);
        cli_rows_setf(c, C_LOG_START, "%" PRId64, p->log_start);
        cli_rows_setf(c, C_LOG_END, "%" PRId64, p->log_end);
        cli_rows_setf(c, C_CHANGE, "%" PRId64, p->after - from);
        cli_rows_setf(c, C_UNBILLED, "%llu", (unsigned long long)p->skipped_open);
        consequence(p, text, sizeof text);
        cli_rows_set(c, C_CONSEQUENCE, text);
    }
    cli_rows_print(&rows, format);
    cli_rows_free(&rows);
}

static void print_summary(FILE *out, const mtr_reset_plan_t *plan)
{
    uint64_t never = 0;
    for (size_t i = 0; i < plan->n_parts; i++)
        never += plan->parts[i].skipped_open;
    fprintf(out, "\ngroup %s (%s, %zu live member(s)): %zu partition(s)\n", plan->group,
            plan->state, plan->members, plan->n_parts);
    if (!never) {
        fprintf(out, "no usage is lost by this move\n");
        return;
    }
    fprintf(out, "%llu event(s) of open hours would never be billed; their usage:\n",
            (unsigned long long)never);
    for (size_t i = 0; i < plan->n_unbilled; i++) {
        char units[MTR_QUANTITY_FORMAT_MAX];
        mtr_quantity_format(plan->unbilled[i].micro, units, sizeof units);
        fprintf(out, "  %s: %s unit(s) in %llu event(s)\n", plan->unbilled[i].dimension, units,
                (unsigned long long)plan->unbilled[i].events);
    }
}

/* The checks before --execute; 0 to go on, else the exit code. */
static int may_execute(const mtr_reset_plan_t *plan, const mtr_config_t *cfg, mtr_ledger_t **held)
{
    if (plan->members > 0) {
        fprintf(stderr,
                "meterd offsets reset: group %s has %zu live member(s) (%s): stop every meterd "
                "of the group first; offsets committed under a running member are overwritten "
                "by its next commit\n",
                plan->group, plan->members, plan->state);
        return 1;
    }
    char err[512];
    mtr_ledger_options_t lo = {.must_exist = true, .lock = true};
    mtr_err_t e = mtr_ledger_open(cfg->ledger.path, &lo, held, err, sizeof err);
    if (e == MTR_ERR_STATE) {
        fprintf(stderr, "meterd offsets reset: refused: %s\n", err);
        return 1;
    }
    if (!strcmp(plan->state, "Unknown"))
        fprintf(stderr,
                "meterd offsets reset: the cluster does not describe groups, so only this "
                "host's ledger lock (%s) shows that no meterd runs; make sure none runs "
                "elsewhere\n",
                cfg->ledger.path);
    return 0;
}

typedef struct reset_args {
    const char *config_path, *format;
    mtr_reset_spec_t spec;
    int n_targets;
    bool execute;
    int64_t timeout_ms;
    int32_t partitions[CLI_MAX_PARTITIONS];
} reset_args_t;

static int bad(const char *flag, const char *value, const char *fix)
{
    fprintf(stderr, "meterd offsets reset: %s \"%s\": %s\n", flag, value, fix);
    return 2;
}

static int parse_args(int argc, char **argv, reset_args_t *a)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"to-earliest", no_argument, NULL, 'E'},
                                         {"to-latest", no_argument, NULL, 'L'},
                                         {"to-datetime", required_argument, NULL, 'T'},
                                         {"by-duration", required_argument, NULL, 'D'},
                                         {"to-offset", required_argument, NULL, 'O'},
                                         {"shift-by", required_argument, NULL, 'S'},
                                         {"partitions", required_argument, NULL, 'p'},
                                         {"execute", no_argument, NULL, 'x'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {"format", required_argument, NULL, 'F'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *a = (reset_args_t){.format = "table", .timeout_ms = 10000};
    int c;
    int64_t end_ms, ms;
    char *end;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config_path = optarg;
            break;
        case 'E':
        case 'L':
            a->spec.to = c == 'E' ? MTR_RESET_EARLIEST : MTR_RESET_LATEST;
            a->n_targets++;
            break;
        case 'T':
            if (!cli_parse_time(optarg, &a->spec.value, &end_ms))
                return bad("--to-datetime", optarg,
                           "give an RFC 3339 time, e.g. 2026-11-26T10:00:00Z");
            a->spec.to = MTR_RESET_DATETIME;
            a->n_targets++;
            break;
        case 'D':
            if (!parse_duration(optarg, &ms))
                return bad("--by-duration", optarg, "give PT2H, P1DT6H or 90m");
            a->spec.to = MTR_RESET_DATETIME;
            a->spec.value = mtr_clock_wall_ms(mtr_clock_system()) - ms;
            a->n_targets++;
            break;
        case 'O':
        case 'S':
            a->spec.value = strtoll(optarg, &end, 10);
            if (end == optarg || *end || (c == 'O' && a->spec.value < 0))
                return bad(c == 'O' ? "--to-offset" : "--shift-by", optarg,
                           c == 'O' ? "give an offset (a whole number >= 0)"
                                    : "give a whole number, e.g. -1000");
            a->spec.to = c == 'O' ? MTR_RESET_OFFSET : MTR_RESET_SHIFT;
            a->n_targets++;
            break;
        case 'p':
            if (!cli_parse_partitions(optarg, a->partitions, &a->spec.n_partitions))
                return bad("--partitions", optarg, "give partition numbers separated by commas");
            a->spec.partitions = a->partitions;
            break;
        case 'x':
            a->execute = true;
            break;
        case 'n':
            break; /* the default */
        case 'F':
            a->format = optarg;
            if (!cli_format_valid(optarg))
                return bad("--format", optarg, "use table, csv or json");
            break;
        case 't':
            if (mtr_config_parse_duration(optarg, &a->timeout_ms) != MTR_OK ||
                a->timeout_ms < 100 || a->timeout_ms > 3600000)
                return bad("--timeout", optarg, "give a duration from 100ms to 1h, e.g. 30s");
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "meterd offsets reset: unknown or incomplete option \"%s\"\n\n",
                    argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    const char *problem = optind < argc       ? "unexpected argument"
                          : !a->config_path   ? "--config FILE is required"
                          : a->n_targets != 1 ? "give exactly one target (--to-earliest, "
                                                "--to-latest, --to-datetime, --by-duration, "
                                                "--to-offset or --shift-by)"
                                              : NULL;
    if (problem) {
        fprintf(stderr, "meterd offsets reset: %s\n\n", problem);
        usage(stderr);
        return 2;
    }
    a->spec.timeout_ms = (int)a->timeout_ms;
    return -1;
}

int cmd_offsets_reset(int argc, char **argv)
{
    reset_args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    mtr_config_t *cfg = cli_load_config("offsets reset", a.config_path);
    if (!cfg)
        return 2;
    char err[1024];
    mtr_ledger_options_t lo = {.must_exist = true};
    mtr_ledger_t *ledger = NULL;
    if (mtr_ledger_open(cfg->ledger.path, &lo, &ledger, err, sizeof err) != MTR_OK)
        ledger = NULL; /* no ledger here: Kafka's metadata is all there is */
    cli_progress_t progress;
    cli_progress_init(&progress, "reading skipped offsets", "offsets");
    a.spec.progress = cli_progress_update;
    a.spec.progress_opaque = &progress;
    mtr_reset_plan_t plan;
    rc = 1;
    if (mtr_offsets_reset_plan(cfg, ledger, &a.spec, &plan, err, sizeof err) != MTR_OK) {
        fprintf(stderr, "meterd offsets reset: %s\n", err);
        goto out;
    }
    mtr_ledger_free(ledger);
    ledger = NULL;
    bool table = !strcmp(a.format, "table");
    print_plan(&plan, a.format);
    print_summary(table ? stdout : stderr, &plan);
    if (!a.execute) {
        fprintf(table ? stdout : stderr, "dry run: nothing changed; add --execute to apply\n");
        rc = 0;
    } else if ((rc = may_execute(&plan, cfg, &ledger)) == 0) {
        if (mtr_offsets_reset_execute(cfg, &plan, (int)a.timeout_ms + 30000, err, sizeof err) !=
            MTR_OK) {
            fprintf(stderr, "meterd offsets reset: %s\n", err);
            rc = 1;
        } else {
            fprintf(table ? stdout : stderr,
                    "committed the new offsets of %zu partition(s) of group %s\n", plan.n_parts,
                    plan.group);
        }
    }
    mtr_offsets_reset_free(&plan);
out:
    mtr_ledger_free(ledger);
    mtr_config_free(cfg);
    return rc;
}
