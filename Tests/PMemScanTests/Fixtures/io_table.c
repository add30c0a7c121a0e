/* Function-pointer I/O tables: the target set of ops->write is resolved from the tables. */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

struct io_ops {
    int (*write)(void *ctx, const void *buf, size_t len);
    int (*read)(void *ctx, void *buf, size_t len);
};

static int file_write(void *ctx, const void *buf, size_t len)
{
    return fwrite(buf, 1, len, (FILE *)ctx) == len ? 0 : -1;
}

static int file_read(void *ctx, void *buf, size_t len)
{
    return fread(buf, 1, len, (FILE *)ctx) == len ? 0 : -1;
}

static int null_write(void *ctx, const void *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    return (int)len;
}

static const struct io_ops file_ops = { .write = file_write, .read = file_read };
static const struct io_ops null_ops = { null_write, file_read };

struct checkpoint {
    uint64_t lsn;
    uint64_t dirty_pages;
};

struct wal_record {
    uint64_t lsn;
    uint32_t type;
    uint32_t length;
};

/* Decoy: the stream object the table operates on. */
struct stream {
    const struct io_ops *ops;
    void *ctx;
    int failed;
};

int log_checkpoint(struct stream *s, const struct checkpoint *c)
{
    return s->ops->write(s->ctx, c, sizeof *c);
}

int next_record(struct stream *s, struct wal_record *r)
{
    return s->ops->read(s->ctx, r, sizeof *r);
}

/* An array of writers, chosen by index. */
typedef ssize_t (*raw_writer)(int, const void *, size_t);
static raw_writer writers[] = { write };

struct tombstone {
    uint64_t key;
    uint64_t deleted_at;
};

int bury(int fd, const struct tombstone *t, int how, int use_file)
{
    struct stream s = { use_file ? &file_ops : &null_ops, NULL, 0 };
    (void)s;
    return (int)writers[how](fd, t, sizeof *t);
}
