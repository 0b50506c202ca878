#pragma once
// The fuzz harnesses: one function per target, taking the fuzzer's bytes. Expected refusals
// (drshym::Error) are swallowed; anything else is a bug and is let escape (an uncaught
// exception or abort() is what libFuzzer reports). Used by the libFuzzer entry points
// (fuzz/entry.cpp, clang -fsanitize=fuzzer) and by the corpus replay test (tests/fuzz/).
#include <cstddef>
#include <cstdint>
#include <string>

// bytes → serve::parse_request_json → parse_segment_request (+ to_json().dump(), a round trip
// through the stored form, and the error body the server would send).
int drshym_fuzz_request(const uint8_t* data, size_t size);
// first byte picks .csv (c), .yaml (y) or .txt (t) (any byte: value % 3); the rest is the
// manifest → batch::read_manifest.
int drshym_fuzz_manifest(const uint8_t* data, size_t size);
// bytes → an AOI file → io::Aoi::read (into EPSG:32633), window_on and rasterize on a grid.
int drshym_fuzz_aoi(const uint8_t* data, size_t size);

namespace drshym::fuzz {

// Process-wide set-up, idempotent: GDAL registered as the project does it, and every way GDAL
// reaches the network (CPLHTTPFetch, /vsicurl/, /vsis3/, ...) replaced by a trap that reports
// the URL as a bug: nothing a client sends may make the process fetch anything.
void setup();

// A private scratch folder of this process (created on first use, removed at exit).
const std::string& scratch_dir();

// Writes bytes to a file (replacing it).
void write_file(const std::string& path, const uint8_t* data, size_t size);

// Prints "drshym-fuzz: BUG: <what>" to stderr and aborts (libFuzzer saves the input).
[[noreturn]] void bug(const std::string& what);

}  // namespace drshym::fuzz
