// job_options_test.cpp: a scheduled job's options (src/core/job_options.cpp).
#include "core/options/job_options.h"

#include <gtest/gtest.h>

#include <string>

#include "core/base/error.h"
#include "core/options/backup_options.h"

namespace pgbak {
namespace {

// JobError returns the error ParseJobOptions throws for text.
Error JobError(const std::string& text) {
  try {
    ParseJobOptions(text);
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter) << text;
    return error;
  }
  ADD_FAILURE() << "accepted " << text;
  return Error(ErrorKind::kInternal, "");
}

// Message is JobError's message.
std::string Message(const std::string& text) {
  return JobError(text).what();
}

TEST(JobOptionsTest, Defaults) {
  JobOptions options = ParseJobOptions("{}");
  EXPECT_EQ(options.storage, "local");
  EXPECT_EQ(options.verify, "none");
  EXPECT_TRUE(options.retention.empty());
  EXPECT_EQ(options.backup.format, "custom");
  EXPECT_EQ(options.backup_json, R"({"format":"custom"})");
  EXPECT_EQ(options.ToJson().Serialize(),
            R"({"format":"custom","storage":"local","verify":"none"})");
}

TEST(JobOptionsTest, EveryKeyAndTheNormalForm) {
  JobOptions options = ParseJobOptions(
      R"({"max_age":"2 weeks","keep_yearly":2,"verify":"checksum","keep_monthly":12,)"
      R"("storage":"s3-main","tables":["Orders"],"keep_weekly":4,"zstd_level":5,)"
      R"("keep_daily":7,"keep_last":3,"format":"plain","data_only":true})");
  EXPECT_EQ(options.storage, "s3-main");
  EXPECT_EQ(options.verify, "checksum");
  EXPECT_EQ(options.retention.keep_last, 3);
  EXPECT_EQ(options.retention.keep_daily, 7);
  EXPECT_EQ(options.retention.keep_weekly, 4);
  EXPECT_EQ(options.retention.keep_monthly, 12);
  EXPECT_EQ(options.retention.keep_yearly, 2);
  EXPECT_EQ(options.retention.max_age_seconds, 14 * 86400);
  EXPECT_EQ(options.backup.format, "plain");
  EXPECT_TRUE(options.backup.data_only);
  EXPECT_EQ(options.backup.zstd_level, 5);
  ASSERT_EQ(options.backup.tables.size(), 1u);
  EXPECT_EQ(options.backup.tables[0].name, "orders");
  EXPECT_EQ(options.backup_json,
            R"({"format":"plain","data_only":true,"tables":["orders"],"zstd_level":5})");
  // backup_json is what each run gets, and pgbak_run accepts it.
  EXPECT_EQ(ParseBackupOptions(options.backup_json).ToJson().Serialize(), options.backup_json);

  std::string normalized = options.ToJson().Serialize();
  EXPECT_EQ(normalized, R"({"format":"plain","data_only":true,"tables":["orders"],"zstd_level":5,)"
                        R"("storage":"s3-main","verify":"checksum","keep_last":3,"keep_daily":7,)"
                        R"("keep_weekly":4,"keep_monthly":12,"keep_yearly":2,"max_age":1209600})");
  EXPECT_EQ(ParseJobOptions(normalized).ToJson().Serialize(), normalized);
}

TEST(JobOptionsTest, VerifyValues) {
  EXPECT_EQ(ParseJobOptions(R"({"verify":"none"})").verify, "none");
  EXPECT_EQ(ParseJobOptions(R"({"verify":"checksum"})").verify, "checksum");
  EXPECT_EQ(ParseJobOptions(R"({"verify":"restore"})").verify, "restore");
  EXPECT_EQ(Message(R"({"verify":"always"})"),
            "job option \"verify\" must be \"none\", \"checksum\" or \"restore\", not \"always\"");
  EXPECT_EQ(Message(R"({"verify":true})"),
            "job option \"verify\" must be \"none\", \"checksum\" or \"restore\", not boolean");
}

TEST(JobOptionsTest, Storage) {
  EXPECT_EQ(ParseJobOptions(R"({"storage":"local"})").storage, "local");
  EXPECT_EQ(Message(R"({"storage":""})"), "job option \"storage\" must be a non-empty string");
  EXPECT_EQ(Message(R"({"storage":1})"),
            "job option \"storage\" must be a non-empty string, not number");
}

TEST(JobOptionsTest, UnknownKeysAreRejectedWithEveryValidKey) {
  Error error = JobError(R"({"keep_dayly":7})");
  EXPECT_STREQ(error.what(), "unknown job option \"keep_dayly\"");
  EXPECT_EQ(
      error.hint(),
      "Valid job options are: format, schema_only, data_only, tables, exclude_tables, "
      "schemas, exclude_schemas, zstd_level, lock_wait_timeout, jobs, storage, verify, "
      "verify_every, keep_last, keep_daily, keep_weekly, keep_monthly, keep_yearly, "
      "max_age, rpo, webhook_url, webhook_events, exclude_databases, copy_to, copy_retention.");
  // A job option misspelled after a valid backup option is still found.
  EXPECT_STREQ(JobError(R"({"format":"plain","Storage":"x"})").what(),
               "unknown job option \"Storage\"");
  EXPECT_STREQ(JobError(R"({"schedule":"@daily"})").what(), "unknown job option \"schedule\"");
}

TEST(JobOptionsTest, BadValuesAreReported) {
  EXPECT_EQ(Message(R"({"keep_last":-2})"),
            "job option \"keep_last\" must be an integer >= 1, not -2");
  EXPECT_EQ(Message(R"({"keep_daily":0})"),
            "job option \"keep_daily\" must be an integer >= 1, not 0");
  EXPECT_EQ(Message(R"({"keep_monthly":-1})"),
            "job option \"keep_monthly\" must be an integer >= 1, not -1");
  EXPECT_EQ(Message(R"({"max_age":"soon"})"),
            "job option \"max_age\" must be an interval such as \"30 days\", not \"soon\"");
  // Backup options are checked by the code pgbak_run uses, with its messages.
  EXPECT_EQ(Message(R"({"format":"tar"})"),
            "backup option \"format\" must be \"custom\" or \"plain\", not \"tar\"");
  EXPECT_EQ(Message(R"({"zstd_level":30})"),
            "backup option \"zstd_level\" must be an integer between 1 and 19, not 30");
  EXPECT_EQ(Message(R"({"tables":["t"],"schemas":["s"]})"),
            "backup options \"tables\" and \"schemas\" cannot be used together");
  EXPECT_EQ(Message(R"({"jobs":0})"),
            "backup option \"jobs\" must be an integer between 1 and 32, not 0");
}

TEST(JobOptionsTest, JobsIsABackupOption) {
  JobOptions options = ParseJobOptions(R"({"jobs":4,"keep_last":2})");
  EXPECT_EQ(options.backup.jobs, 4);
}

TEST(JobOptionsTest, NonObjectsAndBadJson) {
  Error array = JobError("[]");
  EXPECT_STREQ(array.what(), "job options must be a JSON object, not array");
  EXPECT_NE(array.hint().find("keep_daily"), std::string::npos);
  EXPECT_STREQ(JobError("\"@daily\"").what(), "job options must be a JSON object, not string");
  Error bad = JobError(R"({"keep_last":)");
  EXPECT_STREQ(bad.what(), "invalid job options");
  EXPECT_NE(bad.detail().find("offset"), std::string::npos);
  EXPECT_NE(JobError(R"({"keep_last":1,"keep_last":2})").detail().find("duplicate"),
            std::string::npos);
}

TEST(JobOptionsTest, RpoAndWebhookOptions) {
  JobOptions options = ParseJobOptions(
      R"({"rpo": "6 hours", "webhook_url": "https://hooks.example.com/T0/B1/secret",
          "webhook_events": "all"})");
  EXPECT_EQ(options.rpo_seconds, 6 * 3600);
  EXPECT_EQ(options.webhook_url, "https://hooks.example.com/T0/B1/secret");
  EXPECT_EQ(options.webhook_events, "all");
  json::Value normal = options.ToJson();
  EXPECT_EQ(normal.Find("rpo")->AsInt64(), 6 * 3600);
  EXPECT_EQ(normal.Find("webhook_events")->AsString(), "all");
  // Defaults leave the keys out, so the settings apply.
  json::Value plain = ParseJobOptions("{}").ToJson();
  EXPECT_EQ(plain.Find("rpo"), nullptr);
  EXPECT_EQ(plain.Find("webhook_url"), nullptr);
}

TEST(JobOptionsTest, OversizedOptionsAreRefused) {
  std::string text =
      "{\"webhook_url\": \"https://example.com/" + std::string(kMaxOptionsBytes, 'x') + "\"}";
  try {
    ParseJobOptions(text);
    ADD_FAILURE() << "accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kLimitExceeded);
    EXPECT_EQ(std::string(error.what()),
              "job options are too large: " + std::to_string(text.size()) + " bytes");
  }
}

TEST(JobOptionsTest, LockWaitTimeoutIsABackupOption) {
  JobOptions options = ParseJobOptions(R"({"lock_wait_timeout": "2 minutes"})");
  EXPECT_EQ(options.backup.lock_wait_timeout_seconds, 120);
  EXPECT_EQ(options.backup_json, R"({"format":"custom","lock_wait_timeout":120})");
  EXPECT_THROW(ParseJobOptions(R"({"lock_wait_timeout": "2 days"})"), Error);
}

TEST(JobOptionsTest, VerifyEvery) {
  JobOptions options = ParseJobOptions(R"({"verify": "restore", "verify_every": 7})");
  EXPECT_EQ(options.verify, "restore");
  EXPECT_EQ(options.verify_every, 7);
  EXPECT_EQ(options.ToJson().Find("verify_every")->AsInt64(), 7);
  EXPECT_EQ(ParseJobOptions("{}").ToJson().Find("verify_every"), nullptr);
  for (const char* text : {R"({"verify_every": 0})", R"({"verify_every": -1})",
                           R"({"verify_every": 1.5})", R"({"verify_every": "2"})"}) {
    EXPECT_THROW(ParseJobOptions(text), Error) << text;
  }
}

TEST(JobOptionsTest, RpoAndWebhookRejections) {
  for (const char* text :
       {R"({"rpo": "soon"})", R"({"rpo": -5})", R"({"rpo": 0})", R"({"rpo": "100000000000 years"})",
        R"({"rpo": 3153600001})", R"({"webhook_url": "ftp://x/y"})", R"({"webhook_url": 7})",
        R"({"webhook_url": "https://"})", R"({"webhook_events": "some"})",
        R"({"webhook_events": true})"}) {
    try {
      ParseJobOptions(text);
      ADD_FAILURE() << text << " was accepted";
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter) << text;
    }
  }
}

TEST(JobOptionsTest, ExcludeDatabases) {
  JobOptions options = ParseJobOptions(R"({"exclude_databases":["scratch","Ünïcode"]})");
  ASSERT_EQ(options.exclude_databases.size(), 2u);
  EXPECT_EQ(options.exclude_databases[1], "Ünïcode");
  std::string normalized = options.ToJson().Serialize();
  EXPECT_EQ(normalized, R"({"format":"custom","storage":"local","verify":"none",)"
                        R"("exclude_databases":["scratch","Ünïcode"]})");
  EXPECT_EQ(ParseJobOptions(normalized).ToJson().Serialize(), normalized);
  // An empty list is the same as none.
  EXPECT_TRUE(ParseJobOptions(R"({"exclude_databases":[]})").exclude_databases.empty());

  EXPECT_EQ(Message(R"({"exclude_databases":"scratch"})"),
            "job option \"exclude_databases\" must be an array of database names, not string");
  EXPECT_EQ(Message(R"({"exclude_databases":[1]})"),
            "job option \"exclude_databases\" must be an array of database names, not an array "
            "holding a number");
  EXPECT_EQ(Message(R"({"exclude_databases":[""]})"),
            "job option \"exclude_databases\" must be an array of database names, not an array "
            "holding an empty string");
  EXPECT_EQ(Message(R"({"exclude_databases":["a","a"]})"),
            "job option \"exclude_databases\" names \"a\" twice");

  // 63 bytes are a name; 64 would be cut by PostgreSQL to another one.
  std::string longest(63, 'x');
  EXPECT_EQ(ParseJobOptions(R"({"exclude_databases":[")" + longest + "\"]}").exclude_databases[0],
            longest);
  try {
    ParseJobOptions(R"({"exclude_databases":[")" + longest + "y\"]}");
    ADD_FAILURE() << "a 64-byte name was accepted";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kNameTooLong);
    EXPECT_STREQ(error.what(),
                 "job option \"exclude_databases\" holds a name 64 bytes long, longer than a "
                 "database name can be");
  }
}

// ScopeError returns the message CheckJobScope throws.
std::string ScopeError(const std::string& text, bool every_database) {
  try {
    CheckJobScope(ParseJobOptions(text), every_database);
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter) << text;
    return error.what();
  }
  ADD_FAILURE() << "accepted " << text;
  return "";
}

TEST(JobOptionsTest, ScopeOfEveryDatabase) {
  // What fits a job over every database.
  CheckJobScope(ParseJobOptions(R"({"exclude_databases":["a"],"exclude_tables":["audit.*"],)"
                                R"("exclude_schemas":["tmp"],"keep_last":3,"verify":"restore"})"),
                true);
  // And over one.
  CheckJobScope(ParseJobOptions(R"({"tables":["orders"],"keep_last":3})"), false);

  EXPECT_EQ(ScopeError(R"({"exclude_databases":["a"]})", false),
            "job option \"exclude_databases\" applies only to a job over every database");
  EXPECT_EQ(ScopeError(R"({"tables":["orders"]})", true),
            "job option \"tables\" cannot be used by a job over every database");
  EXPECT_EQ(ScopeError(R"({"schemas":["sales"]})", true),
            "job option \"schemas\" cannot be used by a job over every database");
}

TEST(JobOptionsTest, CopyToAndCopyRetention) {
  JobOptions options = ParseJobOptions(
      R"({"keep_last": 7, "copy_to": ["offsite", "cold"], "copy_retention": {"keep_last": 30}})");
  EXPECT_EQ(options.copy_to, (std::vector<std::string>{"offsite", "cold"}));
  ASSERT_TRUE(options.copy_retention.has_value());
  EXPECT_EQ(options.CopyRetention().keep_last, 30);
  EXPECT_EQ(options.retention.keep_last, 7);
  std::string json = options.ToJson().Serialize();
  EXPECT_NE(json.find(R"("copy_to":["offsite","cold"],"copy_retention":{"keep_last":30})"),
            std::string::npos)
      << json;
  // Read back, the same.
  EXPECT_EQ(ParseJobOptions(json).ToJson().Serialize(), json);
  // Without copy_retention, the copies follow the job's retention.
  JobOptions same = ParseJobOptions(R"({"keep_last": 7, "copy_to": ["offsite"]})");
  EXPECT_EQ(same.CopyRetention().keep_last, 7);
}

TEST(JobOptionsTest, BadCopyOptions) {
  struct Case {
    const char* json;
    const char* message_part;
  };
  for (const Case& c : {
           Case{R"({"copy_to": "offsite"})", "must be an array of storage names"},
           Case{R"({"copy_to": [""]})", "non-empty storage names"},
           Case{R"({"copy_to": [1]})", "non-empty storage names"},
           Case{R"({"copy_to": ["a", "a"]})", "names storage \"a\" twice"},
           Case{R"({"copy_to": ["a"], "copy_retention": 5})", "must be an object"},
           Case{R"({"copy_to": ["a"], "copy_retention": {"keep": 5}})", "unknown key \"keep\""},
           Case{R"({"copy_to": ["a"], "copy_retention": {"keep_last": 0}})", "copy_retention"},
           Case{R"({"copy_retention": {"keep_last": 3}})", "needs \"copy_to\""},
           Case{R"({"copy_to": ["a"], "copy_retention": {}})", "at least one retention key"},
       }) {
    try {
      ParseJobOptions(c.json);
      ADD_FAILURE() << c.json << " was accepted";
    } catch (const Error& error) {
      EXPECT_NE(std::string(error.what()).find(c.message_part), std::string::npos)
          << c.json << ": " << error.what();
    }
  }
  EXPECT_THROW(ParseJobOptions(R"({"copy_to": ["a","b","c","d","e","f","g","h","i"]})"), Error);
}

}  // namespace
}  // namespace pgbak
