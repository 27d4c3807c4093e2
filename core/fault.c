/* The crash points of fault.h: the environment is read once. */
#include "core/fault.h"

#ifdef MTR_FAULT_POINTS
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char fault_name[128];
static long fault_countdown;
static _Atomic long hits;

static void load(void)
{
    const char *spec = getenv("METERD_FAULT");
    if (!spec || !*spec)
        return;
    snprintf(fault_name, sizeof fault_name, "%s", spec);
    char *colon = strchr(fault_name, ':');
    fault_countdown = 1;
    if (colon) {
        *colon = '\0';
        fault_countdown = strtol(colon + 1, NULL, 10);
        if (fault_countdown < 1)
            fault_countdown = 1;
    }
}

void mtr_fault_point(const char *name)
{
    pthread_once(&once, load);
    if (!fault_name[0] || strcmp(name, fault_name) != 0)
        return;
    if (++hits < fault_countdown)
        return;
    mtr_warn("fault", "crash point \"%s\" reached (hit %ld): killing the process", name,
             (long)hits);
    raise(SIGKILL);
}
#endif
