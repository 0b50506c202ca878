#include "data/batcher.hpp"

#include <gtest/gtest.h>

#include <set>

#include "core/error.hpp"
#include "data/concat_dataset.hpp"
#include "data/memory_dataset.hpp"

using namespace drshym;
using namespace drshym::data;

namespace {

// n samples of size x size; sample k has VV = -30 + k dB everywhere (so the image identifies it).
std::shared_ptr<MemoryDataset> numbered(size_t n, int size = 4, const std::string& group = "g") {
  std::vector<RawSample> v;
  for (size_t k = 0; k < n; ++k) {
    RawSample s = RawSample::blank(size, size, true);
    std::fill(s.vv.begin(), s.vv.end(), -30.0f + float(k % 30));
    std::fill(s.vh.begin(), s.vh.end(), -35.0f);
    std::fill(s.valid.begin(), s.valid.end(), 1);
    s.label[0] = 1;
    s.id = group + std::to_string(k);
    s.group = group + std::to_string(k % 3);
    v.push_back(std::move(s));
  }
  return std::make_shared<MemoryDataset>(std::move(v), ingest::Preprocess{}, "numbered");
}

std::vector<std::string> all_ids(Batcher& b) {
  std::vector<std::string> ids;
  Batch batch;
  while (b.next(batch)) ids.insert(ids.end(), batch.ids.begin(), batch.ids.end());
  return ids;
}

}  // namespace

TEST(Batcher, DeterministicOrderPerSeedAndEpoch) {
  auto ds = numbered(23);
  BatcherOptions o;
  o.batch_size = 5;
  o.seed = 99;
  Batcher a(ds, o, 4), b(ds, o, 4), c(ds, o, 5);
  EXPECT_EQ(a.order(), b.order());
  EXPECT_NE(a.order(), c.order());
  EXPECT_EQ(a.num_batches(), 5u);
  std::vector<std::string> ids = all_ids(a);
  EXPECT_EQ(ids, all_ids(b));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 23u);  // each sample once
  o.seed = 100;
  EXPECT_NE(Batcher(ds, o, 4).order(), a.order());
  EXPECT_EQ(epoch_order(6, false, 1, 2), (std::vector<size_t>{0, 1, 2, 3, 4, 5}));
}

TEST(Batcher, PrefetchYieldsTheSameBatches) {
  auto ds = numbered(17);
  ds->enable_augmentation(AugmentOptions{}, 3);  // augmented content must not depend on threads
  BatcherOptions sync;
  sync.batch_size = 4;
  sync.seed = 5;
  sync.prefetch = 0;
  BatcherOptions pre = sync;
  pre.prefetch = 3;
  pre.workers = 2;
  Batcher a(ds, sync, 2), b(ds, pre, 2);
  Batch x, y;
  size_t n = 0;
  while (a.next(x)) {
    ASSERT_TRUE(b.next(y));
    EXPECT_EQ(x.ids, y.ids);
    EXPECT_EQ(x.indices, y.indices);
    EXPECT_TRUE(torch::equal(x.image, y.image));
    EXPECT_TRUE(torch::equal(x.label, y.label));
    ++n;
  }
  EXPECT_FALSE(b.next(y));
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(x.image.sizes(), (std::vector<int64_t>{1, 2, 4, 4}));  // the last, smaller batch
}

TEST(Batcher, BatchTensorsAndDropLast) {
  auto ds = numbered(10);
  BatcherOptions o;
  o.batch_size = 4;
  o.shuffle = false;
  o.drop_last = true;
  Batcher b(ds, o, 0);
  EXPECT_EQ(b.num_batches(), 2u);
  Batch batch;
  ASSERT_TRUE(b.next(batch));
  EXPECT_EQ(batch.image.sizes(), (std::vector<int64_t>{4, 2, 4, 4}));
  EXPECT_EQ(batch.label.sizes(), (std::vector<int64_t>{4, 1, 4, 4}));
  EXPECT_EQ(batch.valid.sizes(), (std::vector<int64_t>{4, 1, 4, 4}));
  EXPECT_EQ(batch.ids, (std::vector<std::string>{"g0", "g1", "g2", "g3"}));
  EXPECT_EQ(batch.groups[1], "g1");
  EXPECT_NEAR(batch.image[3][0][0][0].item<float>(), 3.0f / 30.0f, 1e-6);
}

TEST(Batcher, MixedShapesFailWithNames) {
  auto both = std::make_shared<ConcatDataset>(std::vector<DatasetPtr>{numbered(1, 4, "a"), numbered(1, 6, "b")});
  BatcherOptions o;
  o.batch_size = 2;
  o.prefetch = 1;
  Batcher b(both, o, 0);
  Batch batch;
  try {
    b.next(batch);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::InvalidInput);
    EXPECT_NE(std::string(e.what()).find("'a0'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Batcher(both, BatcherOptions{0}, 0), Error);
}

TEST(ConcatDataset, IndexesAcrossPartsAndSubsets) {
  auto a = numbered(3, 4, "a"), b = numbered(2, 4, "b");
  auto both = std::make_shared<ConcatDataset>(std::vector<DatasetPtr>{a, b});
  EXPECT_EQ(both->size(), 5u);
  EXPECT_EQ(both->id_of(3), "b0");
  EXPECT_EQ(both->get(4).id, "b1");
  EXPECT_EQ(both->locate(2), (std::pair<size_t, size_t>{0, 2}));
  EXPECT_THROW(both->get(5), Error);
  auto idx = indices_of_groups(*both, {"a0", "b1"});
  EXPECT_EQ(idx, (std::vector<size_t>{0, 4}));
  SubsetDataset sub(both, idx, "fold0");
  EXPECT_EQ(sub.size(), 2u);
  EXPECT_EQ(sub.get(1).id, "b1");
  EXPECT_EQ(indices_of_groups(*both, {"a0", "b1"}, true).size(), 3u);
  EXPECT_THROW(SubsetDataset(both, {7}), Error);
  EXPECT_THROW(ConcatDataset(std::vector<DatasetPtr>{}), Error);
}
