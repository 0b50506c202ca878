// drshym: the command-line front-end. All logic lives in the cli module.
#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif

#include "cli/app.hpp"

int main(int argc, char** argv) {
#ifdef M_MMAP_THRESHOLD
  // Buffers of 1 MiB and more (network activations, tile and row blocks) are mapped and returned
  // to the system when freed. glibc's default raises this threshold each time such a buffer is
  // freed, after which they come from the heap and freed ones stay resident: 170 MB more peak RSS
  // on a 25,000 px wide scene, at no gain in speed (docs/performance.md, "Memory").
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
  return drshym::cli::run(argc, argv);
}
