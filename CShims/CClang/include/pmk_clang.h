/*
 * pmk_clang.h -- libclang's C API for PMemScan.
 *
 * include/clang-c links to Debian's LLVM 14 headers (libclang-dev), so the
 * headers' own "clang-c/..." includes resolve through this include directory,
 * which SwiftPM hands to every client of the target.
 */
#ifndef PMK_CLANG_H
#define PMK_CLANG_H

#include <clang-c/Index.h>
#include <clang-c/CXCompilationDatabase.h>

/* pmk_clang_version -- libclang's version line; the caller frees it with free(). */
char *pmk_clang_version(void);

#endif
