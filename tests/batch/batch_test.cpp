// drshym batch: manifests, the sequential run (failures recorded, STAC catalog, VRT mosaics per
// CRS, summary), --resume, and the same batch under mpirun (skipped where mpirun is absent):
// outputs bit-identical to the sequential run, and a rank that dies ends the job instead of
// hanging it.
#include <gtest/gtest.h>
#include <gdal_priv.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "batch/batch.hpp"
#include "batch/catalog.hpp"
#include "batch/manifest.hpp"
#include "core/config.hpp"
#include "core/error.hpp"
#include "ingest/synthetic_scene.hpp"
#include "io/raster.hpp"
#include "support/test_support.hpp"

namespace fs = std::filesystem;
using drshym::Error;
using drshym::ErrorKind;
using drshym::testing::TempDir;
using nlohmann::json;
namespace batch = drshym::batch;

namespace {

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error thrown";
  return ErrorKind::Internal;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Small demo scenes (two in UTM 44N, one in UTM 31N) and a corrupt file, listed in m.txt.
struct Scenes {
  TempDir tmp;
  std::string manifest;
  Scenes() {
    auto scene = [&](const std::string& name, int w, int h, uint64_t seed, int epsg) {
      drshym::ingest::SyntheticSceneParams p;
      p.width = w;
      p.height = h;
      p.seed = seed;
      p.epsg = epsg;
      drshym::ingest::write_synthetic_scene(p, tmp.file(name));
    };
    scene("a_20190302T234651.tif", 128, 128, 1, 32644);
    scene("b.tif", 256, 128, 2, 32644);
    scene("c.tif", 128, 128, 3, 32631);
    write_text(tmp.file("corrupt.tif"), std::string("II*\0\x08\0\0\0 a TIFF header and then nothing valid", 45));
    manifest = tmp.file("m.txt");
    write_text(manifest, "# three scenes and a broken file\na_20190302T234651.tif\n\nb.tif\ncorrupt.tif\nc.tif\n");
  }
  batch::BatchOptions options(const std::string& out) const {
    batch::BatchOptions o;
    o.manifest = manifest;
    o.out_dir = out;
    o.job.segment.grid.tile = 128;
    o.job.segment.grid.overlap = 16;
    o.threads = 1;
    return o;
  }
};

const char* kOutputs[] = {"_mask.tif", "_proba.tif", "_flood.geojson", "_overlay.png"};

}  // namespace

// ---- manifests ----

TEST(Manifest, TextCsvAndYamlResolveRelativePathsAndIds) {
  TempDir tmp;
  write_text(tmp.file("m.txt"), "# comment\n  s1.tif  \n\n/abs/s2.tif\nhttps://host/x/S1_3.tif\n");
  auto t = batch::read_manifest(tmp.file("m.txt"));
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].uri, tmp.file("s1.tif"));
  EXPECT_EQ(t[0].id, "s1");
  EXPECT_EQ(t[0].line, 2);
  EXPECT_EQ(t[1].uri, "/abs/s2.tif");
  EXPECT_EQ(t[2].uri, "https://host/x/S1_3.tif");
  EXPECT_EQ(t[2].id, "S1_3");

  write_text(tmp.file("m.csv"), "id,path,aoi\nfirst,\"dir/a, b.tif\",aoi.geojson\n,c.tif,\n");
  auto c = batch::read_manifest(tmp.file("m.csv"));
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].id, "first");
  EXPECT_EQ(c[0].uri, tmp.file("dir/a, b.tif"));
  EXPECT_EQ(c[0].aoi, tmp.file("aoi.geojson"));
  EXPECT_EQ(c[1].id, "c");
  EXPECT_EQ(c[1].aoi, "");

  write_text(tmp.file("m.yaml"), "scenes:\n  - s1.tif\n  - {path: s2.tif, id: two, aoi: /x/aoi.geojson}\n");
  auto y = batch::read_manifest(tmp.file("m.yaml"));
  ASSERT_EQ(y.size(), 2u);
  EXPECT_EQ(y[1].id, "two");
  EXPECT_EQ(y[1].uri, tmp.file("s2.tif"));
  EXPECT_EQ(y[1].aoi, "/x/aoi.geojson");

  // A pre-event scene per scene (segment --before), resolved like the scene itself.
  write_text(tmp.file("b.csv"), "path,before\nafter.tif,pre/before.tif\n");
  auto b = batch::read_manifest(tmp.file("b.csv"));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].before, tmp.file("pre/before.tif"));
  write_text(tmp.file("b.yaml"), "- {path: after.tif, before: /x/before.tif}\n");
  EXPECT_EQ(batch::read_manifest(tmp.file("b.yaml"))[0].before, "/x/before.tif");
  // A DEM per scene (segment --dem), resolved the same way.
  write_text(tmp.file("d.csv"), "path,dem\nafter.tif,dem/srtm.tif\nother.tif,\n");
  auto d = batch::read_manifest(tmp.file("d.csv"));
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].dem, tmp.file("dem/srtm.tif"));
  EXPECT_EQ(d[1].dem, "");
  write_text(tmp.file("d.yaml"), "- {path: after.tif, dem: /x/dem.tif}\n");
  EXPECT_EQ(batch::read_manifest(tmp.file("d.yaml"))[0].dem, "/x/dem.tif");
}

TEST(Manifest, ProblemsAreUsageErrorsNamingTheLine) {
  TempDir tmp;
  auto bad = [&](const std::string& name, const std::string& text, const std::string& expect) {
    write_text(tmp.file(name), text);
    const std::string msg = error_of([&] { batch::read_manifest(tmp.file(name)); });
    EXPECT_NE(msg.find(expect), std::string::npos) << name << ": " << msg;
    EXPECT_EQ(kind_of([&] { batch::read_manifest(tmp.file(name)); }), ErrorKind::Usage) << name;
  };
  bad("dup.txt", "a/s1.tif\nb/s1.tif\n", "line 2: scene id 's1' is also used on line 1");
  bad("empty.txt", "# nothing\n\n", "lists no scene");
  bad("cols.csv", "path,when\nx.tif,now\n", "unknown column 'when'");
  bad("nopath.csv", "id\nx\n", "no 'path'");
  bad("fields.csv", "path,id\nx.tif\n", "line 2: 1 fields");
  bad("id.csv", "path,id\nx.tif,../up\n", "not a usable folder name");
  bad("key.yaml", "- {path: x.tif, colour: red}\n", "unknown key 'colour'");
  bad("shape.yaml", "scenes: 3\n", "must be a list");
  bad("record.csv", "path,id\nx.tif,x_record\n", "overwrite the scene's record");
  // Ids that name the batch's own outputs ran every scene, then failed on catalog.json.
  bad("catalog.csv", "path,id\nx.tif,catalog.json\n", "line 2: scene id 'catalog.json' is the name of one of the batch's own outputs");
  bad("summary.csv", "path,id\nx.tif,batch_summary.json\n", "line 2: scene id 'batch_summary.json'");
  bad("mosaic.yaml", "- {path: x.tif, id: mosaic_mask_EPSG-32631.vrt}\n", "one of the batch's own outputs");
  // YAML aliases nested 8 deep x 10 expanded to 10^8 nodes (1 GB, killed after 98 s).
  std::string bomb = "a0: &a0 [x.tif, x.tif, x.tif, x.tif, x.tif, x.tif, x.tif, x.tif, x.tif, x.tif]\n";
  for (int i = 1; i <= 8; ++i) {
    std::string row = "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) row += (k ? ", *a" : "*a") + std::to_string(i - 1);
    bomb += row + "]\n";
  }
  bomb += "scenes: *a8\n";
  const auto t0 = std::chrono::steady_clock::now();
  bad("bomb.yaml", bomb, "line 2: YAML aliases (*name) are not accepted");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0)
      << "the alias bomb was expanded before it was refused";
  EXPECT_EQ(kind_of([&] { batch::read_manifest(tmp.file("missing.txt")); }), ErrorKind::NotFound);
}

TEST(Manifest, SceneIds) {
  EXPECT_TRUE(batch::valid_scene_id("S1A_IW_20190302T234651.v2-final"));
  EXPECT_FALSE(batch::valid_scene_id(""));
  EXPECT_FALSE(batch::valid_scene_id(".hidden"));
  EXPECT_FALSE(batch::valid_scene_id("a/b"));
  EXPECT_FALSE(batch::valid_scene_id(std::string(101, 'x')));
}

TEST(Stac, SceneDatetimeFromMetadataThenFileName) {
  TempDir tmp;
  drshym::ingest::SyntheticSceneParams p;
  p.width = p.height = 32;
  drshym::ingest::write_synthetic_scene(p, tmp.file("plain.tif"));
  drshym::ingest::write_synthetic_scene(p, tmp.file("S1A_IW_GRDH_1SDV_20210119T031653_x.tif"));
  {
    GDALDatasetUniquePtr ds(GDALDataset::Open(tmp.file("plain.tif").c_str(), GDAL_OF_UPDATE));
    ds->SetMetadataItem("ACQUISITION_START_TIME", "2017-03-14T11:56:09.123Z");
  }
  std::string src;
  EXPECT_EQ(batch::scene_datetime(tmp.file("plain.tif"), &src), "2017-03-14T11:56:09.123Z");
  EXPECT_EQ(src, "metadata ACQUISITION_START_TIME");
  EXPECT_EQ(batch::scene_datetime(tmp.file("S1A_IW_GRDH_1SDV_20210119T031653_x.tif"), &src), "2021-01-19T03:16:53Z");
  EXPECT_EQ(src, "file name");
  drshym::ingest::write_synthetic_scene(p, tmp.file("undated.tif"));
  EXPECT_EQ(batch::scene_datetime(tmp.file("undated.tif"), &src), "");
}

TEST(Batch, SceneStatusesRoundTripThroughTheirSummaryWords) {
  for (auto st : {batch::SceneStatus::not_run, batch::SceneStatus::done, batch::SceneStatus::resumed,
                  batch::SceneStatus::failed, batch::SceneStatus::interrupted})
    EXPECT_EQ(batch::parse_scene_status(batch::to_string(st)), st) << batch::to_string(st);
  EXPECT_STREQ(batch::to_string(batch::SceneStatus::resumed), "resumed");
  drshym::testing::expect_error([] { batch::parse_scene_status("finished"); }, ErrorKind::Internal, {"'finished'"});
}

// ---- a whole batch, in this process (no MPI launcher: a world of one) ----

TEST(Batch, RecordsFailuresWritesCatalogMosaicsPerCrsAndSummary) {
  Scenes s;
  const std::string out = s.tmp.file("out");
  const auto r = batch::run_batch(s.options(out));
  ASSERT_EQ(r.outcomes.size(), 4u);
  EXPECT_EQ(r.failed, 1);
  EXPECT_FALSE(r.interrupted);
  EXPECT_EQ(r.outcomes[2].status, batch::SceneStatus::failed);
  EXPECT_NE(r.outcomes[2].error_message.find("corrupt.tif"), std::string::npos) << r.outcomes[2].error_message;
  for (const char* id : {"a_20190302T234651", "b", "c"})
    for (const char* suffix : kOutputs) EXPECT_TRUE(fs::exists(out + "/" + id + "/" + id + suffix)) << id << suffix;
  EXPECT_FALSE(fs::exists(out + "/corrupt"));  // a failed scene leaves nothing behind

  // The summary: statuses, the error, flooded km² with its band, totals.
  const json sum = drshym::core::read_json_file(out + "/batch_summary.json");
  EXPECT_EQ(sum, r.summary);
  EXPECT_EQ(sum["counts"]["done"], 3);
  EXPECT_EQ(sum["counts"]["failed"], 1);
  EXPECT_EQ(sum["failed"], json::array({"corrupt"}));
  double total = 0;
  for (const auto& e : sum["scenes"]) {
    if (e["status"] != "done") {
      EXPECT_EQ(e["error"]["code"], "invalid_input") << e.dump();
      continue;
    }
    ASSERT_TRUE(e["flood_km2"].is_number()) << e.dump();
    EXPECT_GT(e["flood_km2"].get<double>(), 0.0);
    EXPECT_LE(e["flood_km2_band"]["likely"].get<double>(), e["flood_km2"].get<double>());
    EXPECT_GE(e["flood_km2_band"]["possible"].get<double>(), e["flood_km2"].get<double>());
    EXPECT_GT(e["timings_s"]["total"].get<double>(), 0.0);
    total += e["flood_km2"].get<double>();
  }
  EXPECT_NEAR(sum["flood_km2_total"]["flood"].get<double>(), total, 1e-3);

  // STAC: the catalog and every item are valid and every asset exists.
  EXPECT_EQ(batch::check_stac(out + "/catalog.json"), std::vector<std::string>{});
  const json cat = drshym::core::read_json_file(out + "/catalog.json");
  EXPECT_EQ(cat["links"].size(), 4u);  // root + 3 items
  const json a = drshym::core::read_json_file(out + "/a_20190302T234651/a_20190302T234651.json");
  EXPECT_EQ(a["properties"]["datetime"], "2019-03-02T23:46:51Z");
  EXPECT_EQ(a["properties"]["proj:epsg"], 32644);
  EXPECT_EQ(a["properties"]["proj:shape"], json::array({128, 128}));
  EXPECT_EQ(a["properties"]["proj:transform"], json::array({10.0, 0.0, 500000.0, 0.0, -10.0, 2900000.0}));
  for (const char* k : {"mask", "proba", "flood_polygons", "overlay", "record"}) EXPECT_TRUE(a["assets"].contains(k)) << k;
  // The footprint is the grid's outline in lon/lat: UTM 44N at (500 km E, 2900 km N) is 81°E, 26.2°N.
  const auto& bb = a["bbox"];
  EXPECT_NEAR(bb[0].get<double>(), 81.0, 1e-6);
  EXPECT_NEAR(bb[3].get<double>(), 26.2196, 1e-3);
  EXPECT_NEAR(bb[2].get<double>() - bb[0].get<double>(), 1280.0 / 100000.0, 2e-3);
  const json c = drshym::core::read_json_file(out + "/c/c.json");
  EXPECT_EQ(c["properties"]["proj:epsg"], 32631);
  EXPECT_NE(c["properties"]["drshym:datetime_source"].get<std::string>().find("processing time"), std::string::npos);

  // One VRT pair per CRS, opening in GDAL with the scenes of that CRS, paths relative to DIR.
  ASSERT_EQ(sum["mosaics"].size(), 2u);
  for (const auto& m : sum["mosaics"]) {
    const auto vrt = drshym::io::Raster::open(out + "/" + m["mask"].get<std::string>());
    const bool utm44 = m["crs"] == "EPSG:32644";
    EXPECT_EQ(vrt.info().crs_code, m["crs"]);
    EXPECT_EQ(vrt.width(), utm44 ? 256 : 128);  // a (128 wide) and b (256 wide) share an origin
    EXPECT_EQ(m["scenes"].size(), utm44 ? 2u : 1u);
    EXPECT_EQ(read_bytes(out + "/" + m["mask"].get<std::string>()).find(out), std::string::npos);
    EXPECT_NO_THROW(drshym::io::Raster::open(out + "/" + m["proba"].get<std::string>()));
  }
  // The mosaic's pixels are the scenes' pixels: b (later in the manifest) on top of a wherever b
  // has data; its no-data pixels (255) let a show through.
  const auto b = drshym::io::Raster::open(out + "/b/b_mask.tif");
  const auto mos = drshym::io::Raster::open(out + "/mosaic_mask_EPSG-32644.vrt");
  std::vector<float> vb(256 * 128), vm(256 * 128);
  b.read_band(1, {0, 0, 256, 128}, vb.data());
  mos.read_band(1, {0, 0, 256, 128}, vm.data());
  int compared = 0;
  for (size_t i = 0; i < vb.size(); ++i)
    if (vb[i] != 255.0f) {
      ASSERT_EQ(vm[i], vb[i]) << "pixel " << i;
      ++compared;
    }
  EXPECT_GT(compared, 256 * 100);
}

TEST(Batch, ResumeRecomputesOnlyIncompleteOrChangedScenes) {
  Scenes s;
  const std::string out = s.tmp.file("out");
  auto opt = s.options(out);
  batch::run_batch(opt);
  const auto stamp = [&](const std::string& id) { return fs::last_write_time(out + "/" + id + "/" + id + "_proba.tif"); };
  const auto a_time = stamp("a_20190302T234651"), c_time = stamp("c");
  fs::remove(out + "/b/b_mask.tif");
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  opt.resume = true;
  auto r = batch::run_batch(opt);
  EXPECT_EQ(r.outcomes[0].status, batch::SceneStatus::resumed);
  EXPECT_EQ(r.outcomes[1].status, batch::SceneStatus::done);
  EXPECT_EQ(r.outcomes[2].status, batch::SceneStatus::failed);
  EXPECT_EQ(r.outcomes[3].status, batch::SceneStatus::resumed);
  EXPECT_TRUE(fs::exists(out + "/b/b_mask.tif"));
  EXPECT_EQ(stamp("a_20190302T234651"), a_time);
  EXPECT_EQ(stamp("c"), c_time);
  EXPECT_EQ(r.summary["counts"]["resumed"], 2);
  EXPECT_EQ(batch::check_stac(out + "/catalog.json"), std::vector<std::string>{});
  // Another threshold is another result: everything is recomputed.
  opt.job.segment.threshold = 0.6;
  r = batch::run_batch(opt);
  for (size_t i : {0, 1, 3}) EXPECT_EQ(r.outcomes[i].status, batch::SceneStatus::done) << i;
}

TEST(Batch, AScenePastItsTimeoutFailsAndTheOthersGoOn) {
  Scenes s;
  const std::string out = s.tmp.file("out");
  write_text(s.tmp.file("two.txt"), "a_20190302T234651.tif\nc.tif\n");
  auto opt = s.options(out);
  opt.manifest = s.tmp.file("two.txt");
  opt.scene_timeout_s = 1e-6;  // past before the first tile
  const auto r = batch::run_batch(opt);
  ASSERT_EQ(r.outcomes.size(), 2u);
  EXPECT_EQ(r.failed, 2);
  for (const auto& o : r.outcomes) {
    EXPECT_EQ(o.status, batch::SceneStatus::failed);
    EXPECT_EQ(o.error_code, "timeout") << o.error_message;
  }
  EXPECT_EQ(drshym::testing::files_in(out + "/c"), std::vector<std::string>{});  // nothing half-written
  EXPECT_EQ(r.summary["counts"]["failed"], 2);
  EXPECT_TRUE(r.summary["mosaics"].empty());
}

TEST(Batch, UsageErrorsComeBeforeAnyWork) {
  Scenes s;
  auto opt = s.options(s.tmp.file("out"));
  opt.manifest = s.tmp.file("none.txt");
  EXPECT_EQ(kind_of([&] { batch::run_batch(opt); }), ErrorKind::NotFound);
  write_text(s.tmp.file("dup.txt"), "b.tif\nb.tif\n");
  opt.manifest = s.tmp.file("dup.txt");
  EXPECT_EQ(kind_of([&] { batch::run_batch(opt); }), ErrorKind::Usage);
  // Options every scene shares are checked once, before any scene runs.
  opt.manifest = s.manifest;
  auto usage = [&](const std::function<void(batch::BatchOptions&)>& change, const std::string& expect) {
    auto o = opt;
    change(o);
    const std::string msg = error_of([&] { batch::run_batch(o); });
    EXPECT_NE(msg.find(expect), std::string::npos) << msg;
    EXPECT_EQ(kind_of([&] { batch::run_batch(o); }), ErrorKind::Usage) << expect;
  };
  usage([](batch::BatchOptions& o) { o.job.segment.grid.overlap = 64; }, "overlap");
  usage([](batch::BatchOptions& o) { o.job.segment.threshold = 0.0; }, "--threshold must be in (0, 1)");
  usage([](batch::BatchOptions& o) { o.job.segment.geojson_crs = "EPSG:99999999"; }, "EPSG:99999999");
  usage([&](batch::BatchOptions& o) { o.checkpoint = s.tmp.file("no_model"); }, "--ckpt");
  usage([](batch::BatchOptions& o) { o.job.segment.exclusion.hand_max_m = -1; }, "HAND threshold must be > 0 m");
  EXPECT_FALSE(fs::exists(s.tmp.file("out")));
}

// ---- the same batch under mpirun ----

namespace {

const std::string kBin = std::string(DRSHYM_BINARY_DIR) + "/bin/drshym";

bool have_mpirun() { return std::system("command -v mpirun > /dev/null 2>&1") == 0; }

// Runs a shell command; its exit code (or 128 + signal).
int sh(const std::string& cmd) {
  const int st = std::system(cmd.c_str());
  if (st == -1) return -1;
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  return 128 + WTERMSIG(st);
}

std::string mpirun(int np) {
  // Shared-memory copies between processes (CMA) are blocked in many containers: use plain copies.
  return "timeout 300 mpirun --allow-run-as-root --oversubscribe -x OMPI_MCA_btl_vader_single_copy_mechanism=none -np " +
         std::to_string(np) + " ";
}

}  // namespace

TEST(BatchMpi, ThreeRanksMatchTheSequentialRunAndResume) {
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not found";
  Scenes s;
  const std::string seq = s.tmp.file("seq"), par = s.tmp.file("par"), log = s.tmp.file("log");
  const std::string args = " batch " + s.manifest + " --tile 128 --overlap 16 ";
  EXPECT_EQ(sh(kBin + args + "--out " + seq + " > " + log + " 2>&1"), 1) << read_bytes(log);
  EXPECT_EQ(sh(mpirun(3) + kBin + args + "--out " + par + " > " + log + " 2>&1"), 1) << read_bytes(log);
  const json sum = drshym::core::read_json_file(par + "/batch_summary.json");
  EXPECT_EQ(sum["ranks"], 3);
  EXPECT_EQ(sum["failed"], json::array({"corrupt"}));
  std::set<int> ranks;
  for (const auto& e : sum["scenes"]) ranks.insert(e["rank"].get<int>());
  EXPECT_GE(ranks.size(), 2u) << "the scenes should spread over the ranks";
  for (const char* id : {"a_20190302T234651", "b", "c"})
    for (const char* suffix : kOutputs) {
      const std::string f = std::string("/") + id + "/" + id + suffix;
      ASSERT_TRUE(fs::exists(par + f)) << f;
      EXPECT_EQ(read_bytes(seq + f), read_bytes(par + f)) << f << " differs between the sequential and MPI runs";
    }
  EXPECT_EQ(batch::check_stac(par + "/catalog.json"), std::vector<std::string>{});
  EXPECT_NO_THROW(drshym::io::Raster::open(par + "/mosaic_mask_EPSG-32644.vrt"));

  // --resume after deleting one scene's outputs recomputes only that scene.
  fs::remove_all(par + "/b");
  EXPECT_EQ(sh(mpirun(3) + kBin + args + "--out " + par + " --resume > " + log + " 2>&1"), 1) << read_bytes(log);
  const json again = drshym::core::read_json_file(par + "/batch_summary.json");
  for (const auto& e : again["scenes"]) {
    const std::string want = e["id"] == "b" ? "done" : e["id"] == "corrupt" ? "failed" : "resumed";
    EXPECT_EQ(e["status"], want) << e["id"];
  }
  EXPECT_EQ(read_bytes(seq + "/b/b_mask.tif"), read_bytes(par + "/b/b_mask.tif"));
}

TEST(BatchMpi, ARankThatDiesEndsTheJobAndResumeFinishesIt) {
  if (!have_mpirun()) GTEST_SKIP() << "mpirun not found";
  Scenes s;
  const std::string out = s.tmp.file("out"), log = s.tmp.file("log");
  const std::string args = " batch " + s.manifest + " --tile 128 --overlap 16 --out " + out;
  const auto t0 = std::chrono::steady_clock::now();
  const int rc = sh("DRSHYM_BATCH_FAULT=abort:c " + mpirun(3) + kBin + args + " > " + log + " 2>&1");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(rc, 0) << read_bytes(log);
  EXPECT_NE(rc, 124) << "mpirun hung until the timeout: " << read_bytes(log);
  EXPECT_LT(secs, 250.0);
  EXPECT_FALSE(fs::exists(out + "/batch_summary.json"));  // no summary for a batch that did not finish
  EXPECT_EQ(sh(mpirun(2) + kBin + args + " --resume > " + log + " 2>&1"), 1) << read_bytes(log);
  const json sum = drshym::core::read_json_file(out + "/batch_summary.json");
  EXPECT_EQ(sum["counts"]["done"].get<int>() + sum["counts"]["resumed"].get<int>(), 3);
  EXPECT_EQ(batch::check_stac(out + "/catalog.json"), std::vector<std::string>{});
}
