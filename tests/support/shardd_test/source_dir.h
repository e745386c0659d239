#pragma once

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace shardd::test {

// The source tree, for tests that read the repository's docs and configs.
// ctest sets SHARDD_SOURCE_DIR; it is never compiled in, so objects do not
// depend on the folder of the clone (ccache hits across clones).
// Throws std::runtime_error when unset.
inline std::string source_dir() {
  const char* env = std::getenv("SHARDD_SOURCE_DIR");
  if (env == nullptr || *env == '\0') {
    throw std::runtime_error("SHARDD_SOURCE_DIR is not set (run the tests through ctest)");
  }
  return env;
}

}  // namespace shardd::test
