/* Printing rows as a table, CSV or JSON (cli/rows.h). */
#include "cli/rows.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/mem.h"

bool cli_format_valid(const char *format)
{
    return !strcmp(format, "table") || !strcmp(format, "csv") || !strcmp(format, "json");
}

char **cli_rows_add(cli_rows_t *rows)
{
    rows->cells = mtr_realloc(rows->cells, (rows->n + 1) * sizeof *rows->cells);
    char **row = mtr_calloc(rows->n_cols, sizeof *row);
    rows->cells[rows->n++] = row;
    return row;
}

void cli_rows_set(char **row, size_t col, const char *text)
{
    mtr_free(row[col]);
    row[col] = text ? mtr_strdup(text) : NULL;
}

void cli_rows_setf(char **row, size_t col, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cli_rows_set(row, col, buf);
}

static const char *cell(const cli_rows_t *rows, size_t r, size_t c)
{
    const char *s = rows->cells[r][c];
    return s ? s : "";
}

static void print_csv_field(const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"')
            putchar('"');
        putchar(*s);
    }
    putchar('"');
}

static void print_csv(const cli_rows_t *rows)
{
    for (size_t c = 0; c < rows->n_cols; c++)
        printf("%s%s", c ? "," : "", rows->cols[c].name);
    fputs("\r\n", stdout);
    for (size_t r = 0; r < rows->n; r++) {
        for (size_t c = 0; c < rows->n_cols; c++) {
            if (c)
                putchar(',');
            print_csv_field(cell(rows, r, c));
        }
        fputs("\r\n", stdout);
    }
}

/* Control characters would break the table's lines. */
static void flatten(char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20)
            *s = ' ';
}

static void print_line(const cli_rows_t *rows, const size_t *width, size_t r)
{
    for (size_t c = 0; c < rows->n_cols; c++) {
        bool last = c == rows->n_cols - 1;
        const char *s = r == SIZE_MAX ? rows->cols[c].name : cell(rows, r, c);
        printf("%-*s%s", last ? 0 : (int)width[c], s, last ? "\n" : "  ");
    }
}

static void print_table(cli_rows_t *rows)
{
    size_t *width = mtr_calloc(rows->n_cols, sizeof *width);
    for (size_t c = 0; c < rows->n_cols; c++)
        width[c] = strlen(rows->cols[c].name);
    for (size_t r = 0; r < rows->n; r++)
        for (size_t c = 0; c < rows->n_cols; c++) {
            flatten(rows->cells[r][c]);
            size_t w = strlen(cell(rows, r, c));
            if (w > width[c])
                width[c] = w;
        }
    print_line(rows, width, SIZE_MAX);
    for (size_t r = 0; r < rows->n; r++)
        print_line(rows, width, r);
    mtr_free(width);
}

static cJSON *json_value(cli_col_kind_t kind, const char *s)
{
    bool empty = !*s;
    switch (kind) {
    case CLI_TEXT_OR_NULL:
        return empty ? cJSON_CreateNull() : cJSON_CreateString(s);
    case CLI_NUMBER:
        return cJSON_CreateRaw(empty ? "null" : s);
    case CLI_NUMBER_OR_NULL:
        return empty ? cJSON_CreateNull() : cJSON_CreateRaw(s);
    case CLI_TEXT:
    default:
        return cJSON_CreateString(s);
    }
}

static void print_json(const cli_rows_t *rows)
{
    cJSON *arr = cJSON_CreateArray();
    for (size_t r = 0; r < rows->n; r++) {
        cJSON *o = cJSON_CreateObject();
        for (size_t c = 0; c < rows->n_cols; c++)
            cJSON_AddItemToObject(o, rows->cols[c].name,
                                  json_value(rows->cols[c].kind, cell(rows, r, c)));
        cJSON_AddItemToArray(arr, o);
    }
    char *text = cJSON_Print(arr);
    puts(text);
    cJSON_free(text);
    cJSON_Delete(arr);
}

void cli_rows_print(cli_rows_t *rows, const char *format)
{
    if (!strcmp(format, "csv"))
        print_csv(rows);
    else if (!strcmp(format, "json"))
        print_json(rows);
    else
        print_table(rows);
}

void cli_rows_free(cli_rows_t *rows)
{
    for (size_t r = 0; r < rows->n; r++) {
        for (size_t c = 0; c < rows->n_cols; c++)
            mtr_free(rows->cells[r][c]);
        mtr_free(rows->cells[r]);
    }
    mtr_free(rows->cells);
    rows->cells = NULL;
    rows->n = 0;
}
