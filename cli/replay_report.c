/* Printing the replay report. */
#include "cli/replay_report.h"

#include <inttypes.h>
#include <string.h>

#include "cli/rows.h"
#include "cli/times.h"
#include "core/quantity.h"

enum {
    COL_SCOPE,
    COL_CUSTOMER,
    COL_DIMENSION,
    COL_HOUR,
    COL_AGGREGATION,
    COL_BILLED,
    COL_RECOMPUTED,
    COL_CORRECTED,
    COL_DIFFERENCE,
    COL_COMPLETE,
    N_COLS
};

static const cli_col_t cols[N_COLS] = {
    {"scope", CLI_TEXT},        {"customer", CLI_TEXT},    {"dimension", CLI_TEXT},
    {"hour", CLI_TEXT},         {"aggregation", CLI_TEXT}, {"billed", CLI_NUMBER},
    {"recomputed", CLI_NUMBER}, {"corrected", CLI_NUMBER}, {"difference", CLI_NUMBER},
    {"complete", CLI_TEXT}, /* "no": a partition it draws on was not read completely */
};

enum {
    P_PARTITION,
    P_HOURS,
    P_OFFSETS,
    P_READ,
    P_COUNTED,
    P_INVALID,
    P_DUPLICATES,
    P_COVERAGE,
    P_N
};

static const cli_col_t part_cols[P_N] = {
    {"partition", CLI_TEXT},    {"hours", CLI_TEXT},     {"offsets", CLI_TEXT},
    {"read", CLI_NUMBER},       {"counted", CLI_NUMBER}, {"invalid", CLI_NUMBER},
    {"duplicates", CLI_NUMBER}, {"coverage", CLI_TEXT},
};

static const char *const aggregation_names[] = {"sum", "count", "max", "latest"};

static void set_quantity(char **row, size_t col, int64_t micro)
{
    char buf[MTR_QUANTITY_FORMAT_MAX];
    mtr_quantity_format(micro, buf, sizeof buf);
    cli_rows_set(row, col, buf);
}

static void add_row(cli_rows_t *rows, const mtr_ledger_audit_row_t *r)
{
    char **c = cli_rows_add(rows);
    char hour[32];
    cli_rows_set(c, COL_SCOPE, r->key.scope);
    cli_rows_set(c, COL_CUSTOMER, r->key.customer);
    cli_rows_set(c, COL_DIMENSION, r->key.dimension);
    cli_format_hour(r->hour_ms, hour, sizeof hour);
    cli_rows_set(c, COL_HOUR, hour);
    cli_rows_set(c, COL_AGGREGATION,
                 (unsigned)r->aggregation < 4 ? aggregation_names[r->aggregation] : "?");
    set_quantity(c, COL_BILLED, r->billed_micro);
    set_quantity(c, COL_RECOMPUTED, r->recomputed_micro);
    set_quantity(c, COL_CORRECTED, r->corrected_micro);
    set_quantity(c, COL_DIFFERENCE, r->difference_micro);
    cli_rows_set(c, COL_COMPLETE, r->partial ? "no" : "yes");
}

void replay_print_partitions(const mtr_replay_t *rp)
{
    cli_rows_t rows = {part_cols, P_N, NULL, 0};
    for (size_t i = 0; i < rp->n_parts; i++) {
        const mtr_replay_partition_t *p = &rp->parts[i];
        char **c = cli_rows_add(&rows);
        cli_rows_setf(c, P_PARTITION, "%s[%" PRId32 "]", p->topic, p->partition);
        if (p->coverage != MTR_REPLAY_NOT_CLOSED) {
            char through[32];
            cli_format_hour(p->through_ms, through, sizeof through);
            cli_rows_setf(c, P_HOURS, "through %s", through);
            cli_rows_setf(c, P_OFFSETS, "%" PRId64 "..%" PRId64, p->start, p->end);
        }
        cli_rows_setf(c, P_READ, "%llu", (unsigned long long)p->messages);
        cli_rows_setf(c, P_COUNTED, "%llu", (unsigned long long)p->counted);
        cli_rows_setf(c, P_INVALID, "%llu", (unsigned long long)p->invalid);
        cli_rows_setf(c, P_DUPLICATES, "%llu", (unsigned long long)p->duplicates);
        cli_rows_set(c, P_COVERAGE, mtr_replay_coverage_name(p->coverage));
    }
    printf("\n");
    cli_rows_print(&rows, "table");
    cli_rows_free(&rows);
}

/* What an incomplete partition means, for the reader; false when complete. */
static bool explain_coverage(FILE *out, const mtr_replay_partition_t *p)
{
    switch (p->coverage) {
    case MTR_REPLAY_GAP:
        fprintf(out,
                "%s[%" PRId32 "]: GAP: %" PRId64 " offset(s) that fed these hours were deleted "
                "(the log now starts at %" PRId64 "; retention): the recomputed side misses "
                "them, so a shortfall there is not a billing error\n",
                p->topic, p->partition, p->missing, p->log_start);
        return true;
    case MTR_REPLAY_UNBOUNDED:
        fprintf(out,
                "%s[%" PRId32 "]: INCOMPLETE: no close before these hours bounds where they "
                "start, and the log now starts at %" PRId64 ": earlier events may have fed "
                "them (start the range later)\n",
                p->topic, p->partition, p->log_start);
        return true;
    case MTR_REPLAY_SHARED:
        fprintf(out,
                "%s[%" PRId32 "]: INCOMPLETE: ledger %s (another instance) closed some of "
                "these hours; replay them with that instance's ledger too (--ledger)\n",
                p->topic, p->partition, p->shared_with ? p->shared_with : "-");
        return true;
    case MTR_REPLAY_COMPLETE:
    case MTR_REPLAY_NOT_CLOSED:
    default:
        return false;
    }
}

replay_outcome_t replay_summarise(FILE *out, const char *hours, const mtr_replay_t *rp,
                                  const mtr_ledger_audit_t *a, bool submit)
{
    int64_t billed = 0, recomputed = 0, under = 0, over = 0;
    size_t differ = 0, n_under = 0, n_over = 0, unsure = 0;
    for (size_t i = 0; i < a->n; i++) {
        const mtr_ledger_audit_row_t *r = &a->rows[i];
        billed += r->billed_micro;
        recomputed += r->recomputed_micro;
        if (r->partial) {
            unsure += r->difference_micro != 0;
        } else if (r->difference_micro > 0) {
            under += r->difference_micro;
            n_under++;
        } else if (r->difference_micro < 0) {
            over -= r->difference_micro;
            n_over++;
        }
        differ += r->difference_micro != 0;
    }
    size_t compared = 0, incomplete = 0;
    for (size_t i = 0; i < rp->n_parts; i++) {
        compared += rp->parts[i].coverage != MTR_REPLAY_NOT_CLOSED;
        incomplete += explain_coverage(out, &rp->parts[i]);
    }
    char b[MTR_QUANTITY_FORMAT_MAX], r[MTR_QUANTITY_FORMAT_MAX];
    mtr_quantity_format(billed, b, sizeof b);
    mtr_quantity_format(recomputed, r, sizeof r);
    fprintf(out,
            "replay %s: %zu partition(s) with closed hours, %zu (customer, dimension, "
            "hour) compared; billed %s, recomputed %s\n",
            hours, compared, a->n, b, r);
    if (!compared)
        fprintf(out, "nothing to compare: no selected partition has closed these hours in "
                     "this ledger (is the range right? `meterd records list` shows the hours)\n");
    if (!differ) {
        fprintf(out, "no difference%s\n",
                incomplete ? " in what could be read (see the partitions above)" : "");
    } else {
        if (n_under) {
            mtr_quantity_format(under, b, sizeof b);
            fprintf(out, "%zu row(s) billed too little: %s unit(s) not billed%s\n", n_under, b,
                    submit ? "" : " (dry run: --submit-corrections bills them)");
        }
        if (n_over) {
            mtr_quantity_format(over, b, sizeof b);
            fprintf(out,
                    "%zu row(s) billed too much: %s unit(s) over-billed (AWS takes no negative "
                    "usage: a refund goes through AWS Marketplace, see README, Corrections)\n",
                    n_over, b);
        }
        if (unsure)
            fprintf(out,
                    "%zu row(s) differ in partitions not read completely: no verdict on them "
                    "(complete \"no\" above), nothing billed or listed for a refund\n",
                    unsure);
    }
    return (replay_outcome_t){n_under, n_over, unsure, incomplete};
}

void replay_print_reasons(const mtr_dlq_scan_t *scan, bool table)
{
    FILE *out = table ? stdout : stderr;
    if (scan->n_reasons) {
        fprintf(out, "%-28s %10s %14s\n", "reason", "now valid", "still invalid");
        for (size_t i = 0; i < scan->n_reasons; i++)
            fprintf(out, "%-28s %10llu %14llu\n", scan->reasons[i].reason,
                    (unsigned long long)scan->reasons[i].now_valid,
                    (unsigned long long)scan->reasons[i].still_invalid);
    }
    for (size_t i = 0; i < scan->n_reasons; i++)
        for (size_t e = 0; e < scan->reasons[i].n_examples; e++)
            fprintf(out, "  still %s: %s\n", scan->reasons[i].reason, scan->reasons[i].examples[e]);
    fprintf(out,
            "\n%llu dead-letter cop(ies) read (%llu of an event already seen, counted once; "
            "%llu without meterd.source headers, skipped): %llu now valid, %llu still "
            "invalid (the reasons above are the original ones for the valid, today's for "
            "the invalid)\n",
            (unsigned long long)scan->messages, (unsigned long long)scan->duplicates,
            (unsigned long long)scan->no_origin, (unsigned long long)scan->now_valid,
            (unsigned long long)scan->still_invalid);
}

void replay_print_rows(const mtr_ledger_audit_t *audit, bool all, const char *format)
{
    cli_rows_t rows = {cols, N_COLS, NULL, 0};
    for (size_t i = 0; i < audit->n; i++)
        if (all || audit->rows[i].difference_micro)
            add_row(&rows, &audit->rows[i]);
    if (rows.n || strcmp(format, "table"))
        cli_rows_print(&rows, format);
    cli_rows_free(&rows);
}
