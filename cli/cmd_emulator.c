/* `meterd emulator` (placeholder until its module lands). */
#include <stdio.h>

#include "cli/cmd.h"

int cmd_emulator(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "meterd emulator: not available in this build\n");
    return 2;
}
