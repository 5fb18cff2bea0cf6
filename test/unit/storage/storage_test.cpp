// storage_test.cpp: key validation and encoding shared by all storage drivers
// (src/core/storage.cpp).
#include "core/storage/storage.h"

#include <gtest/gtest.h>

#include <string>

#include "core/base/error.h"

namespace pgbak {
namespace {

TEST(ValidateKeyTest, RejectsKeysThatCouldEscapeTheRoot) {
  for (const std::string& key :
       {std::string(".."), std::string("/abs"), std::string("a//b"), std::string("."),
        std::string(""), std::string("a/"), std::string("a/../b"), std::string("a/./b"),
        std::string("../a"), std::string("a/.."), std::string("a\0b", 3)}) {
    try {
      ValidateKey(key);
      ADD_FAILURE() << "accepted \"" << key << "\"";
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter);
      EXPECT_NE(std::string(error.what()).find("invalid storage key"), std::string::npos);
    }
  }
}

TEST(ValidateKeyTest, AcceptsOrdinaryKeys) {
  EXPECT_NO_THROW(ValidateKey("a"));
  EXPECT_NO_THROW(ValidateKey("123/my%2Fdb/20261122T010203Z-42/data.dump.zst"));
  EXPECT_NO_THROW(ValidateKey(".hidden/..."));  // only "." and ".." are special
}

TEST(PathComponentTest, EncodesUnsafeBytes) {
  EXPECT_EQ(PathComponent("my/db"), "my%2Fdb");
  EXPECT_EQ(PathComponent(".."), "%2E%2E");
  EXPECT_EQ(PathComponent("\xc3\xbcn\xc3\xaf"), "%C3%BCn%C3%AF");  // "ünï"
  EXPECT_EQ(PathComponent("a b;c'd"), "a%20b%3Bc%27d");
  EXPECT_EQ(PathComponent("Plain_name-1"), "Plain_name-1");
  EXPECT_EQ(PathComponent(".hidden"), "%2Ehidden");
  EXPECT_EQ(PathComponent("100%"), "100%25");
}

TEST(PathComponentTest, ResultIsAlwaysOneValidComponent) {
  for (const std::string& name : {std::string("my/db"), std::string(".."), std::string("."),
                                  std::string("a/../b"), std::string("x\0y", 3)}) {
    std::string encoded = PathComponent(name);
    EXPECT_EQ(encoded.find('/'), std::string::npos);
    EXPECT_NO_THROW(ValidateKey(encoded));
  }
  // Distinct names stay distinct.
  EXPECT_NE(PathComponent("a%2Fb"), PathComponent("a/b"));
}

}  // namespace
}  // namespace pgbak
