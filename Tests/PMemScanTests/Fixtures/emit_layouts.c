/* Layouts `--emit-c` must name: records nested by value, arrays of records
 * and of pointers, an anonymous union member, a function pointer (not
 * relocated), an untagged record known only by its typedef, and a record
 * declared inside a function, which no header can name. GROW_INODE changes
 * struct inode's layout (the drift the emitted checks must catch). */
#include <stdint.h>
#include <unistd.h>

struct extent {
	uint64_t start;
	void *owner;
};

struct inode {
	uint32_t mode;
#ifdef GROW_INODE
	uint32_t flags;
	uint64_t generation;
#endif
	struct extent first;
	struct extent extents[2];
	struct inode *slots[3];
	union {
		void *cookie;
		uint64_t tag;
	};
	void (*on_change)(struct inode *);
};

typedef struct {
	uint32_t magic;
	char *label;
} volume_header;

int save_volume(int fd, const volume_header *vh, const struct inode *ino)
{
	struct journal_mark {
		uint64_t sequence;
		void *where;
	} mark = { 1, 0 };

	if (write(fd, vh, sizeof *vh) < 0 || pwrite(fd, &mark, sizeof mark, 0) < 0)
		return -1;
	return write(fd, ino, sizeof *ino) < 0 ? -1 : 0;
}
