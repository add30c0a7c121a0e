/* A system record written directly: reported only with --include-system-types. */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

struct snapshot {
    uint64_t taken_at;
    struct timespec mtime;
};

int remember(int fd, const char *path, struct snapshot *s)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return -1;
    s->mtime = st.st_mtim;
    if (write(fd, &st, sizeof st) < 0)
        return -1;
    return write(fd, s, sizeof *s) < 0 ? -1 : 0;
}
