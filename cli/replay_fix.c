/* Corrections and refund requests from a replay's differences. */
#include "cli/replay_fix.h"

#include <errno.h>
#include <string.h>

#include "core/csv.h"
#include "cli/times.h"
#include "core/mem.h"
#include "core/quantity.h"

/* The dimension's rules: of the product the scope names, or for a license
 * the first product that has the dimension. NULL when the config no
 * longer has it. */
static const mtr_dimension_conf_t *dimension_of(const mtr_config_t *cfg, const mtr_ledger_key_t *k)
{
    for (size_t p = 0; p < cfg->n_products; p++) {
        const mtr_product_conf_t *prod = &cfg->products[p];
        if (k->scope_kind == MTR_LEDGER_SCOPE_PRODUCT && strcmp(prod->product_code, k->scope))
            continue;
        for (size_t d = 0; d < prod->n_dimensions; d++)
            if (!strcmp(prod->dimensions[d].name, k->dimension))
                return &prod->dimensions[d];
    }
    return NULL;
}

mtr_err_t replay_submit_corrections(mtr_ledger_t *ledger, const mtr_config_t *cfg,
                                    const mtr_ledger_audit_t *a, const char *description, FILE *out,
                                    size_t *n, int64_t *units_micro, char *errstr,
                                    size_t errstr_size)
{
    *n = 0;
    *units_micro = 0;
    mtr_ledger_correction_t *c = mtr_calloc(a->n ? a->n : 1, sizeof *c);
    for (size_t i = 0; i < a->n; i++) {
        const mtr_ledger_audit_row_t *r = &a->rows[i];
        if (r->difference_micro <= 0 || r->partial)
            continue; /* over-billed, or no verdict */
        const mtr_dimension_conf_t *d = dimension_of(cfg, &r->key);
        c[*n] = (mtr_ledger_correction_t){
            .key = r->key,
            .source_hour_ms = r->hour_ms,
            .quantity_micro = r->difference_micro,
            .rounding = d ? d->rounding : MTR_ROUND_UP,
            .aggregation = d ? d->aggregation : r->aggregation,
        };
        *units_micro += r->difference_micro;
        (*n)++;
    }
    mtr_err_t err = MTR_OK;
    int64_t run = 0;
    if (*n)
        err = mtr_ledger_correct(ledger, description, c, *n, &run, errstr, errstr_size);
    mtr_free(c);
    if (!err && *n) {
        char units[MTR_QUANTITY_FORMAT_MAX];
        mtr_quantity_format(*units_micro, units, sizeof units);
        fprintf(out,
                "billed %zu correction(s), %s unit(s), as correction run %lld: a running "
                "meterd sends them with its next batch (see them with `meterd records list "
                "--status sendable`)\n",
                *n, units, (long long)run);
    }
    return err;
}

/* ---- refund requests ---- */

typedef struct invoices {
    mtr_csv_t csv;
    int customer, agreement, invoice, dimension, price; /* columns; -1: absent */
} invoices_t;

static mtr_err_t load_invoices(const char *path, invoices_t *inv, char *errstr, size_t errstr_size)
{
    char why[512];
    if (!mtr_csv_read(path, &inv->csv, why, sizeof why))
        return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE, "--invoices %s: %s", path, why);
    inv->customer = mtr_csv_column(&inv->csv, "customer");
    inv->agreement = mtr_csv_column(&inv->csv, "agreement_id");
    inv->invoice = mtr_csv_column(&inv->csv, "invoice_id");
    inv->dimension = mtr_csv_column(&inv->csv, "dimension");
    inv->price = mtr_csv_column(&inv->csv, "unit_price");
    if (inv->customer < 0 || inv->agreement < 0) {
        mtr_csv_free(&inv->csv);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                           "--invoices %s: the first line must name the columns customer and "
                           "agreement_id (and may name invoice_id, dimension, unit_price)",
                           path);
    }
    for (size_t r = 0; inv->price >= 0 && r < inv->csv.n_rows; r++) {
        const char *p = inv->csv.rows[r][inv->price];
        int64_t micro;
        if (*p && mtr_quantity_parse(p, strlen(p), &micro) != MTR_QUANTITY_OK) {
            size_t line = inv->csv.line_of[r];
            mtr_csv_free(&inv->csv);
            return mtr_err_set(errstr, errstr_size, MTR_ERR_PARSE,
                               "--invoices %s line %zu: unit_price \"%s\" is not a price in USD "
                               "(a decimal with at most 6 places, e.g. 0.012)",
                               path, line, p);
        }
    }
    return MTR_OK;
}

/* The mapping row of (customer, dimension): one naming the dimension first,
 * else one without a dimension; NULL when none. */
static char **invoice_of(const invoices_t *inv, const char *customer, const char *dimension)
{
    char **fallback = NULL;
    for (size_t r = 0; inv && r < inv->csv.n_rows; r++) {
        char **row = inv->csv.rows[r];
        if (strcmp(row[inv->customer], customer))
            continue;
        const char *d = inv->dimension >= 0 ? row[inv->dimension] : "";
        if (!strcmp(d, dimension))
            return row;
        if (!*d && !fallback)
            fallback = row;
    }
    return fallback;
}

static void put_csv(FILE *f, const char *s, bool last)
{
    if (strpbrk(s, ",\"\r\n")) {
        fputc('"', f);
        for (; *s; s++) {
            if (*s == '"')
                fputc('"', f);
            fputc(*s, f);
        }
        fputc('"', f);
    } else {
        fputs(s, f);
    }
    fputc(last ? '\n' : ',', f);
}

/* units x unit price, both in micro, to micro-dollars rounded half up. */
static int64_t amount_micro(int64_t units, int64_t price)
{
    __int128 p = (__int128)units * price;
    return (int64_t)((p + 500000) / 1000000);
}

mtr_err_t replay_write_refund_file(const char *path, const char *invoices_path,
                                   const mtr_ledger_audit_t *a, FILE *out, char *errstr,
                                   size_t errstr_size)
{
    invoices_t inv;
    if (invoices_path) {
        mtr_err_t err = load_invoices(invoices_path, &inv, errstr, errstr_size);
        if (err)
            return err;
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        if (invoices_path)
            mtr_csv_free(&inv.csv);
        return mtr_err_set(errstr, errstr_size, MTR_ERR_IO, "--refund-file %s: cannot write it: %s",
                           path, strerror(errno));
    }
    fputs("agreementId,originalInvoiceId,adjustmentAmount,currencyCode,adjustmentReasonCode,"
          "description,customer,dimension,hours,units\n",
          f);
    size_t lines = 0, unfilled = 0;
    for (size_t i = 0; i < a->n;) {
        const mtr_ledger_audit_row_t *first = &a->rows[i];
        int64_t units = 0, first_hour = 0, last_hour = 0;
        size_t hours = 0, j = i;
        for (; j < a->n && a->rows[j].key.scope_kind == first->key.scope_kind &&
               !strcmp(a->rows[j].key.scope, first->key.scope) &&
               !strcmp(a->rows[j].key.customer, first->key.customer) &&
               !strcmp(a->rows[j].key.dimension, first->key.dimension);
             j++)
            if (a->rows[j].difference_micro < 0 && !a->rows[j].partial) {
                if (!hours)
                    first_hour = a->rows[j].hour_ms;
                units -= a->rows[j].difference_micro;
                last_hour = a->rows[j].hour_ms;
                hours++;
            }
        if (!hours) {
            i = j;
            continue;
        }
        char **m =
            invoice_of(invoices_path ? &inv : NULL, first->key.customer, first->key.dimension);
        const char *agreement = m ? m[inv.agreement] : "";
        const char *invoice = m && inv.invoice >= 0 ? m[inv.invoice] : "";
        const char *price = m && inv.price >= 0 ? m[inv.price] : "";
        char amount[MTR_QUANTITY_FORMAT_MAX] = "", units_text[MTR_QUANTITY_FORMAT_MAX];
        int64_t price_micro;
        if (*price && mtr_quantity_parse(price, strlen(price), &price_micro) == MTR_QUANTITY_OK)
            mtr_quantity_format(amount_micro(units, price_micro), amount, sizeof amount);
        mtr_quantity_format(units, units_text, sizeof units_text);
        char from[32], to[32], span[80], description[512];
        cli_format_hour(first_hour, from, sizeof from);
        cli_format_hour(last_hour, to, sizeof to);
        snprintf(span, sizeof span, "%s..%s", from, to);
        snprintf(description, sizeof description,
                 "%s unit(s) of %s over-billed in %zu hour(s) %s (found by meterd replay)",
                 units_text, first->key.dimension, hours, span);
        const char *fields[] = {agreement,
                                invoice,
                                amount,
                                "USD",
                                "INCORRECT_METERING",
                                description,
                                first->key.customer,
                                first->key.dimension,
                                span,
                                units_text};
        for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++)
            put_csv(f, fields[k], k + 1 == sizeof fields / sizeof fields[0]);
        lines++;
        unfilled += !*agreement || !*invoice || !*amount;
        i = j;
    }
    bool write_failed = ferror(f) != 0;
    write_failed |= fclose(f) != 0;
    if (invoices_path)
        mtr_csv_free(&inv.csv);
    if (write_failed)
        return mtr_err_set(errstr, errstr_size, MTR_ERR_IO, "--refund-file %s: writing failed: %s",
                           path, strerror(errno));
    fprintf(out,
            "wrote %zu refund line(s) to %s (rows of partitions not read completely are "
            "left out)",
            lines, path);
    if (unfilled)
        fprintf(out,
                "; %zu lack an agreement id, invoice id or amount: fill them from your billing "
                "event data feed (or pass --invoices FILE), then submit the lines with AWS "
                "Marketplace's BatchCreateBillingAdjustmentRequest",
                unfilled);
    fputc('\n', out);
    return MTR_OK;
}
