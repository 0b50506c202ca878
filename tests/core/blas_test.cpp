#include "core/blas.hpp"

#include <gtest/gtest.h>

#include <string>

namespace drshym::core {
namespace {

TEST(Blas, OnlyThePrescottFallbackIsReplaced) {
  EXPECT_EQ(better_blas_core("Prescott", true, true), "SkylakeX");
  EXPECT_EQ(better_blas_core("PRESCOTT", false, true), "Haswell");
  EXPECT_EQ(better_blas_core("Prescott", false, false), "");  // nothing better to run
  EXPECT_EQ(better_blas_core("Haswell", true, true), "");     // a real detection is kept
  EXPECT_EQ(better_blas_core("SkylakeX", true, true), "");
  EXPECT_EQ(better_blas_core("Zen", true, true), "");
}

}  // namespace
}  // namespace drshym::core
