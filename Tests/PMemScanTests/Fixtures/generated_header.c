/* Needs a configure-generated header; without it the parse reports the missing
 * file and the analysis goes on with what parsed. */
#include "config.h"
#include <stdint.h>
#include <unistd.h>

typedef struct {
    uint32_t version;
    uint32_t page_size;
} settings_t;

#ifdef HAVE_PWRITE
struct stamp {
    uint64_t written_at;
};

int stamp(int fd, struct stamp *s)
{
    return pwrite(fd, s, sizeof *s, 0) < 0 ? -1 : 0;
}
#endif

int store_settings(int fd, const settings_t *s)
{
    return write(fd, s, sizeof *s) < 0 ? -1 : 0;
}
