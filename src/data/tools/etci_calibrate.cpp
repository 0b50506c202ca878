// etci_calibrate: fit the ETCI 8-bit -> dB mapping against Sen1Floods11 and print how well the
// class distributions agree before and after. The numbers in docs/dataset_card.md and the
// defaults in src/data/etci_mapping.cpp come from this program.
#include <CLI/CLI.hpp>

#include <cstdlib>
#include <fstream>
#include <iostream>

#include "core/error.hpp"
#include "core/log.hpp"
#include "data/etci_calibration.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Estimate the ETCI 2021 8-bit -> dB mapping from Sen1Floods11 class distributions"};
  const char* env = std::getenv("DRSHYM_SHARED_DATA");
  const std::string shared = env && *env ? env : "../shared/data";
  std::string etci = shared + "/etci2021", s1f11 = shared + "/sen1floods11", json_out;
  drshym::data::EtciCalibrationParams p = drshym::data::EtciCalibrationParams::default_params();
  app.add_option("--etci", etci, "ETCI 2021 root (scene folders)")->capture_default_str();
  app.add_option("--s1f11", s1f11, "Sen1Floods11 root (holding v1.1/)")->capture_default_str();
  app.add_option("--scenes", p.scenes, "ETCI scenes to use (default: all)")->delimiter(',');
  app.add_option("--s1f11-split", p.s1f11_split, "Sen1Floods11 split used as reference")->capture_default_str();
  app.add_option("--json", json_out, "also write the full result as JSON here");
  app.add_option("--threads", p.threads, "tile-reading threads (0 = all cores)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    auto r = drshym::data::estimate_etci_mapping(etci, s1f11, p);
    std::cout << r.report();
    if (!json_out.empty()) {
      std::ofstream(json_out) << r.to_json().dump(2) << "\n";
      std::cout << "wrote " << json_out << "\n";
    }
    return 0;
  } catch (const drshym::Error& e) {
    drshym::core::log().error("{}", e.what());
    return e.kind() == drshym::ErrorKind::Usage ? 2 : 1;
  }
}
