/* An RFC 4180 reader: one pass over the file's bytes, a small state machine
 * for quoted fields. */
#include "core/csv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/mem.h"

#define MAX_FILE_BYTES (64u << 20)

typedef struct builder {
    char **cells;
    size_t n, cap;
    char *cell;
    size_t len, cell_cap;
} builder_t;

static void put_char(builder_t *b, char c)
{
    if (b->len + 1 >= b->cell_cap) {
        b->cell_cap = b->cell_cap ? b->cell_cap * 2 : 64;
        b->cell = mtr_realloc(b->cell, b->cell_cap);
    }
    b->cell[b->len++] = c;
}

static void end_cell(builder_t *b)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->cells = mtr_realloc(b->cells, b->cap * sizeof *b->cells);
    }
    b->cells[b->n++] = mtr_strndup(b->cell ? b->cell : "", b->len);
    b->len = 0;
}

/* Hands the finished row to out; false (with err) on a wrong field count. */
static bool end_row(builder_t *b, mtr_csv_t *out, size_t line, char *err, size_t err_size)
{
    end_cell(b);
    if (b->n == 1 && !b->cells[0][0]) { /* an empty line */
        mtr_free(b->cells[0]);
        b->n = 0;
        return true;
    }
    if (!out->header) {
        out->header = b->cells;
        out->n_cols = b->n;
    } else if (b->n != out->n_cols) {
        snprintf(err, err_size,
                 "line %zu has %zu field(s) but the header names %zu: quote fields that "
                 "contain commas (\"a,b\")",
                 line, b->n, out->n_cols);
        for (size_t i = 0; i < b->n; i++)
            mtr_free(b->cells[i]);
        mtr_free(b->cells);
        b->cells = NULL;
        b->n = b->cap = 0;
        return false;
    } else {
        out->rows = mtr_realloc(out->rows, (out->n_rows + 1) * sizeof *out->rows);
        out->line_of = mtr_realloc(out->line_of, (out->n_rows + 1) * sizeof *out->line_of);
        out->rows[out->n_rows] = b->cells;
        out->line_of[out->n_rows++] = line;
    }
    b->cells = NULL;
    b->n = b->cap = 0;
    return true;
}

bool mtr_csv_parse(const char *text, size_t size, mtr_csv_t *out, char *err, size_t err_size)
{
    *out = (mtr_csv_t){0};
    builder_t b = {0};
    bool quoted = false, ok = true;
    size_t line = 1, row_line = 1;
    for (size_t i = 0; ok && i < size; i++) {
        char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < size && text[i + 1] == '"') {
                put_char(&b, '"');
                i++;
            } else if (c == '"') {
                quoted = false;
            } else {
                line += c == '\n';
                put_char(&b, c);
            }
        } else if (c == '"' && b.len == 0) {
            quoted = true;
        } else if (c == ',') {
            end_cell(&b);
        } else if (c == '\n' || (c == '\r' && i + 1 < size && text[i + 1] == '\n')) {
            i += c == '\r';
            ok = end_row(&b, out, row_line, err, err_size);
            row_line = ++line;
        } else {
            put_char(&b, c);
        }
    }
    if (ok && quoted) {
        snprintf(err, err_size, "line %zu: a quoted field is never closed (add the closing \")",
                 row_line);
        ok = false;
    }
    if (ok && (b.len || b.n))
        ok = end_row(&b, out, row_line, err, err_size);
    for (size_t i = 0; i < b.n; i++)
        mtr_free(b.cells[i]);
    mtr_free(b.cells);
    mtr_free(b.cell);
    if (ok && !out->header) {
        snprintf(err, err_size, "the file is empty: its first line must name the columns");
        ok = false;
    }
    if (!ok)
        mtr_csv_free(out);
    return ok;
}

bool mtr_csv_read(const char *path, mtr_csv_t *out, char *err, size_t err_size)
{
    *out = (mtr_csv_t){0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "cannot open %s: %s", path, strerror(errno));
        return false;
    }
    char *text = mtr_malloc(MAX_FILE_BYTES);
    size_t size = fread(text, 1, MAX_FILE_BYTES, f);
    bool too_big = size == MAX_FILE_BYTES;
    fclose(f);
    bool ok = false;
    if (too_big)
        snprintf(err, err_size, "%s is larger than %u MiB: split it", path, MAX_FILE_BYTES >> 20);
    else
        ok = mtr_csv_parse(text, size, out, err, err_size);
    mtr_free(text);
    return ok;
}

int mtr_csv_column(const mtr_csv_t *csv, const char *name)
{
    for (size_t i = 0; i < csv->n_cols; i++)
        if (!strcasecmp(csv->header[i], name))
            return (int)i;
    return -1;
}

void mtr_csv_free(mtr_csv_t *csv)
{
    for (size_t r = 0; r < csv->n_rows; r++) {
        for (size_t c = 0; c < csv->n_cols; c++)
            mtr_free(csv->rows[r][c]);
        mtr_free(csv->rows[r]);
    }
    for (size_t c = 0; c < csv->n_cols; c++)
        mtr_free(csv->header[c]);
    mtr_free(csv->header);
    mtr_free(csv->rows);
    mtr_free(csv->line_of);
    *csv = (mtr_csv_t){0};
}
