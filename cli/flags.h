/* Flag values the on-call commands share, parsed with errors that name
 * the command and the fix. */
#ifndef MTR_CLI_FLAGS_H
#define MTR_CLI_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"

#define CLI_MAX_PARTITIONS 4096

/* "0,3,7" into out (at most CLI_MAX_PARTITIONS); false for anything else. */
bool cli_parse_partitions(const char *text, int32_t *out, size_t *n);

/* Loads and checks the config at path; on failure prints "meterd
 * <command>: <the problem>" and returns NULL. */
mtr_config_t *cli_load_config(const char *command, const char *path);

#endif
