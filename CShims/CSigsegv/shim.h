#include <sigsegv.h>
