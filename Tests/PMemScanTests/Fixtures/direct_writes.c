/* Direct writes: records handed to write/pwrite/fwrite/writev by address. */
#include <stdio.h>
#include <stdint.h>
#include <sys/uio.h>
#include <unistd.h>

struct version {
    uint16_t major;
    uint16_t minor;
};

/* Embedded by value in the superblock: reported through closure. */
struct superblock {
    uint32_t magic;
    struct version version;
    uint64_t root_offset;
    struct superblock *next_in_memory;
};

typedef struct journal_entry {
    uint64_t sequence;
    uint32_t length;
    char payload[64];
} journal_entry_t;

struct footer {
    uint32_t checksum;
};

struct trailer {
    uint64_t entries;
};

/* Decoy: an options struct that only steers the code. */
struct options {
    int verbose;
    int sync_every;
};

int save(int fd, struct superblock *sb, const struct options *opt)
{
    if (opt->verbose)
        fprintf(stderr, "saving\n");
    return pwrite(fd, sb, sizeof *sb, 0) == sizeof *sb ? 0 : -1;
}

int append(FILE *log, journal_entry_t *entries, int n)
{
    return fwrite(entries, sizeof(journal_entry_t), n, log) == (size_t)n;
}

int finish(int fd)
{
    struct footer f = { 0 };
    struct trailer t = { 0 };
    struct iovec iov[2];
    iov[0].iov_base = &f;
    iov[0].iov_len = sizeof f;
    iov[1].iov_base = &t;
    iov[1].iov_len = sizeof t;
    return writev(fd, iov, 2) < 0 ? -1 : 0;
}
