/* Reading RFC 4180 CSV files (spreadsheet exports): fields separated by
 * commas, optionally quoted with "..." (a quote inside doubled, commas and
 * line breaks allowed inside), lines ended by LF or CRLF. The first line
 * names the columns.
 *
 * Ownership: mtr_csv_t owns its cells; free with mtr_csv_free. */
#ifndef MTR_CORE_CSV_H
#define MTR_CORE_CSV_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mtr_csv {
    char **header; /* n_cols names, as written */
    size_t n_cols;
    char ***rows; /* rows[i][col]; every row has n_cols cells */
    size_t n_rows;
    size_t *line_of; /* the file line each row starts on, for errors */
} mtr_csv_t;

/* Reads path. On failure returns false with a message in err naming the
 * line and the fix (a row with the wrong number of fields, an unclosed
 * quote, an empty file). */
bool mtr_csv_read(const char *path, mtr_csv_t *out, char *err, size_t err_size);
/* The same over text[0..size) (no NUL needed). */
bool mtr_csv_parse(const char *text, size_t size, mtr_csv_t *out, char *err, size_t err_size);
/* The index of the column named name (case-insensitive), or -1. */
int mtr_csv_column(const mtr_csv_t *csv, const char *name);
void mtr_csv_free(mtr_csv_t *csv);

#endif
