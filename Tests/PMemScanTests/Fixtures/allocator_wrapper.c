/* One allocator wrapper serves a written page buffer and an in-memory handle:
 * each call is its own allocation, so the handle is not taken for page contents. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct page_header {
    uint32_t page_number;
    uint32_t free_bytes;
};

struct pager {
    int fd;
    unsigned page_size;
    void *scratch;
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (p == NULL) {
        perror("malloc");
        exit(1);
    }
    return p;
}

struct pager *pager_open(int fd)
{
    struct pager *pg = xmalloc(sizeof *pg);
    pg->fd = fd;
    pg->page_size = 4096;
    pg->scratch = xmalloc(pg->page_size);
    return pg;
}

int pager_write(struct pager *pg, uint32_t number)
{
    char *page = xmalloc(pg->page_size);
    struct page_header *h = (struct page_header *)page;
    memset(page, 0, pg->page_size);
    h->page_number = number;
    h->free_bytes = pg->page_size - sizeof *h;
    int rc = pwrite(pg->fd, page, pg->page_size, (off_t)number * pg->page_size) < 0 ? -1 : 0;
    free(page);
    return rc;
}
