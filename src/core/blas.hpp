#pragma once
// The BLAS kernels LibTorch gets. Debian 12's OpenBLAS (0.3.21, built for every x86 core)
// picks its kernels from the CPU's family and model number. CPUs newer than it (Ice Lake and
// Sapphire Rapids servers) and VMs that hide the model number fall back to "Prescott": SSE3
// kernels, several times slower than the AVX-512 ones on the same CPU. LibTorch sends every
// single-threaded, batch-1 1x1 convolution through sgemm, so the fallback cost 15-18% of a
// `segment` run (docs/performance.md, "Exact inference forms and OpenBLAS's kernels").
#include <string>

namespace drshym::core {

// Once per process, before any BLAS work (the CLI's first line, and model::set_threads, which every
// inference and training run calls first): when the BLAS is a dynamic OpenBLAS that fell back to Prescott
// and the CPU has the instructions of a better kernel set (AVX-512 F/BW/DQ/VL/CD → SkylakeX,
// else AVX2 + FMA → Haswell), re-runs OpenBLAS's kernel selection for that set.
// OPENBLAS_CORETYPE, when set, is left to OpenBLAS. Any other BLAS: nothing. Thread-safe;
// later calls return the first call's answer: the kernels in use and why
// (e.g. "OpenBLAS SkylakeX (Prescott was detected, a fallback; this CPU has AVX-512)").
const std::string& select_blas_kernels();

// The choice for a CPU, given the kernels OpenBLAS picked and the CPU's features: "" to
// keep them. Pure; for tests.
std::string better_blas_core(const std::string& detected, bool avx512, bool avx2_fma);

}  // namespace drshym::core
