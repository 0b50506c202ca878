// libFuzzer entry point of one target; DRSHYM_FUZZ_FN names the harness (see fuzz/CMakeLists.txt).
#include "harness.hpp"

// libgdal's static initialisers allocate objects LeakSanitizer cannot see a pointer to (Debian's
// libgdal is stripped: the reports have no symbol); without this every run ends in a "leak" on
// its first input. The cost: a leak whose stack passes through libgdal is not reported either.
extern "C" const char* __lsan_default_suppressions() { return "leak:libgdal.so\n"; }

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  drshym::fuzz::setup();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) { return DRSHYM_FUZZ_FN(data, size); }
