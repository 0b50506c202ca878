// Header hygiene: the pipeline's public headers compile without LibTorch, so code that only
// stitches or reads results (and the future server's request layer) does not pull in torch.
// A header that includes torch again fails this file's build, not a test at run time.
#include "explain/scene_hooks.hpp"
#include "infer/batch.hpp"
#include "infer/proba_writer.hpp"
#include "infer/segment.hpp"

#ifdef C10_MACROS_MACROS_H_
#error "infer/segment.hpp, infer/batch.hpp, infer/proba_writer.hpp or explain/scene_hooks.hpp includes LibTorch"
#endif

#include <gtest/gtest.h>

TEST(Headers, PipelineHeadersDoNotPullInTorch) {
  drshym::infer::SegmentParams p;  // usable without torch
  EXPECT_EQ(p.grid.tile, 512);
}
