/* `meterd config` (placeholder until its module lands). */
#include <stdio.h>

#include "cli/cmd.h"

int cmd_config(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "meterd config: not available in this build\n");
    return 2;
}
