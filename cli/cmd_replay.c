/* `meterd replay`: recompute closed hours from the topic (--hours, or the
 * hours the dead-letter topic's now-valid copies belong to: --dead-letter)
 * with the current config and show the difference against the ledger (an
 * audit when the config is the one that billed them). Reads the topics
 * without joining the group. A dry run: only --submit-corrections writes
 * (corrections into the ledger), and --refund-file (its file). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "cli/flags.h"
#include "cli/progress.h"
#include "cli/replay_fix.h"
#include "cli/replay_report.h"
#include "cli/rows.h"
#include "cli/times.h"
#include "core/config.h"
#include "core/mem.h"
#include "ingest/dead_letter_scan.h"
#include "ingest/replay.h"
#include "ledger/ledger.h"
#include "ledger/ledger_audit.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: meterd replay --config FILE (--hours FROM[..TO] | --dead-letter\n"
                 "         --since TIME [--until TIME]) [--partitions 0,3]\n"
                 "         [--customer C] [--ledger PATH] [--all] [--format table|csv|json]\n"
                 "         [--timeout DURATION] [--submit-corrections]\n"
                 "         [--refund-file FILE [--invoices FILE]]\n\n"
                 "Recomputes the closed hours FROM..TO (both included; RFC 3339 hours such as\n"
                 "2026-11-26T10:00:00Z, or 2026-11-26T10) from the topic, with the config as it\n"
                 "is now and the pipeline's own rules, and prints every (customer, dimension,\n"
                 "hour) where it differs from what the ledger counted: billed, recomputed,\n"
                 "difference (in units). With the config that billed the hours the difference\n"
                 "is empty: an audit anyone can run. For each partition it reads exactly the\n"
                 "offsets the ledger's close log says fed those hours, with a reader that\n"
                 "joins no group and commits nothing, so a running meterd is not disturbed.\n"
                 "A partition whose offsets were deleted by retention is reported as a gap.\n\n"
                 "--dead-letter reads the copies kafka.dead_letter_topic got in [--since,\n"
                 "--until), decodes each with the config as it is now, and reports which are\n"
                 "valid now (by the reason they were rejected for) and which are still invalid\n"
                 "(by today's reason, with examples). A copy of an event dead-lettered twice\n"
                 "counts once. The closed hours the now-valid events belong to are then\n"
                 "recomputed from the source topic as --hours does, so what they miss is\n"
                 "billed once.\n\n"
                 "A dry run: nothing is billed unless --submit-corrections is given. Then every\n"
                 "positive difference is billed as a correction of its hour, placed in the\n"
                 "oldest unsent hour of that customer and dimension (or the current one) and\n"
                 "sent by the running meterd like any record. Each difference already takes\n"
                 "earlier corrections into account (the corrected column), so repeating a\n"
                 "replay bills nothing more. Negative differences are never sent (AWS takes\n"
                 "no negative usage): they are listed as over-billed.\n\n"
                 "  --partitions   only these partitions (comma-separated)\n"
                 "  --customer     only this customer\n"
                 "  --ledger       the ledger to compare with (default: the config's)\n"
                 "  --all          list matching rows too, not only differences\n"
                 "  --timeout      the longest wait for Kafka (default 30s)\n"
                 "  --submit-corrections  bill the positive differences (not those of rows\n"
                 "                 whose partitions were not read completely: complete \"no\")\n"
                 "  --refund-file  write the over-billed rows, one line per customer and\n"
                 "                 dimension, as the entries of AWS Marketplace's\n"
                 "                 BatchCreateBillingAdjustmentRequest (CSV)\n"
                 "  --invoices     CSV from your billing event data feed with columns customer,\n"
                 "                 agreement_id [, invoice_id, dimension, unit_price]: fills the\n"
                 "                 ids and amounts meterd cannot know\n\n"
                 "Exit status: 0 no difference and every partition read completely; 3 a\n"
                 "difference, or a partition not read completely; 1 an error; 2 bad usage.\n");
}

typedef struct replay_args {
    const char *config_path, *ledger_path, *format, *customer, *hours_text;
    const char *refund_path, *invoices_path;
    int64_t from_ms, to_ms, timeout_ms;
    int32_t partitions[CLI_MAX_PARTITIONS];
    size_t n_partitions;
    bool all, submit;
    bool dead_letter;
    int64_t since_ms, until_ms;
} replay_args_t;

/* "FROM..TO" or "FROM": whole hours. */
static bool parse_hours(const char *text, int64_t *from_ms, int64_t *to_ms)
{
    const char *dots = strstr(text, "..");
    char first[64];
    size_t n = dots ? (size_t)(dots - text) : strlen(text);
    if (n >= sizeof first)
        return false;
    memcpy(first, text, n);
    first[n] = '\0';
    int64_t a_start, a_end, b_start, b_end;
    if (!cli_parse_time(first, &a_start, &a_end) ||
        !cli_parse_time(dots ? dots + 2 : first, &b_start, &b_end))
        return false;
    if (a_start != mtr_hour_floor_ms(a_start) || b_start != mtr_hour_floor_ms(b_start))
        return false;
    *from_ms = a_start;
    *to_ms = mtr_hour_floor_ms(b_end);
    return true;
}

/* "replay --hours A..B [--partitions ..] [--customer C] by USER, config F",
 * for the ledger's correction run. */
static void describe_run(const replay_args_t *a, const char *hours, char *buf, size_t size)
{
    const char *user = getenv("USER");
    int n = snprintf(buf, size, "replay %s%s",
                     a->dead_letter ? "--dead-letter, hours " : "--hours ", hours);
    for (size_t i = 0; i < a->n_partitions && n > 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, "%s%d", i ? "," : " --partitions ",
                      a->partitions[i]);
    if (a->customer && n > 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n, " --customer %s", a->customer);
    if (n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, " by %s, config %s", user ? user : "unknown",
                 a->config_path);
}

/* Parses argv into a; returns -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, replay_args_t *a)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"hours", required_argument, NULL, 'H'},
                                         {"partitions", required_argument, NULL, 'p'},
                                         {"customer", required_argument, NULL, 'C'},
                                         {"ledger", required_argument, NULL, 'l'},
                                         {"format", required_argument, NULL, 'F'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"all", no_argument, NULL, 'a'},
                                         {"submit-corrections", no_argument, NULL, 's'},
                                         {"refund-file", required_argument, NULL, 'r'},
                                         {"invoices", required_argument, NULL, 'i'},
                                         {"dead-letter", no_argument, NULL, 'd'},
                                         {"since", required_argument, NULL, 'S'},
                                         {"until", required_argument, NULL, 'U'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    *a = (replay_args_t){.format = "table", .timeout_ms = 30000, .until_ms = INT64_MAX};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config_path = optarg;
            break;
        case 'H':
            a->hours_text = optarg;
            if (!parse_hours(optarg, &a->from_ms, &a->to_ms) || a->from_ms > a->to_ms) {
                fprintf(stderr,
                        "meterd replay: --hours \"%s\": give FROM..TO, two starts of hours in "
                        "order, e.g. 2026-11-26T10:00:00Z..2026-11-26T12:00:00Z or "
                        "2026-11-26T10..2026-11-26T12\n",
                        optarg);
                return 2;
            }
            break;
        case 'p':
            if (!cli_parse_partitions(optarg, a->partitions, &a->n_partitions)) {
                fprintf(stderr,
                        "meterd replay: --partitions \"%s\": give partition numbers separated "
                        "by commas, e.g. 0,3\n",
                        optarg);
                return 2;
            }
            break;
        case 'C':
            a->customer = optarg;
            break;
        case 'l':
            a->ledger_path = optarg;
            break;
        case 'F':
            a->format = optarg;
            if (!cli_format_valid(a->format)) {
                fprintf(stderr, "meterd replay: --format \"%s\": use table, csv or json\n", optarg);
                return 2;
            }
            break;
        case 't':
            if (mtr_config_parse_duration(optarg, &a->timeout_ms) != MTR_OK ||
                a->timeout_ms < 100 || a->timeout_ms > 3600000) {
                fprintf(stderr,
                        "meterd replay: --timeout \"%s\": give a duration from 100ms to 1h, "
                        "e.g. 30s\n",
                        optarg);
                return 2;
            }
            break;
        case 'a':
            a->all = true;
            break;
        case 's':
            a->submit = true;
            break;
        case 'r':
            a->refund_path = optarg;
            break;
        case 'i':
            a->invoices_path = optarg;
            break;
        case 'd':
            a->dead_letter = true;
            break;
        case 'S':
        case 'U': {
            int64_t start, end;
            if (!cli_parse_time(optarg, &start, &end)) {
                fprintf(stderr,
                        "meterd replay: %s \"%s\": give an RFC 3339 time, e.g. "
                        "2026-11-26T10:00:00Z (or 2026-11-26 for a day)\n",
                        c == 'S' ? "--since" : "--until", optarg);
                return 2;
            }
            *(c == 'S' ? &a->since_ms : &a->until_ms) = start;
            break;
        }
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "meterd replay: unknown or incomplete option \"%s\"\n\n",
                    argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    const char *missing =
        optind < argc                       ? "unexpected argument"
        : !a->config_path                   ? "--config FILE is required"
        : !a->hours_text == !a->dead_letter ? "give --hours FROM..TO or --dead-letter --since TIME"
        : a->dead_letter && !a->since_ms    ? "--dead-letter needs --since TIME"
        : a->invoices_path && !a->refund_path ? "--invoices fills a --refund-file: give both"
                                              : NULL;
    if (missing) {
        fprintf(stderr, "meterd replay: %s%s%s%s\n\n", missing, optind < argc ? " \"" : "",
                optind < argc ? argv[optind] : "", optind < argc ? "\"" : "");
        usage(stderr);
        return 2;
    }
    return -1;
}

static int replay_hours(const replay_args_t *a, const mtr_config_t *cfg, mtr_ledger_t *ledger);

/* --dead-letter: which copies are valid now, and the closed hours they
 * belong to recomputed from the source topic (so the shortfall is billed
 * as `--hours` would bill it, once). */
static int replay_dead_letter(const replay_args_t *args, const mtr_config_t *cfg,
                              mtr_ledger_t *ledger)
{
    replay_args_t a = *args;
    char err[1024];
    cli_progress_t progress;
    cli_progress_init(&progress, "dead-letter", "copies");
    mtr_dlq_scan_t scan;
    if (mtr_dlq_scan(cfg, ledger, a.since_ms, a.until_ms, (int)a.timeout_ms, cli_progress_update,
                     &progress, &scan, err, sizeof err) != MTR_OK) {
        fprintf(stderr, "meterd replay: %s\n", err);
        return 1;
    }
    cli_progress_finish(&progress);
    bool table = !strcmp(a.format, "table");
    FILE *out = table ? stdout : stderr;
    replay_print_reasons(&scan, table);
    uint64_t open = 0, closed = 0;
    a.from_ms = INT64_MAX;
    a.to_ms = INT64_MIN;
    size_t given = a.n_partitions;
    for (size_t i = 0; i < scan.n_sources; i++) {
        const mtr_dlq_source_t *s = &scan.sources[i];
        open += s->open_events;
        if (!s->closed_events)
            continue;
        closed += s->closed_events;
        a.from_ms = s->from_ms < a.from_ms ? s->from_ms : a.from_ms;
        a.to_ms = s->to_ms > a.to_ms ? s->to_ms : a.to_ms;
        if (!given && a.n_partitions < CLI_MAX_PARTITIONS)
            a.partitions[a.n_partitions++] = s->partition;
    }
    if (open)
        fprintf(out,
                "%llu now-valid event(s) belong to hours not closed yet: a meterd running "
                "this config counts those it reads again; replay once their hours closed\n",
                (unsigned long long)open);
    int rc = scan.still_invalid ? 3 : 0;
    if (closed) {
        char from[32], to[32];
        cli_format_hour(a.from_ms, from, sizeof from);
        cli_format_hour(a.to_ms, to, sizeof to);
        fprintf(out,
                "%llu now-valid event(s) belong to closed hours %s..%s: recomputing those "
                "hours from the source topic\n\n",
                (unsigned long long)closed, from, to);
        int hours_rc = replay_hours(&a, cfg, ledger);
        rc = hours_rc ? hours_rc : rc;
    }
    mtr_dlq_scan_free(&scan);
    return rc;
}

/* Replays a->from_ms..a->to_ms and reports; the exit code. */
static int replay_hours(const replay_args_t *a, const mtr_config_t *cfg, mtr_ledger_t *ledger)
{
    char err[1024];
    cli_progress_t progress;
    cli_progress_init(&progress, "replay", "offsets");
    mtr_replay_request_t req = {
        .from_ms = a->from_ms,
        .to_ms = a->to_ms,
        .partitions = a->n_partitions ? a->partitions : NULL,
        .n_partitions = a->n_partitions,
        .customer = a->customer,
        .timeout_ms = (int)a->timeout_ms,
        .progress = cli_progress_update,
        .progress_opaque = &progress,
    };
    mtr_replay_t rp;
    mtr_ledger_audit_t audit = {0};
    int rc = 1;
    if (mtr_replay_hours(cfg, ledger, &req, &rp, err, sizeof err) != MTR_OK) {
        fprintf(stderr, "meterd replay: %s\n", err);
        goto out;
    }
    cli_progress_finish(&progress);
    mtr_ledger_audit_part_t *parts = mtr_calloc(rp.n_parts ? rp.n_parts : 1, sizeof *parts);
    for (size_t i = 0; i < rp.n_parts; i++)
        parts[i] = (mtr_ledger_audit_part_t){rp.parts[i].topic, rp.parts[i].partition, a->from_ms,
                                             rp.parts[i].through_ms,
                                             rp.parts[i].coverage != MTR_REPLAY_COMPLETE};
    mtr_ledger_audit_request_t areq = {parts, rp.n_parts, a->customer, rp.recomputed,
                                       rp.n_recomputed};
    mtr_err_t aerr = mtr_ledger_audit(ledger, &areq, &audit, err, sizeof err);
    mtr_free(parts);
    if (aerr) {
        fprintf(stderr, "meterd replay: %s\n", err);
        mtr_replay_free(&rp);
        goto out;
    }
    bool table = !strcmp(a->format, "table");
    replay_print_rows(&audit, a->all, a->format);
    if (table)
        replay_print_partitions(&rp);
    char hours[80], from[32], to[32];
    cli_format_hour(a->from_ms, from, sizeof from);
    cli_format_hour(a->to_ms, to, sizeof to);
    snprintf(hours, sizeof hours, "%s..%s", from, to);
    if (table)
        printf("\n");
    FILE *out = table ? stdout : stderr;
    replay_outcome_t o = replay_summarise(out, hours, &rp, &audit, a->submit);
    rc = o.under || o.over || o.unsure || o.incomplete ? 3 : 0;
    if (a->submit && o.under) {
        char what[1024];
        size_t n;
        int64_t units;
        describe_run(a, hours, what, sizeof what);
        if (replay_submit_corrections(ledger, cfg, &audit, what, out, &n, &units, err,
                                      sizeof err) != MTR_OK) {
            fprintf(stderr, "meterd replay: %s\n", err);
            rc = 1;
        } else {
            rc = o.over || o.unsure || o.incomplete ? 3 : 0;
        }
    }
    if (a->refund_path && o.over &&
        replay_write_refund_file(a->refund_path, a->invoices_path, &audit, out, err, sizeof err) !=
            MTR_OK) {
        fprintf(stderr, "meterd replay: %s\n", err);
        rc = 1;
    }
    mtr_replay_free(&rp);
out:
    mtr_ledger_audit_free(&audit);
    return rc;
}

int cmd_replay(int argc, char **argv)
{
    replay_args_t a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    mtr_config_t *cfg = cli_load_config("replay", a.config_path);
    if (!cfg)
        return 2;
    char err[1024];
    mtr_ledger_options_t lo = {.must_exist = true};
    mtr_ledger_t *ledger = NULL;
    if (mtr_ledger_open(a.ledger_path ? a.ledger_path : cfg->ledger.path, &lo, &ledger, err,
                        sizeof err) != MTR_OK) {
        fprintf(stderr, "meterd replay: %s\n", err);
        mtr_config_free(cfg);
        return 1;
    }
    rc = a.dead_letter ? replay_dead_letter(&a, cfg, ledger) : replay_hours(&a, cfg, ledger);
    mtr_ledger_free(ledger);
    mtr_config_free(cfg);
    return rc;
}
