/* Wrappers: void* parameters traced to callers, through two levels. */
#include <errno.h>
#include <stdint.h>
#include <unistd.h>

struct btree_node {
    uint32_t count;
    uint64_t keys[16];
    uint64_t children[17];
};

struct meta_page {
    uint64_t txn_id;
    uint64_t root_page;
};

/* Decoy: the handle passed to every wrapper, never written itself. */
struct db_handle {
    int fd;
    uint64_t next_txn;
    struct db_handle *self;
};

/* Level 1: retries short writes. */
static int write_all(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        off += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Level 2: writes a page of the database. */
static int db_write_page(struct db_handle *db, uint64_t pgno, const void *page, size_t len)
{
    return write_all(db->fd, page, len, (off_t)(pgno * 4096));
}

int db_commit(struct db_handle *db, struct btree_node *node, uint64_t pgno)
{
    struct meta_page meta = { db->next_txn++, pgno };
    if (db_write_page(db, pgno, node, sizeof *node) < 0)
        return -1;
    return db_write_page(db, 0, &meta, sizeof meta);
}
