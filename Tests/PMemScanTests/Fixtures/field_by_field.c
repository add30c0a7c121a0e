/* Field-by-field serialization into a byte buffer, and back. */
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

struct account {
    uint32_t id;
    uint32_t balance;
    uint16_t flags;
};

struct peer {
    uint32_t address;
    uint16_t port;
    uint16_t weight;
};

/* Decoy: only its length field steers the write, its bytes are never stored. */
struct stats {
    uint32_t writes;
    uint32_t bytes;
};

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

int save_account(int fd, const struct account *a, struct stats *s)
{
    unsigned char buf[10];
    put32(buf, a->id);
    put32(buf + 4, a->balance);
    *(uint16_t *)(buf + 8) = htons(a->flags);
    s->writes++;
    s->bytes += sizeof buf;
    return write(fd, buf, sizeof buf) == sizeof buf ? 0 : -1;
}

/* Read twin: bytes from the file land in struct peer field by field. */
int load_peer(int fd, struct peer *p)
{
    unsigned char raw[8];
    if (read(fd, raw, sizeof raw) != sizeof raw)
        return -1;
    p->address = ntohl(*(uint32_t *)raw);
    p->port = ntohs(*(uint16_t *)(raw + 4));
    p->weight = raw[6];
    return 0;
}
