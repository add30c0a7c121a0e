// All block I/O in a template: the analysis does not instantiate templates,
// so it must say so instead of reporting an empty, clean result.
#include <cstdint>
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

void save_sample(std::ostream &out, const Sample &sample)
{
	save(out, sample);
}
