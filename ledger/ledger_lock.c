/* One writer per ledger file: `meterd run` holds an exclusive flock on
 * "<ledger>.lock" for as long as it runs, with its pid and start time in
 * the file so that a second instance can say who holds it. The kernel
 * drops the lock when the process dies, however it dies, so a crash never
 * leaves a stale lock behind; readers (`meterd records list`) take none. */
#include "ledger/ledger_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"

/* What the holder wrote ("pid 123, started 2026-12-07T10:00:00Z"), or a
 * note that it is unreadable. */
static void read_holder(int fd, char *out, size_t size)
{
    char buf[128];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0) {
        snprintf(out, size, "another process (it wrote nothing into the lock file)");
        return;
    }
    buf[n] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    snprintf(out, size, "%s", buf);
}

mtr_err_t ledger_lock(mtr_ledger_t *l, char *errstr, size_t errstr_size)
{
    size_t n = strlen(l->path) + sizeof ".lock";
    char *lock_path = mtr_malloc(n);
    snprintf(lock_path, n, "%s.lock", l->path);
    int fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    mtr_err_t err = MTR_OK;
    if (fd < 0) {
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_IO,
                          "ledger %s: cannot open its lock file %s: %s; check the directory's "
                          "permissions",
                          l->path, lock_path, strerror(errno));
    } else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        char holder[160];
        read_holder(fd, holder, sizeof holder);
        err = mtr_err_set(errstr, errstr_size, MTR_ERR_STATE,
                          "ledger %s is in use by meterd %s (lock %s): stop that instance, or "
                          "give this one its own ledger.path",
                          l->path, holder, lock_path);
        close(fd);
        fd = -1;
    } else {
        char text[96], when[32];
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        int len = snprintf(text, sizeof text, "pid %ld, started %s\n", (long)getpid(), when);
        if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)len, 0) != len)
            mtr_warn("ledger", "%s: cannot write the holder into the lock file: %s", lock_path,
                     strerror(errno));
    }
    mtr_free(lock_path);
    l->lock_fd = fd;
    return err;
}
