#include <cxl/libcxl.h>
