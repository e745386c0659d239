// Planted faults for the sanitizer-harness test (built only with
// -DSHARDD_TEST_FAULTS=ON, which scripts/test.sh sets for its sanitizer
// builds; never in a release). SHARDD_TEST_FAULT names one:
//   leak              a heap block is dropped at start (LSan reports at exit)
//   heap-use-after-free, signed-overflow, data-race
//                     happen on a thread when the process gets SIGUSR2
//                     (ASan / UBSan / TSan report): the test sends it once
//                     the server has answered, so the fault happens while
//                     it serves, however slowly it started
// The integration test `SanitizerHarness.*` starts shardd with each and
// expects the harness to turn the report into a test failure.

#include "test_faults.h"

#include <signal.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>

namespace shardd {
namespace {

void* volatile g_leaked = nullptr;
int g_racy = 0;

void use_after_free() {
  int* p = new int(7);
  int* volatile dangling = p;  // hides the fault from -Wuse-after-free
  delete p;
  volatile int v = *dangling;
  (void)v;
}

void signed_overflow() {
  volatile int big = INT_MAX;
  volatile int sum = big + 1;
  (void)sum;
}

void data_race() {
  std::thread a([] { ++g_racy; });
  std::thread b([] { ++g_racy; });
  a.join();
  b.join();
}

}  // namespace

void plant_test_fault_from_env() {
  const char* env = std::getenv("SHARDD_TEST_FAULT");
  if (env == nullptr || *env == '\0') return;
  std::string_view kind(env);
  std::fprintf(stderr, "shardd: planting test fault '%s'\n", env);
  if (kind == "leak") {
    g_leaked = std::malloc(4096);
    g_leaked = nullptr;
    return;
  }
  void (*fault)() = nullptr;
  if (kind == "heap-use-after-free") fault = use_after_free;
  if (kind == "signed-overflow") fault = signed_overflow;
  if (kind == "data-race") fault = data_race;
  if (fault == nullptr) {
    std::fprintf(stderr, "shardd: unknown SHARDD_TEST_FAULT '%s'\n", env);
    std::exit(2);
  }
  // Blocked here, before the server starts any thread, so every thread
  // inherits the mask and only the fault thread receives it (sigwait).
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread([fault, set] {
    int sig = 0;
    if (sigwait(&set, &sig) == 0) fault();
  }).detach();
}

}  // namespace shardd
