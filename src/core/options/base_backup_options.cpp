// base_backup_options.cpp: parsing and normalizing base backup options.
#include "core/options/base_backup_options.h"

#include <string>

#include "core/base/error.h"
#include "core/options/backup_options.h"
#include "core/schedule/retention.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr const char* kValidKeysHint =
    "Valid base backup options: zstd_level, fast_checkpoint, verify_checksums, "
    "wal_archive_timeout; a job with {\"kind\": \"base\"} also takes storage, verify "
    "(\"none\", \"checksum\" or \"restore\"), verify_every and the retention keys keep_last, "
    "keep_daily, keep_weekly, keep_monthly, keep_yearly, max_age.";

// Refuse is the error for a key whose value is not what it must be.
[[noreturn]] void Refuse(const std::string& key, const std::string& expected,
                         const json::Value& value) {
  throw Error(ErrorKind::kInvalidParameter,
              "base backup option " + json::Quote(key) + " must be " + expected + ", not " +
                  value.Serialize(),
              std::string(), kValidKeysHint);
}

// IntegerIn reads an integer between low and high or refuses it.
int IntegerIn(const std::string& key, const json::Value& value, int low, int high) {
  std::string expected =
      "an integer between " + std::to_string(low) + " and " + std::to_string(high);
  if (value.type() != json::Type::kNumber)
    Refuse(key, expected, value);
  int64_t n = 0;
  try {
    n = value.AsInt64();
  } catch (const Error&) {
    Refuse(key, expected, value);
  }
  if (n < low || n > high)
    Refuse(key, expected, value);
  return static_cast<int>(n);
}

// Boolean reads a JSON boolean or refuses it.
bool Boolean(const std::string& key, const json::Value& value) {
  if (value.type() != json::Type::kBool)
    Refuse(key, "a boolean", value);
  return value.AsBool();
}

}  // namespace

json::Value BaseBackupOptions::ToJson() const {
  json::Value root = json::Value::Object();
  if (zstd_level)
    root.Set("zstd_level", json::Value::Number(*zstd_level));
  root.Set("fast_checkpoint", json::Value::Bool(fast_checkpoint));
  root.Set("verify_checksums", json::Value::Bool(verify_checksums));
  root.Set("wal_archive_timeout", json::Value::Number(wal_archive_timeout_s));
  return root;
}

BaseBackupOptions ParseBaseBackupOptions(std::string_view json_text, bool allow_kind) {
  CheckOptionsSize(json_text, "base backup");
  json::Value root;
  try {
    root = json::Parse(json_text);
  } catch (const Error& error) {
    throw Error(ErrorKind::kInvalidParameter, "invalid base backup options", error.what(),
                kValidKeysHint);
  }
  if (root.type() != json::Type::kObject)
    throw Error(ErrorKind::kInvalidParameter,
                std::string("base backup options must be a JSON object, not ") + root.TypeName(),
                std::string(), kValidKeysHint);
  BaseBackupOptions options;
  for (const auto& [key, value] : root.AsObject()) {
    if (key == "zstd_level") {
      options.zstd_level = IntegerIn(key, value, kMinZstdLevel, kMaxZstdLevel);
    } else if (key == "fast_checkpoint") {
      options.fast_checkpoint = Boolean(key, value);
    } else if (key == "verify_checksums") {
      options.verify_checksums = Boolean(key, value);
    } else if (key == "wal_archive_timeout") {
      options.wal_archive_timeout_s = IntegerIn(key, value, 1, kMaxWalArchiveTimeoutS);
    } else if (key == "kind" && allow_kind) {
      if (value.type() != json::Type::kString || value.AsString() != "base")
        Refuse(key, "\"base\"", value);
    } else {
      throw Error(ErrorKind::kInvalidParameter, "unknown base backup option " + json::Quote(key),
                  std::string(), kValidKeysHint);
    }
  }
  return options;
}

json::Value BaseJobOptions::ToJson() const {
  json::Value root = json::Value::Object();
  root.Set("kind", json::Value::String("base"));
  root.Set("storage", json::Value::String(storage));
  SetRetentionKeys(root, retention);
  if (verify != "none")
    root.Set("verify", json::Value::String(verify));
  if (verify_every != 1)
    root.Set("verify_every", json::Value::Number(verify_every));
  json::Value options = backup.ToJson();
  for (const auto& [key, value] : options.AsObject())
    root.Set(key, value);
  return root;
}

bool IsBaseJob(std::string_view json_text) {
  try {
    json::Value root = json::Parse(json_text);
    if (root.type() != json::Type::kObject)
      return false;
    const json::Value* kind = root.Find("kind");
    return kind != nullptr && kind->type() == json::Type::kString && kind->AsString() == "base";
  } catch (const Error&) {
    return false;
  }
}

BaseJobOptions ParseBaseJobOptions(std::string_view json_text) {
  CheckOptionsSize(json_text, "job");
  BaseJobOptions job;
  json::Value root = json::Parse(json_text);  // IsBaseJob said it parses
  json::Value rest = json::Value::Object();
  for (const auto& [key, value] : root.AsObject()) {
    if (key == "storage") {
      if (value.type() != json::Type::kString || value.AsString().empty())
        Refuse(key, "a storage name", value);
      job.storage = value.AsString();
    } else if (IsRetentionKey(key)) {
      // Read below, all together, by ParseRetentionOptions.
    } else if (key == "verify") {
      if (value.type() != json::Type::kString ||
          (value.AsString() != "none" && value.AsString() != "checksum" &&
           value.AsString() != "restore"))
        Refuse(key, "\"none\", \"checksum\" or \"restore\"", value);
      job.verify = value.AsString();
    } else if (key == "verify_every") {
      job.verify_every = IntegerIn(key, value, 1, 1000000);
    } else {
      rest.Set(key, value);
    }
  }
  job.backup = ParseBaseBackupOptions(rest.Serialize(), true);
  job.retention = ParseRetentionOptions(root);
  return job;
}

}  // namespace pgbak
