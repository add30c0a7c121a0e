/* A data file and a lock file, both mapped. The lock file's reader table is
 * record-locked and never synced: coordination, not persistent state. */
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

struct data_header {
    uint64_t magic;
    uint64_t root;
};

struct reader_slot {
    uint64_t txn;
    int32_t pid;
};

struct reader_table {
    uint32_t count;
    struct reader_slot slots[32];
};

struct environment {
    int data_fd;
    int lock_fd;
    struct data_header *header;
    struct reader_table *readers;
};

int env_open(struct environment *env, const char *data, const char *lock)
{
    struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    env->data_fd = open(data, O_RDWR);
    env->lock_fd = open(lock, O_RDWR | O_CREAT, 0600);
    if (fcntl(env->lock_fd, F_SETLK, &fl) < 0)
        return -1;
    env->readers = mmap(NULL, sizeof *env->readers, PROT_READ | PROT_WRITE, MAP_SHARED, env->lock_fd, 0);
    env->header = mmap(NULL, 4096, PROT_READ, MAP_SHARED, env->data_fd, 0);
    return env->readers == MAP_FAILED || env->header == MAP_FAILED ? -1 : 0;
}
