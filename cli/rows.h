/* Output of the on-call commands: rows of text cells printed as an aligned
 * table (terminals), RFC 4180 CSV (spreadsheets) or a JSON array of objects
 * (scripts), chosen with --format table|csv|json. Each column says how its
 * cells read in JSON: a string, or a number written as it is (exact
 * decimals, no trip through a double), an empty cell being null or not.
 *
 * Ownership: rows own their cells (copied in); free with cli_rows_free. */
#ifndef MTR_CLI_ROWS_H
#define MTR_CLI_ROWS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum cli_col_kind {
    CLI_TEXT,         /* a JSON string */
    CLI_TEXT_OR_NULL, /* a JSON string; an empty cell is null */
    CLI_NUMBER,       /* a JSON number, written as it is */
    CLI_NUMBER_OR_NULL,
} cli_col_kind_t;

typedef struct cli_col {
    const char *name;
    cli_col_kind_t kind;
} cli_col_t;

typedef struct cli_rows {
    const cli_col_t *cols;
    size_t n_cols;
    char ***cells; /* cells[row][col] */
    size_t n;
} cli_rows_t;

/* "table", "csv" or "json": true; otherwise false (say what is allowed). */
bool cli_format_valid(const char *format);

/* Appends a row of empty cells and returns it, for cli_rows_set. */
char **cli_rows_add(cli_rows_t *rows);
/* Sets one cell of a row to a copy of text (NULL: empty), or to printf
 * output with cli_rows_setf. */
void cli_rows_set(char **row, size_t col, const char *text);
void cli_rows_setf(char **row, size_t col, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prints every row to stdout in format (cli_format_valid). */
void cli_rows_print(cli_rows_t *rows, const char *format);
void cli_rows_free(cli_rows_t *rows);

#endif
