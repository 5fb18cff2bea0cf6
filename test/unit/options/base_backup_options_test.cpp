// base_backup_options_test.cpp: validation of base backup options
// (src/core/options/base_backup_options.cpp).
#include "core/options/base_backup_options.h"

#include <gtest/gtest.h>

#include <string>

#include "core/base/error.h"

namespace pgbak {
namespace {

TEST(BaseBackupOptionsTest, Defaults) {
  BaseBackupOptions options = ParseBaseBackupOptions("{}");
  EXPECT_FALSE(options.zstd_level.has_value());
  EXPECT_TRUE(options.fast_checkpoint);
  EXPECT_TRUE(options.verify_checksums);
  EXPECT_EQ(options.wal_archive_timeout_s, kDefaultWalArchiveTimeoutS);
  EXPECT_EQ(options.ToJson().Serialize(),
            "{\"fast_checkpoint\":true,\"verify_checksums\":true,\"wal_archive_timeout\":600}");
}

TEST(BaseBackupOptionsTest, AllKeys) {
  BaseBackupOptions options = ParseBaseBackupOptions(
      R"({"zstd_level": 7, "fast_checkpoint": false, "verify_checksums": false,
          "wal_archive_timeout": 30})");
  EXPECT_EQ(options.zstd_level, 7);
  EXPECT_FALSE(options.fast_checkpoint);
  EXPECT_FALSE(options.verify_checksums);
  EXPECT_EQ(options.wal_archive_timeout_s, 30);
  // The normalized form reads back the same.
  BaseBackupOptions again = ParseBaseBackupOptions(options.ToJson().Serialize());
  EXPECT_EQ(again.ToJson().Serialize(), options.ToJson().Serialize());
}

TEST(BaseBackupOptionsTest, KindOnlyInJobs) {
  EXPECT_NO_THROW(ParseBaseBackupOptions(R"({"kind": "base"})", true));
  EXPECT_THROW(ParseBaseBackupOptions(R"({"kind": "base"})"), Error);
  EXPECT_THROW(ParseBaseBackupOptions(R"({"kind": "backup"})", true), Error);
}

TEST(BaseBackupOptionsTest, RefusesBadInputNamingTheKey) {
  for (const char* bad :
       {R"({"format": "plain"})", R"({"zstd_level": 0})", R"({"zstd_level": 20})",
        R"({"zstd_level": "3"})", R"({"zstd_level": 2.5})", R"({"fast_checkpoint": 1})",
        R"({"verify_checksums": null})", R"({"wal_archive_timeout": 0})",
        R"({"wal_archive_timeout": 86401})", "[]", "not json", R"("x")"}) {
    try {
      ParseBaseBackupOptions(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kInvalidParameter) << bad;
      EXPECT_NE(e.hint().find("Valid base backup options"), std::string::npos) << bad;
    }
  }
  try {
    ParseBaseBackupOptions(R"({"zstd_lvl": 3})");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "unknown base backup option \"zstd_lvl\"");
  }
}

TEST(BaseJobOptionsTest, KindStorageAndOptions) {
  EXPECT_TRUE(IsBaseJob(R"({"kind": "base"})"));
  EXPECT_FALSE(IsBaseJob(R"({"kind": "backup"})"));
  EXPECT_FALSE(IsBaseJob(R"({"keep_last": 3})"));
  EXPECT_FALSE(IsBaseJob("[]"));
  EXPECT_FALSE(IsBaseJob("not json"));
  BaseJobOptions job = ParseBaseJobOptions(R"({"kind": "base", "storage": "s3", "zstd_level": 5})");
  EXPECT_EQ(job.storage, "s3");
  EXPECT_EQ(job.backup.zstd_level, 5);
  EXPECT_EQ(job.ToJson().Serialize(),
            "{\"kind\":\"base\",\"storage\":\"s3\",\"zstd_level\":5,\"fast_checkpoint\":true,"
            "\"verify_checksums\":true,\"wal_archive_timeout\":600}");
  // The stored form reads back as itself.
  EXPECT_EQ(ParseBaseJobOptions(job.ToJson().Serialize()).ToJson().Serialize(),
            job.ToJson().Serialize());
  EXPECT_EQ(ParseBaseJobOptions(R"({"kind": "base"})").storage, "local");
  EXPECT_THROW(ParseBaseJobOptions(R"({"kind": "base", "storage": ""})"), Error);
  EXPECT_THROW(ParseBaseJobOptions(R"({"kind": "base", "storage": 1})"), Error);
}

TEST(BaseJobOptionsTest, Verification) {
  BaseJobOptions job = ParseBaseJobOptions(R"({"kind": "base"})");
  EXPECT_EQ(job.verify, "none");
  EXPECT_EQ(job.verify_every, 1);
  job = ParseBaseJobOptions(R"({"kind": "base", "verify": "restore", "verify_every": 7})");
  EXPECT_EQ(job.verify, "restore");
  EXPECT_EQ(job.verify_every, 7);
  EXPECT_EQ(job.ToJson().Serialize(),
            "{\"kind\":\"base\",\"storage\":\"local\",\"verify\":\"restore\",\"verify_every\":7,"
            "\"fast_checkpoint\":true,\"verify_checksums\":true,\"wal_archive_timeout\":600}");
  EXPECT_EQ(ParseBaseJobOptions(job.ToJson().Serialize()).ToJson().Serialize(),
            job.ToJson().Serialize());
  EXPECT_EQ(ParseBaseJobOptions(R"({"kind": "base", "verify": "checksum"})").verify, "checksum");
  try {
    ParseBaseJobOptions(R"({"kind": "base", "verify": "deep"})");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"verify\""), std::string::npos) << e.what();
  }
  EXPECT_THROW(ParseBaseJobOptions(R"({"kind": "base", "verify": true})"), Error);
  EXPECT_THROW(ParseBaseJobOptions(R"({"kind": "base", "verify_every": 0})"), Error);
  EXPECT_THROW(ParseBaseJobOptions(R"({"kind": "base", "verify_every": 1.5})"), Error);
}

TEST(BaseJobOptionsTest, RetentionKeys) {
  BaseJobOptions job =
      ParseBaseJobOptions(R"({"kind": "base", "keep_last": 2, "max_age": "2 weeks"})");
  EXPECT_EQ(job.retention.keep_last, 2);
  EXPECT_EQ(job.retention.max_age_seconds, 14 * 86400);
  EXPECT_FALSE(job.retention.keep_daily.has_value());
  // Stored with max_age in seconds; reads back as itself.
  EXPECT_EQ(job.ToJson().Serialize(),
            "{\"kind\":\"base\",\"storage\":\"local\",\"keep_last\":2,\"max_age\":1209600,"
            "\"fast_checkpoint\":true,\"verify_checksums\":true,\"wal_archive_timeout\":600}");
  EXPECT_EQ(ParseBaseJobOptions(job.ToJson().Serialize()).ToJson().Serialize(),
            job.ToJson().Serialize());
  EXPECT_TRUE(ParseBaseJobOptions(R"({"kind": "base"})").retention.empty());
  // Bad values are refused naming the key, as for logical jobs.
  try {
    ParseBaseJobOptions(R"({"kind": "base", "keep_last": 0})");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"keep_last\""), std::string::npos) << e.what();
  }
  EXPECT_THROW(ParseBaseJobOptions(R"({"kind": "base", "max_age": "soon"})"), Error);
  EXPECT_THROW(ParseBaseJobOptions(R"({"kind": "base", "keep_weekly": "2"})"), Error);
  // A logical job's keys still are not a base job's.
  EXPECT_THROW(ParseBaseJobOptions(R"({"kind": "base", "copy_to": ["s3"]})"), Error);
}

}  // namespace
}  // namespace pgbak
