#pragma once
// A small streaming SHA-256 (FIPS 180-4) so checkpoints, AOI files and request bodies can carry a
// content hash for provenance and corruption checks without pulling in a crypto library.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace drshym::core {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t len);
  // Finishes the hash; the object must not be updated afterwards.
  std::string hex_digest();

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t buf_len_ = 0;
  uint64_t total_bytes_ = 0;
};

// Hex SHA-256 of a byte string.
std::string sha256_hex(const std::string& bytes);

// Hex SHA-256 of a file's bytes, streamed. Throws NotFound when it cannot be opened, Io when a
// read fails.
std::string file_sha256(const std::string& path);

}  // namespace drshym::core
