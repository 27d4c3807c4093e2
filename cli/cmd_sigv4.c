/* `meterd sigv4` (placeholder until its module lands). */
#include <stdio.h>

#include "cli/cmd.h"

int cmd_sigv4(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "meterd sigv4: not available in this build\n");
    return 2;
}
