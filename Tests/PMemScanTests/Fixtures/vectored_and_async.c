/* pwritev/preadv with compound-literal iovecs, and POSIX aio through struct aiocb. */
#include <aio.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

struct segment_header {
    uint64_t segment_id;
    uint32_t entry_count;
};

struct segment_trailer {
    uint32_t crc;
};

struct async_record {
    uint64_t key;
    uint64_t value;
};

/* Decoy: the request bookkeeping around the aiocb. */
struct request_queue {
    struct aiocb *pending[8];
    int depth;
};

int write_segment(int fd, struct segment_header *h, struct segment_trailer *t, off_t at)
{
    struct iovec parts[] = {
        (struct iovec){ .iov_base = h, .iov_len = sizeof *h },
        (struct iovec){ .iov_base = t, .iov_len = sizeof *t },
    };
    return pwritev(fd, parts, 2, at) < 0 ? -1 : 0;
}

int submit(struct request_queue *q, struct aiocb *cb, int fd, struct async_record *r)
{
    memset(cb, 0, sizeof *cb);
    cb->aio_fildes = fd;
    cb->aio_buf = r;
    cb->aio_nbytes = sizeof *r;
    q->pending[q->depth++] = cb;
    return aio_write(cb);
}
