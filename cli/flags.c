/* Shared flag parsing. */
#include "cli/flags.h"

#include <stdio.h>
#include <stdlib.h>

bool cli_parse_partitions(const char *text, int32_t *out, size_t *n)
{
    *n = 0;
    for (const char *p = text; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 0 || v > INT32_MAX || *n == CLI_MAX_PARTITIONS || (*end && *end != ','))
            return false;
        out[(*n)++] = (int32_t)v;
        p = *end ? end + 1 : end;
    }
    return *n > 0;
}

mtr_config_t *cli_load_config(const char *command, const char *path)
{
    char err[1024];
    mtr_config_t *cfg = NULL;
    if (mtr_config_load(path, &cfg, NULL, err, sizeof err) != MTR_OK) {
        fprintf(stderr, "meterd %s: %s\n", command, err);
        return NULL;
    }
    return cfg;
}
