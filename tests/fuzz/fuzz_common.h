#pragma once

// Shared by the libFuzzer targets: an invariant check that survives NDEBUG.

#include <cstdio>
#include <cstdlib>

#define SHARDD_FUZZ_CHECK(cond)                                                               \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (false)
