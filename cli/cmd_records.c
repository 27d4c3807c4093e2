/* `meterd records list`: every ledger record matching the filters, as an
 * aligned table, RFC 4180 CSV or a JSON array. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cmd.h"
#include "cli/rows.h"
#include "cli/times.h"
#include "core/config.h"
#include "core/mem.h"
#include "core/quantity.h"
#include "ledger/ledger.h"

enum {
    COL_ID,
    COL_SCOPE,
    COL_CUSTOMER,
    COL_DIMENSION,
    COL_HOUR,
    COL_USAGE,
    COL_QUANTITY,
    COL_STATUS,
    COL_ATTEMPTS,
    COL_RECORD_ID,
    COL_MOVED_TO,
    COL_ERROR,
    COL_CORRECTS,
    N_COLS
};

static const cli_col_t cols[N_COLS] = {
    {"id", CLI_NUMBER},
    {"scope", CLI_TEXT},
    {"customer", CLI_TEXT},
    {"dimension", CLI_TEXT},
    {"hour", CLI_TEXT},
    {"usage", CLI_NUMBER}, /* the exact decimal */
    {"quantity", CLI_NUMBER_OR_NULL},
    {"status", CLI_TEXT},
    {"attempts", CLI_NUMBER},
    {"metering_record_id", CLI_TEXT_OR_NULL},
    {"moved_to", CLI_NUMBER_OR_NULL},
    {"last_error", CLI_TEXT_OR_NULL},
    {"corrects", CLI_TEXT_OR_NULL}, /* source hours of correction units in it */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: meterd records list (--config FILE | --ledger PATH) [--customer C]\n"
                 "         [--dimension D] [--status S] [--from TIME] [--to TIME]\n"
                 "         [--format table|csv|json]\n\n"
                 "TIME is RFC 3339 (2026-11-26T10:15:00Z) or a prefix in UTC: 2026-11-26T10\n"
                 "(an hour) or 2026-11-26 (a day). --from keeps hours that end after it, --to\n"
                 "hours that start before its end. STATUS is one of pending_commit, sendable,\n"
                 "in_flight, accepted, duplicate, not_subscribed, parked, stale_moved.\n"
                 "corrects lists the hours whose missing usage a record bills as a\n"
                 "correction (`meterd replay --submit-corrections`).\n");
}

/* "ms,ms" (mtr_ledger_record_t.corrects) as RFC 3339 hours. */
static void set_corrects(char **row, const char *ms_list)
{
    char out[1024];
    size_t used = 0;
    out[0] = '\0';
    for (const char *p = ms_list; *p;) {
        char *end;
        long long ms = strtoll(p, &end, 10);
        char hour[32];
        if (end == p || used + sizeof hour + 1 > sizeof out)
            break;
        cli_format_hour(ms, hour, sizeof hour);
        used += (size_t)snprintf(out + used, sizeof out - used, "%s%s", used ? "," : "", hour);
        p = *end == ',' ? end + 1 : end;
    }
    cli_rows_set(row, COL_CORRECTS, out);
}

static int collect(const mtr_ledger_record_t *r, void *opaque)
{
    char **c = cli_rows_add(opaque);
    char buf[64];
    cli_rows_setf(c, COL_ID, "%lld", (long long)r->id);
    cli_rows_set(c, COL_SCOPE, r->scope);
    cli_rows_set(c, COL_CUSTOMER, r->customer);
    cli_rows_set(c, COL_DIMENSION, r->dimension);
    cli_format_hour(r->hour_ms, buf, sizeof buf);
    cli_rows_set(c, COL_HOUR, buf);
    mtr_quantity_format(r->quantity_micro, buf, sizeof buf);
    cli_rows_set(c, COL_USAGE, buf);
    if (r->aws_quantity >= 0)
        cli_rows_setf(c, COL_QUANTITY, "%lld", (long long)r->aws_quantity);
    cli_rows_set(c, COL_STATUS, mtr_ledger_status_name(r->status));
    cli_rows_setf(c, COL_ATTEMPTS, "%d", r->attempts);
    cli_rows_set(c, COL_RECORD_ID, r->metering_record_id);
    if (r->moved_to)
        cli_rows_setf(c, COL_MOVED_TO, "%lld", (long long)r->moved_to);
    cli_rows_set(c, COL_ERROR, r->last_error);
    if (r->corrects)
        set_corrects(c, r->corrects);
    return 0;
}

static int records_list(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},   {"ledger", required_argument, NULL, 'l'},
        {"customer", required_argument, NULL, 'C'}, {"dimension", required_argument, NULL, 'd'},
        {"status", required_argument, NULL, 's'},   {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},       {"format", required_argument, NULL, 'F'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0}};
    const char *config_path = NULL, *ledger_path = NULL, *format = "table";
    mtr_ledger_filter_t f;
    mtr_ledger_filter_init(&f);
    int64_t ignored;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'l':
            ledger_path = optarg;
            break;
        case 'C':
            f.customer = optarg;
            break;
        case 'd':
            f.dimension = optarg;
            break;
        case 's':
            if ((f.status = mtr_ledger_status_parse(optarg)) < 0) {
                fprintf(stderr, "meterd records list: --status \"%s\" is not a status\n\n", optarg);
                usage(stderr);
                return 2;
            }
            break;
        case 'f':
            if (!cli_parse_time(optarg, &f.hour_from_ms, &ignored)) {
                fprintf(stderr,
                        "meterd records list: --from \"%s\" is not a time (RFC 3339, or "
                        "2026-11-26T10 for an hour)\n",
                        optarg);
                return 2;
            }
            f.hour_from_ms = mtr_hour_floor_ms(f.hour_from_ms);
            break;
        case 't':
            if (!cli_parse_time(optarg, &ignored, &f.hour_to_ms)) {
                fprintf(stderr,
                        "meterd records list: --to \"%s\" is not a time (RFC 3339, or "
                        "2026-11-26T10 for an hour)\n",
                        optarg);
                return 2;
            }
            break;
        case 'F':
            format = optarg;
            if (!cli_format_valid(format)) {
                fprintf(stderr, "meterd records list: --format \"%s\": use table, csv or json\n",
                        format);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "meterd records list: unknown or incomplete option \"%s\"\n\n",
                    argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "meterd records list: unexpected argument \"%s\"\n\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!config_path == !ledger_path) {
        fprintf(stderr,
                "meterd records list: give exactly one of --config FILE or --ledger PATH\n");
        return 2;
    }
    if (f.hour_from_ms > f.hour_to_ms) {
        fprintf(stderr, "meterd records list: --from is after --to\n");
        return 2;
    }

    char err[512];
    mtr_config_t *cfg = NULL;
    if (config_path) {
        if (mtr_config_load(config_path, &cfg, NULL, err, sizeof err) != MTR_OK) {
            fprintf(stderr, "meterd records list: %s\n", err);
            return 2;
        }
        ledger_path = cfg->ledger.path;
    }
    mtr_ledger_options_t lo = {.must_exist = true};
    mtr_ledger_t *ledger = NULL;
    int rc = 0;
    cli_rows_t rows = {cols, N_COLS, NULL, 0};
    if (mtr_ledger_open(ledger_path, &lo, &ledger, err, sizeof err) != MTR_OK ||
        mtr_ledger_list(ledger, &f, collect, &rows, err, sizeof err) != MTR_OK) {
        fprintf(stderr, "meterd records list: %s\n", err);
        rc = 1;
    } else {
        cli_rows_print(&rows, format);
    }
    cli_rows_free(&rows);
    mtr_ledger_free(ledger);
    mtr_config_free(cfg);
    return rc;
}

int cmd_records(int argc, char **argv)
{
    static const cli_subcommand_t subs[] = {{"list", records_list}};
    return cli_dispatch("records", argc, argv, subs, sizeof subs / sizeof subs[0], usage);
}
