// Block I/O in templates. `save` is instantiated (with Sample), and the
// instantiation is walked like any function; `load` never is, so its I/O is
// not followed and the report names it.
#include <cstdint>
#include <istream>
#include <ostream>

struct Sample {
	std::uint64_t time;
	double value;
};

template <typename Record>
void save(std::ostream &out, const Record &record)
{
	out.write(reinterpret_cast<const char *>(&record), sizeof record);
}

template <typename Record>
bool load(std::istream &in, Record &record)
{
	return static_cast<bool>(in.read(reinterpret_cast<char *>(&record), sizeof record));
}

void save_sample(std::ostream &out, const Sample &sample)
{
	save(out, sample);
}
