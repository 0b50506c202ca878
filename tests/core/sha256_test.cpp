#include "core/sha256.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "support/test_support.hpp"

using namespace drshym;

TEST(Sha256, KnownVectors) {
  drshym::testing::TempDir tmp;
  auto hash_of = [&](const std::string& s) {
    std::ofstream(tmp.file("f"), std::ios::binary) << s;
    const std::string h = core::file_sha256(tmp.file("f"));
    EXPECT_EQ(core::sha256_hex(s), h);  // the same bytes, in memory
    return h;
  };
  // FIPS 180-4 test vectors.
  EXPECT_EQ(hash_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hash_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hash_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(hash_of(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  drshym::testing::expect_error([&] { core::file_sha256(tmp.file("absent")); }, ErrorKind::NotFound, {"absent"});
}
