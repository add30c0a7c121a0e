/* Unions, pointer fields at known offsets, and a type only pointed to. */
#include <stdint.h>
#include <unistd.h>

/* Only pointed to from struct tree_root and never written itself: not reported. */
struct in_memory_index {
    uint64_t buckets[64];
};

union key {
    uint64_t number;
    char text[8];
};

struct tree_entry {
    union key key;
    struct tree_entry *left;
    struct tree_entry *right;
};

struct tree_root {
    uint32_t count;
    struct tree_entry entries[2];
    struct in_memory_index *index;
    void *spare[2];
};

int persist_root(int fd, const struct tree_root *root)
{
    return write(fd, root, sizeof *root) < 0 ? -1 : 0;
}
