/* Types overlaid on file mappings and on buffers read from files; msync'd writes. */
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

struct file_header {
    uint64_t magic;
    uint64_t slot_count;
};

struct slot {
    uint64_t key;
    uint64_t value;
};

struct log_block {
    uint32_t crc;
    uint32_t used;
    uint8_t data[248];
};

/* Decoy: the mapping handle itself lives only in memory. */
struct mapping {
    void *base;
    size_t length;
    int fd;
};

int open_table(struct mapping *m, const char *path)
{
    m->fd = open(path, O_RDWR);
    m->length = 1 << 20;
    m->base = mmap(NULL, m->length, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
    return m->base == MAP_FAILED ? -1 : 0;
}

int put(struct mapping *m, uint64_t key, uint64_t value)
{
    struct file_header *h = m->base;
    struct slot *slots = (struct slot *)((char *)m->base + sizeof *h);
    slots[key % h->slot_count].key = key;
    slots[key % h->slot_count].value = value;
    return msync(m->base, m->length, MS_SYNC);
}

uint32_t first_block_crc(int fd)
{
    char buf[256];
    if (read(fd, buf, sizeof buf) != sizeof buf)
        return 0;
    const struct log_block *b = (const struct log_block *)buf;
    return b->crc;
}

/* Decoy: anonymous memory is not a file mapping. */
struct arena {
    size_t used;
    size_t size;
};

struct arena *new_arena(void)
{
    struct arena *a = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return a == MAP_FAILED ? NULL : a;
}
