// job_options.cpp: validation and normal form of a scheduled job's options.
//
// A job's options are one flat object so the user writes one thing, but they
// are owned by three modules: the backup keys are checked by
// ParseBackupOptions (the same code pgbak_run uses, so a job cannot hold an
// option a run would refuse), the retention keys by ParseRetentionOptions,
// and storage and verify here.
#include "core/options/job_options.h"

#include <string>
#include <string_view>

#include "core/base/error.h"
#include "core/base/json.h"
#include "core/notify/webhook.h"
#include "core/options/backup_options.h"
#include "core/schedule/retention.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr const char* kValidKeysHint =
    "Valid job options are: format, schema_only, data_only, tables, exclude_tables, schemas, "
    "exclude_schemas, zstd_level, lock_wait_timeout, jobs, storage, verify, verify_every, "
    "keep_last, "
    "keep_daily, keep_weekly, keep_monthly, keep_yearly, max_age, rpo, webhook_url, "
    "webhook_events, exclude_databases, copy_to, copy_retention.";

const char* const kBackupKeys[] = {
    "format",          "schema_only", "data_only",         "tables", "exclude_tables", "schemas",
    "exclude_schemas", "zstd_level",  "lock_wait_timeout", "jobs"};

// IsOneOf says whether key is in a list of names.
template <size_t N>
bool IsOneOf(const std::string& key, const char* const (&names)[N]) {
  for (const char* name : names) {
    if (key == name) {
      return true;
    }
  }
  return false;
}

// ParseDatabaseList reads exclude_databases: an array of distinct database
// names, each as PostgreSQL would keep it (1..63 bytes).
std::vector<std::string> ParseDatabaseList(const json::Value& value) {
  const std::string expected =
      "job option \"exclude_databases\" must be an array of database names";
  if (value.type() != json::Type::kArray) {
    throw Error(ErrorKind::kInvalidParameter, expected + ", not " + value.TypeName(), std::string(),
                "Write it as {\"exclude_databases\": [\"scratch\", \"tmp\"]}.");
  }
  std::vector<std::string> names;
  for (const json::Value& element : value.AsArray()) {
    if (element.type() != json::Type::kString || element.AsString().empty()) {
      throw Error(ErrorKind::kInvalidParameter,
                  expected + ", not an array holding " +
                      (element.type() == json::Type::kString ? std::string("an empty string")
                                                             : element.TypeNameWithArticle()),
                  std::string(), "Write it as {\"exclude_databases\": [\"scratch\", \"tmp\"]}.");
    }
    const std::string& name = element.AsString();
    if (name.size() > kMaxDatabaseNameBytes) {
      throw Error(ErrorKind::kNameTooLong,
                  "job option \"exclude_databases\" holds a name " + std::to_string(name.size()) +
                      " bytes long, longer than a database name can be",
                  std::string(),
                  "Database names are at most 63 bytes; a multibyte character counts as several.");
    }
    for (const std::string& earlier : names) {
      if (earlier == name) {
        throw Error(ErrorKind::kInvalidParameter,
                    "job option \"exclude_databases\" names " + json::Quote(name) + " twice");
      }
    }
    names.push_back(name);
  }
  return names;
}

// kMaxCopyTo bounds copy_to: each copy is a worker's run of the whole set.
constexpr size_t kMaxCopyTo = 8;

// ParseCopyTo reads copy_to: an array of distinct, non-empty storage names.
std::vector<std::string> ParseCopyTo(const json::Value& value) {
  if (value.type() != json::Type::kArray) {
    throw Error(ErrorKind::kInvalidParameter,
                std::string("job option \"copy_to\" must be an array of storage names, not ") +
                    value.TypeName());
  }
  std::vector<std::string> names;
  for (const json::Value& item : value.AsArray()) {
    if (item.type() != json::Type::kString || item.AsString().empty()) {
      throw Error(ErrorKind::kInvalidParameter,
                  "job option \"copy_to\" must contain only non-empty storage names, not " +
                      item.Serialize());
    }
    for (const std::string& seen : names) {
      if (seen == item.AsString()) {
        throw Error(ErrorKind::kInvalidParameter,
                    "job option \"copy_to\" names storage " + json::Quote(seen) + " twice");
      }
    }
    names.push_back(item.AsString());
  }
  if (names.size() > kMaxCopyTo) {
    throw Error(ErrorKind::kLimitExceeded,
                "job option \"copy_to\" names " + std::to_string(names.size()) +
                    " storages; at most " + std::to_string(kMaxCopyTo) + " are allowed");
  }
  return names;
}

// ParseCopyRetention reads copy_retention: an object of retention keys.
RetentionPolicy ParseCopyRetention(const json::Value& value) {
  if (value.type() != json::Type::kObject) {
    throw Error(ErrorKind::kInvalidParameter,
                std::string("job option \"copy_retention\" must be an object of retention keys "
                            "(keep_last, keep_daily, keep_weekly, keep_monthly, keep_yearly, "
                            "max_age), not ") +
                    value.TypeName());
  }
  for (const auto& [key, item] : value.AsObject()) {
    (void)item;
    if (!IsRetentionKey(key)) {
      throw Error(ErrorKind::kInvalidParameter,
                  "unknown key " + json::Quote(key) + " in job option \"copy_retention\"",
                  std::string(),
                  "Its keys are those of retention: keep_last, keep_daily, keep_weekly, "
                  "keep_monthly, keep_yearly, max_age.");
    }
  }
  if (value.AsObject().empty()) {
    throw Error(ErrorKind::kInvalidParameter,
                "job option \"copy_retention\" must name at least one retention key",
                "Leave it out for copies kept as long as the job's backups.");
  }
  try {
    return ParseRetentionOptions(value);
  } catch (const Error& e) {
    throw Error(ErrorKind::kInvalidParameter,
                std::string("job option \"copy_retention\": ") + e.what(), e.detail(), e.hint());
  }
}

}  // namespace

// ToJson lists the backup options first because that is what a run uses,
// then what the job adds; retention keys appear only if set, so the stored
// form reads like what the user wrote, with max_age made exact.
json::Value JobOptions::ToJson() const {
  json::Value object = backup.ToJson();
  object.Set("storage", json::Value::String(storage));
  object.Set("verify", json::Value::String(verify));
  if (verify_every != 1) {
    object.Set("verify_every", json::Value::Number(verify_every));
  }
  SetRetentionKeys(object, retention);
  if (rpo_seconds > 0) {
    object.Set("rpo", json::Value::Number(rpo_seconds));
  }
  if (!webhook_url.empty()) {
    object.Set("webhook_url", json::Value::String(webhook_url));
  }
  if (!webhook_events.empty()) {
    object.Set("webhook_events", json::Value::String(webhook_events));
  }
  if (!exclude_databases.empty()) {
    json::Value names = json::Value::Array();
    for (const std::string& name : exclude_databases) {
      names.Append(json::Value::String(name));
    }
    object.Set("exclude_databases", std::move(names));
  }
  if (!copy_to.empty()) {
    json::Value list = json::Value::Array();
    for (const std::string& name : copy_to) {
      list.Append(json::Value::String(name));
    }
    object.Set("copy_to", list);
  }
  if (copy_retention) {
    json::Value keys = json::Value::Object();
    SetRetentionKeys(keys, *copy_retention);
    object.Set("copy_retention", keys);
  }
  return object;
}

// ParseJobOptions sorts each key to its owner and rejects any key no owner
// claims, before any of them is used.
JobOptions ParseJobOptions(std::string_view json_text) {
  CheckOptionsSize(json_text, "job");
  json::Value root;
  try {
    root = json::Parse(json_text);
  } catch (const Error& error) {
    throw Error(ErrorKind::kInvalidParameter, "invalid job options", error.what());
  }
  if (root.type() != json::Type::kObject) {
    throw Error(ErrorKind::kInvalidParameter,
                std::string("job options must be a JSON object, not ") + root.TypeName(),
                std::string(), kValidKeysHint);
  }
  JobOptions options;
  json::Value backup_object = json::Value::Object();
  for (const auto& [key, value] : root.AsObject()) {
    if (IsOneOf(key, kBackupKeys)) {
      backup_object.Set(key, value);
    } else if (IsRetentionKey(key)) {
      // Read below, all together, by ParseRetentionOptions.
    } else if (key == "storage") {
      if (value.type() != json::Type::kString) {
        throw Error(ErrorKind::kInvalidParameter,
                    std::string("job option \"storage\" must be a non-empty string, not ") +
                        value.TypeName());
      }
      if (value.AsString().empty()) {
        throw Error(ErrorKind::kInvalidParameter,
                    "job option \"storage\" must be a non-empty string");
      }
      options.storage = value.AsString();
    } else if (key == "verify") {
      const std::string expected =
          "job option \"verify\" must be \"none\", \"checksum\" or \"restore\", not ";
      if (value.type() != json::Type::kString) {
        throw Error(ErrorKind::kInvalidParameter, expected + value.TypeName());
      }
      const std::string& verify = value.AsString();
      if (verify != "none" && verify != "checksum" && verify != "restore") {
        throw Error(ErrorKind::kInvalidParameter, expected + json::Quote(verify));
      }
      options.verify = verify;
    } else if (key == "verify_every") {
      int64_t every = 0;
      bool integral = value.type() == json::Type::kNumber;
      if (integral) {
        try {
          every = value.AsInt64();
        } catch (const Error&) {
          integral = false;
        }
      }
      if (!integral || every < 1 || every > 1000000) {
        throw Error(
            ErrorKind::kInvalidParameter,
            "job option \"verify_every\" must be an integer >= 1, not " + value.Serialize());
      }
      options.verify_every = static_cast<int>(every);
    } else if (key == "rpo") {
      options.rpo_seconds = ParseDurationOption("rpo", value);
    } else if (key == "webhook_url") {
      if (value.type() != json::Type::kString) {
        throw Error(
            ErrorKind::kInvalidParameter,
            std::string("job option \"webhook_url\" must be a string, not ") + value.TypeName());
      }
      ValidateWebhookUrl(value.AsString());
      options.webhook_url = value.AsString();
    } else if (key == "webhook_events") {
      const std::string expected =
          "job option \"webhook_events\" must be \"failure\" or \"all\", not ";
      if (value.type() != json::Type::kString) {
        throw Error(ErrorKind::kInvalidParameter, expected + value.TypeName());
      }
      if (value.AsString() != "failure" && value.AsString() != "all") {
        throw Error(ErrorKind::kInvalidParameter, expected + json::Quote(value.AsString()));
      }
      options.webhook_events = value.AsString();
    } else if (key == "exclude_databases") {
      options.exclude_databases = ParseDatabaseList(value);
    } else if (key == "copy_to") {
      options.copy_to = ParseCopyTo(value);
    } else if (key == "copy_retention") {
      options.copy_retention = ParseCopyRetention(value);
    } else {
      throw Error(ErrorKind::kInvalidParameter, "unknown job option " + json::Quote(key),
                  std::string(), kValidKeysHint);
    }
  }
  options.retention = ParseRetentionOptions(root);
  if (options.copy_retention && options.copy_to.empty()) {
    throw Error(ErrorKind::kInvalidParameter, "job option \"copy_retention\" needs \"copy_to\"",
                "It says how long the job's copies are kept.");
  }
  options.backup = ParseBackupOptions(backup_object.Serialize());
  options.backup_json = options.backup.ToJson().Serialize();
  return options;
}

// CheckJobScope refuses options that cannot mean anything for the job's
// database. exclude_tables and exclude_schemas are patterns that may match
// nothing, so they are fine everywhere; tables and schemas are names a
// backup checks, and would fail every database that lacks them.
void CheckJobScope(const JobOptions& options, bool every_database) {
  if (!every_database) {
    if (!options.exclude_databases.empty()) {
      throw Error(ErrorKind::kInvalidParameter,
                  "job option \"exclude_databases\" applies only to a job over every database",
                  std::string(),
                  "Name the database '*' to back up every database but those excluded, or leave "
                  "the option out.");
    }
    return;
  }
  const char* selection = !options.backup.tables.empty()    ? "tables"
                          : !options.backup.schemas.empty() ? "schemas"
                                                            : nullptr;
  if (selection != nullptr) {
    throw Error(
        ErrorKind::kInvalidParameter,
        std::string("job option \"") + selection + "\" cannot be used by a job over every database",
        "A backup checks that each selected name exists in its database, so every "
        "database without them would fail.",
        "Schedule a job per database for a selection; exclude_tables and exclude_schemas "
        "are patterns and may be used with '*'.");
  }
}

}  // namespace pgbak
