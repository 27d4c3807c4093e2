/* `meterd offsets show`: the consumer group's position per partition, as
 * `kafka-consumer-groups --describe` shows it (committed offset, log start
 * and end, lag, owner), plus what only meterd knows: the close log in the
 * commit metadata, decoded. Reads only; never joins the group. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli/cmd.h"
#include "cli/rows.h"
#include "core/config.h"
#include "ingest/offsets.h"

enum {
    COL_TOPIC,
    COL_PARTITION,
    COL_COMMITTED,
    COL_LOG_START,
    COL_LOG_END,
    COL_LAG,
    COL_OWNER,
    COL_METADATA,
    COL_LOG_HOURS,
    COL_CLOSED_THROUGH,
    COL_CLOSED_BY,
    N_COLS
};

static const cli_col_t cols[N_COLS] = {
    {"topic", CLI_TEXT},
    {"partition", CLI_NUMBER},
    {"committed", CLI_NUMBER_OR_NULL},
    {"log_start", CLI_NUMBER_OR_NULL},
    {"log_end", CLI_NUMBER_OR_NULL},
    {"lag", CLI_NUMBER_OR_NULL},
    {"owner", CLI_TEXT_OR_NULL},
    {"metadata", CLI_TEXT},
    {"close_log_hours", CLI_NUMBER},
    {"closed_through", CLI_TEXT_OR_NULL},
    {"closed_by", CLI_TEXT_OR_NULL},
};

static const char *const meta_names[] = {"none", "meterd", "foreign"};

static void usage(FILE *out)
{
    fprintf(out, "usage: meterd offsets show --config FILE [--format table|csv|json]\n"
                 "         [--timeout DURATION]\n"
                 "       meterd offsets reset --config FILE TARGET [--execute] (see its --help)\n\n"
                 "Per partition of the config's topics: the group's committed offset, the log\n"
                 "start and end, the lag, the live member that owns it (when the broker\n"
                 "describes groups), and the close log meterd keeps in the commit metadata:\n"
                 "close_log_hours is how many closed hours it still carries (older ones are\n"
                 "dropped once no replay needs them), closed_through the last hour closed as of\n"
                 "the committed offset, closed_by the ledger that closed it. metadata is\n"
                 "\"meterd\" for meterd's commits, \"none\" when nothing or a plain offset was\n"
                 "committed, and \"foreign\" for metadata meterd cannot read: both of the\n"
                 "latter come from another tool. Reads only; never joins the group or commits.\n"
                 "--timeout bounds "
                 "each request to Kafka (default 10s).\n");
}

static void add_row(cli_rows_t *rows, const mtr_offsets_partition_t *p)
{
    char **c = cli_rows_add(rows);
    cli_rows_set(c, COL_TOPIC, p->topic);
    cli_rows_setf(c, COL_PARTITION, "%d", p->partition);
    const int64_t nums[] = {p->committed, p->log_start, p->log_end, p->lag};
    for (int i = 0; i < 4; i++)
        if (nums[i] >= 0)
            cli_rows_setf(c, COL_COMMITTED + (size_t)i, "%lld", (long long)nums[i]);
    cli_rows_set(c, COL_OWNER, p->member);
    cli_rows_set(c, COL_METADATA, meta_names[p->meta]);
    cli_rows_setf(c, COL_LOG_HOURS, "%zu", p->closed_hours);
    if (p->closed_through_ms != INT64_MIN) {
        time_t t = (time_t)(p->closed_through_ms / 1000);
        struct tm tm;
        char buf[32];
        gmtime_r(&t, &tm);
        strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
        cli_rows_set(c, COL_CLOSED_THROUGH, buf);
    }
    cli_rows_set(c, COL_CLOSED_BY, p->writer);
}

/* The table's last lines: the group and what needs a look. */
static void print_summary(const mtr_offsets_t *o)
{
    long long lag = 0;
    size_t unknown = 0, foreign = 0;
    for (size_t i = 0; i < o->n_parts; i++) {
        if (o->parts[i].lag >= 0)
            lag += o->parts[i].lag;
        else
            unknown++;
        if (o->parts[i].committed >= 0 && o->parts[i].meta != MTR_OFFSETS_META_METERD)
            foreign++;
    }
    if (!strcmp(o->state, "Unknown"))
        printf("\ngroup %s: members and owners unknown (the broker does not describe groups)",
               o->group);
    else
        printf("\ngroup %s: %s, %zu live member(s)", o->group, o->state, o->members);
    printf("; %zu partition(s), total lag %lld%s\n", o->n_parts, lag,
           unknown ? " (some partitions unknown)" : "");
    if (foreign)
        printf("%zu partition(s) committed by another tool (no meterd close log)\n", foreign);
}

static int offsets_show(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"format", required_argument, NULL, 'F'},
                                         {"timeout", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *config_path = NULL, *format = "table";
    int64_t timeout_ms = 10000;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            config_path = optarg;
            break;
        case 'F':
            format = optarg;
            if (!cli_format_valid(format)) {
                fprintf(stderr, "meterd offsets show: --format \"%s\": use table, csv or json\n",
                        format);
                return 2;
            }
            break;
        case 't':
            if (mtr_config_parse_duration(optarg, &timeout_ms) != MTR_OK || timeout_ms < 100 ||
                timeout_ms > 600000) {
                fprintf(stderr,
                        "meterd offsets show: --timeout \"%s\": give a duration from 100ms to "
                        "10m, e.g. 30s\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "meterd offsets show: unknown or incomplete option \"%s\"\n\n",
                    argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc || !config_path) {
        fprintf(stderr, "meterd offsets show: %s%s%s\n\n",
                optind < argc ? "unexpected argument \"" : "--config FILE is required",
                optind < argc ? argv[optind] : "", optind < argc ? "\"" : "");
        usage(stderr);
        return 2;
    }
    char err[1024];
    mtr_config_t *cfg = NULL;
    if (mtr_config_load(config_path, &cfg, NULL, err, sizeof err) != MTR_OK) {
        fprintf(stderr, "meterd offsets show: %s\n", err);
        return 2;
    }
    mtr_offsets_t o;
    int rc = 0;
    if (mtr_offsets_describe(cfg, (int)timeout_ms, &o, err, sizeof err) != MTR_OK) {
        fprintf(stderr, "meterd offsets show: %s\n", err);
        rc = 1;
    } else {
        cli_rows_t rows = {cols, N_COLS, NULL, 0};
        for (size_t i = 0; i < o.n_parts; i++)
            add_row(&rows, &o.parts[i]);
        cli_rows_print(&rows, format);
        if (!strcmp(format, "table"))
            print_summary(&o);
        cli_rows_free(&rows);
    }
    mtr_offsets_free(&o);
    mtr_config_free(cfg);
    return rc;
}

int cmd_offsets(int argc, char **argv)
{
    static const cli_subcommand_t subs[] = {{"show", offsets_show}, {"reset", cmd_offsets_reset}};
    return cli_dispatch("offsets", argc, argv, subs, sizeof subs / sizeof subs[0], usage);
}
