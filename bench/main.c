/* meterbench: the hot-path benchmarks (placeholder until they land). */
#include <stdio.h>

int main(void)
{
    fprintf(stderr, "meterbench: no benchmarks in this build\n");
    return 1;
}
