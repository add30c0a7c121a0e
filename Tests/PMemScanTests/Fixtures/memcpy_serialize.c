/* memcpy/memmove from typed objects into a byte buffer that is then written. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct record_header {
    uint32_t key_length;
    uint32_t value_length;
};

struct index_entry {
    uint64_t key_hash;
    uint64_t offset;
};

/* Decoy: an in-memory cache of entries, never copied into the buffer. */
struct cache {
    struct index_entry *slots;
    size_t capacity;
    size_t hits;
};

static char out_buffer[8192];
static size_t out_used;

static void buffer_put(const void *data, size_t len)
{
    memcpy(out_buffer + out_used, data, len);
    out_used += len;
}

int emit(int fd, const struct record_header *h, const struct index_entry *e, struct cache *c)
{
    c->hits++;
    buffer_put(h, sizeof *h);
    unsigned char *block = malloc(sizeof *e);
    memmove(block, e, sizeof *e);
    int rc = write(fd, block, sizeof *e) < 0;
    free(block);
    return rc | (write(fd, out_buffer, out_used) < 0);
}
