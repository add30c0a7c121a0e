/* Decoys: handles, locks, caches, iterators and options around real I/O. Only struct row is persistent. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct row {
    uint64_t id;
    char name[32];
};

struct options {
    int create;
    int sync;
    size_t cache_size;
};

struct lru_cache {
    struct row *rows;
    size_t count;
    pthread_mutex_t lock;
};

struct table {
    int fd;
    char path[256];
    struct lru_cache cache;
    struct options opts;
    pthread_mutex_t lock;
    char page[4096];
};

struct row_iterator {
    struct table *table;
    off_t position;
    int done;
};

static struct table *table_open(const char *path, const struct options *opts)
{
    struct table *t = calloc(1, sizeof *t);
    strncpy(t->path, path, sizeof t->path - 1);
    t->opts = *opts;
    pthread_mutex_init(&t->lock, NULL);
    pthread_mutex_init(&t->cache.lock, NULL);
    return t;
}

static int iterator_next(struct row_iterator *it, struct row *out)
{
    ssize_t n = pread(it->table->fd, out, sizeof *out, it->position);
    if (n != sizeof *out) {
        it->done = 1;
        return 0;
    }
    it->position += n;
    return 1;
}

int table_flush(struct table *t)
{
    pthread_mutex_lock(&t->lock);
    int rc = (int)write(t->fd, t->page, sizeof t->page);
    pthread_mutex_unlock(&t->lock);
    return rc;
}

size_t table_count(const char *path, const struct options *opts)
{
    struct table *t = table_open(path, opts);
    struct row_iterator it = { t, 0, 0 };
    struct row r;
    size_t n = 0;
    while (iterator_next(&it, &r))
        n++;
    free(t);
    return n;
}
