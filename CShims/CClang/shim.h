/* libclang's C API (Debian libclang-dev: headers in LLVM 14's include dir). */
#include <clang-c/Index.h>
#include <clang-c/CXCompilationDatabase.h>
