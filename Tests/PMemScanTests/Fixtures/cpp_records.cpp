// C++ block I/O: classes and structs written with ostream::write, fwrite and
// write (from a method, through `this`, through static_cast), read back with
// istream::read, fread and read; a stream-owning handle class that is never
// written; a nested class and a namespace in the names.
#include <cstdint>
#include <cstdio>
#include <istream>
#include <ostream>
#include <unistd.h>

namespace journal {

struct Entry {
	std::uint64_t sequence;
	Entry *next;
	char payload[16];
};

class Checkpoint {
public:
	std::uint64_t lsn;
	std::uint32_t entries;
	Entry *head;

	void save(std::ostream &out) const
	{
		out.write(reinterpret_cast<const char *>(this), sizeof *this);
	}

	struct Stamp {
		std::uint64_t seconds;
		const char *zone;
	};
};

} // namespace journal

struct Superblock {
	std::uint32_t magic;
	std::uint32_t version;
	std::uint64_t root;
};

// A handle: it owns the file and is never written itself.
class Store {
	std::FILE *file_;
	int fd_;

public:
	Store(std::FILE *file, int fd) : file_(file), fd_(fd) {}
	bool append(const journal::Entry &entry);
	bool load(Superblock &superblock) { return ::read(fd_, &superblock, sizeof superblock) == sizeof superblock; }
	bool next(journal::Entry &entry) { return std::fread(&entry, sizeof entry, 1, file_) == 1; }
};

bool Store::append(const journal::Entry &entry)
{
	return std::fwrite(&entry, sizeof entry, 1, file_) == 1;
}

struct Footer {
	std::uint64_t checksum;
};

bool read_footer(std::istream &in, Footer &footer)
{
	return static_cast<bool>(in.read(reinterpret_cast<char *>(&footer), sizeof footer));
}

int write_stamp(int fd, const journal::Checkpoint::Stamp &stamp)
{
	const void *bytes = static_cast<const void *>(&stamp);
	return ::write(fd, bytes, sizeof stamp) < 0 ? -1 : 0;
}
