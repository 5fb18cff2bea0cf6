// storage_definition.cpp: checking and splitting storage definitions.
#include "core/storage/storage_definition.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include <openssl/crypto.h>

#include <fstream>
#include <iterator>
#include <vector>

#include "core/base/error.h"
#include "core/base/json.h"
#include "core/base/unique_fd.h"
#include "core/crypto/age.h"
#include "core/schedule/retention.h"
#include "core/storage/s3/aws_credential_files.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr const char* kValidKeysHint =
    "Valid storage options are: endpoint, region, uri_style, access_key_id, secret_access_key, "
    "secret_access_key_file, session_token, ca_file, tls_verify, max_upload_rate, part_size, "
    "concurrency, upload_memory, object_lock, age_recipients, age_identity_file, manual_retention.";

constexpr const char* kObjectLockHint =
    "object_lock is {\"mode\": \"governance\" or \"compliance\", \"days\": 1 to 36500}: "
    "every object is written with that S3 Object Lock retention, counted from its upload.";

constexpr const char* kNoCredentialsHint =
    "Give the storage access_key_id with secret_access_key_file (a file on the database server), "
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the server's environment, or give the "
    "server's OS user an AWS credentials file (~/.aws/credentials).";

// kMaxSecretFileBytes bounds a secret_access_key_file: a key and some
// white space.
constexpr size_t kMaxSecretFileBytes = 8192;

constexpr const char* kLocalKeysHint =
    "A file:// storage takes age_recipients, age_identity_file and manual_retention only.";

constexpr size_t kMaxRecipients = 20;

constexpr int kMaxConcurrency = 32;

[[noreturn]] void Invalid(const std::string& message, const std::string& hint = "") {
  throw Error(ErrorKind::kInvalidParameter, message, "", hint);
}

// CheckBucket follows S3's bucket naming rules (3-63 of lowercase letters,
// digits, '.', '-', starting and ending with a letter or digit).
void CheckBucket(const std::string& bucket) {
  bool ok = bucket.size() >= 3 && bucket.size() <= 63;
  for (size_t i = 0; ok && i < bucket.size(); i++) {
    unsigned char c = static_cast<unsigned char>(bucket[i]);
    bool edge = i == 0 || i + 1 == bucket.size();
    ok = std::islower(c) || std::isdigit(c) || (!edge && (c == '.' || c == '-'));
  }
  if (ok && (bucket.find("..") != std::string::npos || bucket.find(".-") != std::string::npos ||
             bucket.find("-.") != std::string::npos))
    ok = false;
  // S3 refuses names formatted like an IPv4 address.
  if (ok && bucket.find_first_not_of("0123456789.") == std::string::npos)
    ok = false;
  if (!ok)
    Invalid("invalid bucket name \"" + Printable(bucket) + "\"",
            "A bucket name is 3 to 63 lowercase letters, digits, '.' or '-', starting and "
            "ending with a letter or digit.");
}

// CheckPrefix accepts '/'-separated components that cannot escape the
// bucket or confuse a listing: no empty, "." or ".." component, no control
// bytes.
void CheckPrefix(const std::string& prefix) {
  size_t start = 0;
  while (start <= prefix.size() && !prefix.empty()) {
    size_t slash = prefix.find('/', start);
    if (slash == std::string::npos)
      slash = prefix.size();
    std::string part = prefix.substr(start, slash - start);
    if (part.empty() || part == "." || part == "..")
      Invalid("invalid prefix \"" + Printable(prefix) + "\" in the storage URL",
              "Use s3://bucket or s3://bucket/some/prefix, without empty, '.' or '..' parts.");
    start = slash + 1;
  }
  for (unsigned char c : prefix)
    if (c < 0x20 || c == 0x7f)
      Invalid("invalid prefix \"" + Printable(prefix) + "\" in the storage URL",
              "Control characters are not allowed.");
  if (prefix.size() > 512)
    Invalid("the prefix in the storage URL is longer than 512 bytes");
}

// SplitUrl parses s3://bucket[/prefix][/].
void SplitUrl(const std::string& url, std::string& bucket, std::string& prefix) {
  const std::string scheme = "s3://";
  if (url.compare(0, scheme.size(), scheme) != 0)
    Invalid("invalid storage URL \"" + Printable(url) + "\"",
            "Storage URLs look like s3://bucket or s3://bucket/prefix.");
  std::string rest = url.substr(scheme.size());
  while (!rest.empty() && rest.back() == '/')
    rest.pop_back();
  size_t slash = rest.find('/');
  bucket = rest.substr(0, slash);
  prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  CheckBucket(bucket);
  CheckPrefix(prefix);
}

// CheckEndpoint accepts http(s)://host[:port] with nothing after it.
void CheckEndpoint(const std::string& endpoint) {
  std::string hint =
      "An endpoint is a base URL such as https://s3.eu-west-1.amazonaws.com or "
      "http://127.0.0.1:9000, without a path, user or query.";
  size_t colon = endpoint.find("://");
  std::string scheme = colon == std::string::npos ? "" : endpoint.substr(0, colon);
  if (scheme != "http" && scheme != "https")
    Invalid("invalid endpoint \"" + Printable(endpoint) + "\"", hint);
  std::string authority = endpoint.substr(colon + 3);
  while (!authority.empty() && authority.back() == '/')
    authority.pop_back();
  // host, host:port, [v6], [v6]:port; the port is 1 to 65535.
  std::string host = authority, port;
  size_t bracket = authority.rfind(']');
  size_t port_colon = authority.rfind(':');
  if (port_colon != std::string::npos && (bracket == std::string::npos || port_colon > bracket)) {
    host = authority.substr(0, port_colon);
    port = authority.substr(port_colon + 1);
  }
  bool ok = !host.empty() && authority.size() <= 255;
  bool v6 = ok && host.front() == '[' && host.back() == ']';
  for (unsigned char c : v6 ? host.substr(1, host.size() - 2) : host)
    ok = ok && (v6 ? (std::isxdigit(c) || c == ':' || c == '.')
                   : (std::isalnum(c) || c == '.' || c == '-'));
  if (port_colon != std::string::npos && (bracket == std::string::npos || port_colon > bracket)) {
    ok = ok && !port.empty() && port.size() <= 5 &&
         port.find_first_not_of("0123456789") == std::string::npos && std::stoi(port) >= 1 &&
         std::stoi(port) <= 65535;
  }
  if (!ok)
    Invalid("invalid endpoint \"" + Printable(endpoint) + "\"", hint);
}

// CheckRegion accepts names like us-east-1 or auto.
void CheckRegion(const std::string& region) {
  bool ok = !region.empty() && region.size() <= 64;
  for (unsigned char c : region)
    ok = ok && (std::islower(c) || std::isdigit(c) || c == '-');
  if (!ok)
    Invalid("invalid region \"" + Printable(region) + "\"",
            "A region is lowercase letters, digits and '-', e.g. us-east-1.");
}

// CheckCredential refuses control bytes and absurd lengths; the value is
// never shown.
void CheckCredential(const std::string& key, const std::string& value) {
  bool ok = !value.empty() && value.size() <= 4096;
  for (unsigned char c : value)
    ok = ok && c > 0x20 && c < 0x7f;
  if (!ok)
    Invalid("invalid value for storage option \"" + key + "\"",
            "Credentials are printable ASCII without spaces; the value is not shown.");
}

std::string StringOption(const std::string& key, const json::Value& value) {
  if (value.type() != json::Type::kString)
    Invalid("storage option \"" + key + "\" must be a string, not " + value.TypeNameWithArticle());
  return value.AsString();
}

int64_t IntegerOption(const std::string& key, const json::Value& value, int64_t min, int64_t max,
                      const std::string& hint) {
  if (value.type() != json::Type::kNumber)
    Invalid("storage option \"" + key + "\" must be a number, not " + value.TypeNameWithArticle(),
            hint);
  int64_t n = 0;
  try {
    n = value.AsInt64();
  } catch (const Error&) {
    Invalid("storage option \"" + key + "\" must be a whole number", hint);
  }
  if (n < min || n > max)
    Invalid("storage option \"" + key + "\" is out of range: " + std::to_string(n), hint);
  return n;
}

// CheckServerFile accepts an absolute path to a regular file the server can
// read (a file on the database server, not the client's).
void CheckServerFile(const std::string& key, const std::string& path) {
  if (path.empty() || path[0] != '/')
    Invalid("storage option \"" + key + "\" must be an absolute path");
  struct stat info;
  if (stat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode) || access(path.c_str(), R_OK) != 0)
    Invalid(
        "storage option \"" + key + "\": \"" + Printable(path) + "\" is not readable by the server",
        "The file must exist on the database server and be readable by its user.");
}

// CheckIdentityFile reads an age identity file and refuses it unless it
// decrypts what the storage writes (an identity for one of recipients, if
// there are any). Its contents are never quoted.
void CheckIdentityFile(const std::string& path, const std::vector<AgeRecipient>& recipients) {
  std::vector<AgeIdentity> identities = ReadAgeIdentityFile(path);
  if (recipients.empty())
    return;
  for (const AgeIdentity& identity : identities)
    for (const AgeRecipient& recipient : recipients)
      if (identity.Recipient() == recipient)
        return;
  Invalid("storage option \"age_identity_file\" holds no identity for any of age_recipients",
          "The file must hold the secret key of at least one recipient, or verify and restore "
          "could not decrypt what this storage writes.");
}

// NormalLocalPath checks the path of a file:// URL: absolute, no empty, "."
// or ".." component, no control bytes.
std::string NormalLocalPath(const std::string& url, std::string path) {
  while (path.size() > 1 && path.back() == '/')
    path.pop_back();
  bool ok = !path.empty() && path[0] == '/' && path != "/";
  for (unsigned char c : path)
    ok = ok && c >= 0x20 && c != 0x7f;
  for (size_t start = 1; ok && start <= path.size();) {
    size_t slash = path.find('/', start);
    if (slash == std::string::npos)
      slash = path.size();
    std::string part = path.substr(start, slash - start);
    ok = !part.empty() && part != "." && part != "..";
    start = slash + 1;
  }
  if (!ok)
    Invalid("invalid storage URL \"" + Printable(url) + "\"",
            "A directory storage is file:///absolute/path, without '.' or '..' parts.");
  return path;
}

// ParseObjectLock checks the object_lock option and returns its stored
// form, {"mode": "governance" | "compliance", "days": N}.
json::Value ParseObjectLock(const json::Value& value) {
  if (value.type() != json::Type::kObject)
    Invalid("storage option \"object_lock\" must be an object, not " +
                std::string(value.TypeNameWithArticle()),
            kObjectLockHint);
  const json::Value* mode = value.Find("mode");
  const json::Value* days = value.Find("days");
  for (const auto& entry : value.AsObject())
    if (entry.first != "mode" && entry.first != "days")
      Invalid("unknown key \"" + Printable(entry.first) + "\" in storage option \"object_lock\"",
              kObjectLockHint);
  if (mode == nullptr || days == nullptr)
    Invalid(std::string("storage option \"object_lock\" needs ") +
                (mode == nullptr ? "\"mode\"" : "\"days\""),
            kObjectLockHint);
  if (mode->type() != json::Type::kString)
    Invalid("storage option \"object_lock.mode\" must be a string, not " +
                std::string(mode->TypeNameWithArticle()),
            kObjectLockHint);
  std::string name = mode->AsString();
  for (char& c : name)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  ObjectLockMode parsed = ObjectLockModeFromName(name);
  if (parsed == ObjectLockMode::kNone)
    Invalid("storage option \"object_lock.mode\" must be \"governance\" or \"compliance\", not \"" +
                Printable(mode->AsString()) + "\"",
            "governance: a user with s3:BypassGovernanceRetention can still lift the lock by hand; "
            "compliance: nobody can, the root account included, until the date has passed.");
  int64_t count = IntegerOption("object_lock.days", *days, 1, kMaxObjectLockDays,
                                "days is a whole number of days from 1 to 36500 (100 years).");
  json::Value stored = json::Value::Object();
  stored.Set("mode", json::Value::String(ObjectLockModeName(parsed)));
  stored.Set("days", json::Value::Number(count));
  return stored;
}

// ManualRetentionOption checks manual_retention, this storage's own age for
// manual backups instead of pgbak.manual_retention: an interval "N unit" (the
// units of a job's max_age) or a whole number of seconds, from one second to
// 100 years, or "off" (manual backups here never age out). Stored as seconds
// or "off", so that nothing has to parse it again.
json::Value ManualRetentionOption(const json::Value& value) {
  constexpr const char* kHint =
      "Give an interval such as \"30 days\" (seconds, minutes, hours, days, weeks, months of 30 "
      "days, years of 365 days), a whole number of seconds, or \"off\" to keep manual backups "
      "in this storage whatever pgbak.manual_retention says; at most 100 years.";
  const std::string expected =
      "storage option \"manual_retention\" must be an interval such as \"30 days\" or \"off\", "
      "not ";
  if (value.type() == json::Type::kString && value.AsString() == "off")
    return json::Value::String("off");
  std::string shown;
  std::optional<int64_t> seconds = DurationValueSeconds(value, shown);
  if (!seconds)
    Invalid(expected + value.TypeNameWithArticle(), kHint);
  if (*seconds < 1 || *seconds > kMaxDurationSeconds)
    Invalid(expected + shown, kHint);
  return json::Value::Number(*seconds);
}

json::Value ParseObject(const std::string& text, const char* what) {
  json::Value value = json::Parse(text.empty() ? "{}" : text);
  if (value.type() != json::Type::kObject)
    Invalid(std::string(what) + " must be a JSON object, not " + value.TypeNameWithArticle());
  return value;
}

}  // namespace

void CheckStorageName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 63 &&
            (std::islower(static_cast<unsigned char>(name[0])) ||
             std::isdigit(static_cast<unsigned char>(name[0])));
  for (unsigned char c : name)
    ok = ok && (std::islower(c) || std::isdigit(c) || c == '_' || c == '-');
  if (!ok)
    Invalid("invalid storage name \"" + Printable(name) + "\"",
            "A storage name is 1 to 63 lowercase letters, digits, '_' or '-', starting with a "
            "letter or digit.");
  if (name == "local")
    Invalid("the storage named \"local\" is built in and cannot be redefined",
            "Set pgbak.local_path to move it, or pick another name.");
}

StorageDefinition ParseStorageDefinition(const std::string& name, const std::string& url,
                                         const std::string& options) {
  CheckStorageName(name);
  bool local = IsLocalUrl(url);
  std::string bucket, prefix, path;
  if (local)
    path = LocalPathFromUrl(url);
  else
    SplitUrl(url, bucket, prefix);
  json::Value given = ParseObject(options, "storage options");

  json::Value public_options = json::Value::Object();
  json::Value secret_options = json::Value::Object();
  bool has_key_id = false, has_secret = false, has_secret_file = false;
  std::vector<AgeRecipient> recipients;
  std::string identity_file;
  for (const auto& [key, value] : given.AsObject()) {
    if (key == "age_recipients") {
      if (value.type() != json::Type::kArray || value.AsArray().empty() ||
          value.AsArray().size() > kMaxRecipients)
        Invalid("storage option \"age_recipients\" must be an array of 1 to 20 age public keys",
                "For example [\"age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\"], "
                "as age-keygen prints them.");
      json::Value list = json::Value::Array();
      for (const json::Value& item : value.AsArray()) {
        if (item.type() != json::Type::kString)
          Invalid("storage option \"age_recipients\" must hold strings, not " +
                  std::string(item.TypeNameWithArticle()));
        AgeRecipient recipient = AgeRecipient::Parse(item.AsString());
        recipients.push_back(recipient);
        list.Append(json::Value::String(recipient.ToString()));
      }
      public_options.Set(key, list);
      continue;
    }
    if (key == "age_identity_file") {
      identity_file = StringOption(key, value);
      CheckServerFile(key, identity_file);
      public_options.Set(key, json::Value::String(identity_file));
      continue;
    }
    if (local && key == "object_lock")
      Invalid("storage option \"object_lock\" needs an S3 storage",
              "Object Lock is a feature of S3 buckets (AWS, MinIO, Ceph...): a file:// storage has "
              "nothing that keeps a set from being deleted.");
    if (key == "manual_retention") {
      public_options.Set(key, ManualRetentionOption(value));
      continue;
    }
    if (local)
      Invalid("storage option \"" + Printable(key) + "\" does not apply to a file:// storage",
              kLocalKeysHint);
    if (key == "endpoint") {
      std::string endpoint = StringOption(key, value);
      CheckEndpoint(endpoint);
      while (endpoint.back() == '/')
        endpoint.pop_back();
      public_options.Set(key, json::Value::String(endpoint));
    } else if (key == "region") {
      std::string region = StringOption(key, value);
      CheckRegion(region);
      public_options.Set(key, json::Value::String(region));
    } else if (key == "uri_style") {
      std::string style = StringOption(key, value);
      if (style != "path" && style != "virtual")
        Invalid("storage option \"uri_style\" must be \"path\" or \"virtual\"",
                "path: https://endpoint/bucket/key; virtual: https://bucket.endpoint/key.");
      public_options.Set(key, json::Value::String(style));
    } else if (key == "access_key_id") {
      std::string id = StringOption(key, value);
      CheckCredential(key, id);
      secret_options.Set(key, json::Value::String(id));
      has_key_id = true;
    } else if (key == "secret_access_key" || key == "session_token") {
      std::string secret = StringOption(key, value);
      CheckCredential(key, secret);
      secret_options.Set(key, json::Value::String(secret));
      has_secret = has_secret || key == "secret_access_key";
    } else if (key == "secret_access_key_file") {
      std::string path = StringOption(key, value);
      if (path.empty() || path[0] != '/')
        Invalid("storage option \"secret_access_key_file\" must be an absolute path");
      // Read now, so that a definition that cannot sign is refused at once;
      // the key itself is not kept, the file is read again at every use.
      std::string secret = ReadSecretKeyFile(path);
      OPENSSL_cleanse(secret.data(), secret.size());
      public_options.Set(key, json::Value::String(path));
      has_secret_file = true;
    } else if (key == "ca_file") {
      std::string path = StringOption(key, value);
      CheckServerFile(key, path);
      public_options.Set(key, json::Value::String(path));
    } else if (key == "tls_verify") {
      if (value.type() != json::Type::kBool)
        Invalid("storage option \"tls_verify\" must be true or false");
      public_options.Set(key, json::Value::Bool(value.AsBool()));
    } else if (key == "max_upload_rate") {
      int64_t rate = IntegerOption(key, value, 1 << 16, int64_t(1) << 40,
                                   "max_upload_rate is in bytes per second, at least 65536.");
      public_options.Set(key, json::Value::Number(rate));
    } else if (key == "part_size") {
      int64_t size = IntegerOption(key, value, kMinPartSize, 1ll << 30,
                                   "part_size is in bytes, from 5 MiB (5242880) to 1 GiB.");
      public_options.Set(key, json::Value::Number(size));
    } else if (key == "concurrency") {
      int64_t n = IntegerOption(key, value, 1, kMaxConcurrency, "concurrency is 1 to 32.");
      public_options.Set(key, json::Value::Number(n));
    } else if (key == "upload_memory") {
      int64_t bytes = IntegerOption(
          key, value, kMinUploadMemory, kMaxUploadMemory,
          "upload_memory is in bytes, from 10 MiB (10485760) to 64 GiB (68719476736).");
      public_options.Set(key, json::Value::Number(bytes));
    } else if (key == "object_lock") {
      public_options.Set(key, ParseObjectLock(value));
    } else {
      Invalid("unknown storage option \"" + Printable(key) + "\"", kValidKeysHint);
    }
  }
  if (has_secret && has_secret_file)
    Invalid(
        "storage options \"secret_access_key\" and \"secret_access_key_file\" exclude each "
        "other",
        "Give the secret in a file on the database server (secret_access_key_file), or not "
        "at all.");
  if (has_key_id != (has_secret || has_secret_file))
    Invalid(
        "storage options \"access_key_id\" and \"secret_access_key_file\" (or "
        "\"secret_access_key\") go together",
        "Give both, or neither to use the server's AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY environment or its AWS credentials file.");
  if (secret_options.Find("session_token") != nullptr && !has_secret)
    Invalid("storage option \"session_token\" needs access_key_id and secret_access_key",
            has_secret_file ? "Temporary credentials rotate together: keep them in the server's "
                              "AWS credentials file or environment instead."
                            : "");
  if (!identity_file.empty())
    CheckIdentityFile(identity_file, recipients);
  // Without upload_memory, the budget rises to twice part_size by itself.
  const json::Value* part_size = public_options.Find("part_size");
  const json::Value* upload_memory = public_options.Find("upload_memory");
  if (part_size != nullptr && upload_memory != nullptr &&
      part_size->AsInt64() > upload_memory->AsInt64() / 2)
    Invalid("storage option \"part_size\" is more than half of \"upload_memory\"",
            "An upload holds the part it fills and at least one in flight within upload_memory: "
            "raise upload_memory to at least twice part_size, or lower part_size.");

  StorageDefinition definition;
  definition.name = name;
  definition.url =
      local ? "file://" + path : "s3://" + bucket + (prefix.empty() ? "" : "/" + prefix);
  definition.public_options = public_options.Serialize();
  definition.secret_options = secret_options.Serialize();
  return definition;
}

ServerFileUse StorageServerFileUse(const std::string& url, const std::string& options) {
  ServerFileUse use;
  use.writes = IsLocalUrl(url);
  try {
    json::Value given = json::Parse(options.empty() ? "{}" : options);
    if (given.type() == json::Type::kObject)
      use.reads = given.Find("age_identity_file") != nullptr || given.Find("ca_file") != nullptr ||
                  given.Find("secret_access_key_file") != nullptr;
  } catch (const Error&) {
  }
  return use;
}

bool IsLocalUrl(const std::string& url) {
  return url.compare(0, 7, "file://") == 0;
}

std::string LocalPathFromUrl(const std::string& url) {
  if (!IsLocalUrl(url))
    Invalid("invalid storage URL \"" + Printable(url) + "\"", "Expected file:///path.");
  return NormalLocalPath(url, url.substr(7));
}

ObjectLock ObjectLockFromDefinition(const std::string& public_options) {
  json::Value options = ParseObject(public_options, "stored storage options");
  ObjectLock lock;
  const json::Value* stored = options.Find("object_lock");
  if (stored == nullptr || stored->type() != json::Type::kObject)
    return lock;
  const json::Value* mode = stored->Find("mode");
  const json::Value* days = stored->Find("days");
  if (mode == nullptr || mode->type() != json::Type::kString || days == nullptr ||
      days->type() != json::Type::kNumber)
    return lock;
  lock.mode = ObjectLockModeFromName(mode->AsString());
  lock.days = static_cast<int>(days->AsInt64());
  return lock;
}

EncryptionSettings EncryptionFromDefinition(const std::string& public_options) {
  json::Value options = ParseObject(public_options, "stored storage options");
  EncryptionSettings settings;
  if (const json::Value* list = options.Find("age_recipients"))
    for (const json::Value& item : list->AsArray())
      settings.recipients.push_back(item.AsString());
  if (const json::Value* file = options.Find("age_identity_file"))
    settings.identity_file = file->AsString();
  return settings;
}

std::vector<AgeIdentity> ReadAgeIdentityFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw Error(ErrorKind::kIo, "could not read age identity file \"" + Printable(path) + "\"", "",
                "The file must exist on the database server and be readable by its user.");
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<AgeIdentity> identities;
  try {
    identities = ParseAgeIdentities(contents);
  } catch (...) {
    OPENSSL_cleanse(contents.data(), contents.size());
    throw;
  }
  OPENSSL_cleanse(contents.data(), contents.size());
  return identities;
}

std::string ReadSecretKeyFile(const std::string& path) {
  const std::string option = "storage option \"secret_access_key_file\"";
  const std::string where = option + ": \"" + Printable(path) + "\"";
  if (path.empty() || path[0] != '/')
    Invalid(option + " must be an absolute path");
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd.valid())
    Invalid(where + " is not readable by the server: " + std::strerror(errno),
            "The file must exist on the database server and be readable by its OS user.");
  struct stat info;
  if (fstat(fd.get(), &info) != 0 || !S_ISREG(info.st_mode))
    Invalid(where + " is not a regular file");
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    Invalid(where + " is accessible to other users than its owner",
            "Make it readable by the database server's OS user only (chmod 600).");
  if (info.st_size > static_cast<off_t>(kMaxSecretFileBytes))
    Invalid(where + " is too large to hold a secret access key",
            "The file holds the key alone, on one line.");
  std::string contents(kMaxSecretFileBytes + 1, '\0');
  size_t size = 0;
  while (size < contents.size()) {
    ssize_t n = ::read(fd.get(), contents.data() + size, contents.size() - size);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      int error = errno;
      OPENSSL_cleanse(contents.data(), contents.size());
      Invalid(where + " could not be read: " + std::strerror(error));
    }
    if (n == 0)
      break;
    size += static_cast<size_t>(n);
  }
  size_t begin = 0, end = size;
  while (begin < end && std::isspace(static_cast<unsigned char>(contents[begin])))
    begin++;
  while (end > begin && std::isspace(static_cast<unsigned char>(contents[end - 1])))
    end--;
  std::string secret = contents.substr(begin, end - begin);
  bool too_large = size > kMaxSecretFileBytes;
  OPENSSL_cleanse(contents.data(), contents.size());
  bool ok = !too_large && !secret.empty() && secret.size() <= 4096;
  for (unsigned char c : secret)
    ok = ok && c > 0x20 && c < 0x7f;
  if (!ok) {
    OPENSSL_cleanse(secret.data(), secret.size());
    Invalid(where + " does not hold a secret access key",
            "The file holds the key alone: printable ASCII without spaces, on one line; its "
            "contents are not shown.");
  }
  return secret;
}

S3Settings SettingsFromDefinition(const std::string& url, const std::string& public_options,
                                  const std::string& secret_options,
                                  const EnvironmentLookup& environment) {
  S3Settings settings;
  SplitUrl(url, settings.bucket, settings.prefix);
  json::Value options = ParseObject(public_options, "stored storage options");
  json::Value secrets = ParseObject(secret_options, "stored storage secrets");
  auto text = [](const json::Value& object, const char* key) {
    const json::Value* value = object.Find(key);
    return value != nullptr && value->type() == json::Type::kString ? value->AsString()
                                                                    : std::string();
  };
  auto number = [](const json::Value& object, const char* key, int64_t fallback) {
    const json::Value* value = object.Find(key);
    return value != nullptr && value->type() == json::Type::kNumber ? value->AsInt64() : fallback;
  };
  settings.region = text(options, "region");
  if (settings.region.empty())
    settings.region = environment("AWS_REGION");
  if (settings.region.empty())
    settings.region = environment("AWS_DEFAULT_REGION");
  if (settings.region.empty())
    settings.region = "us-east-1";
  // The region becomes part of the endpoint's host name: one from the
  // environment is checked like one from the options.
  CheckRegion(settings.region);
  settings.endpoint = text(options, "endpoint");
  std::string style = text(options, "uri_style");
  if (settings.endpoint.empty()) {
    settings.endpoint = "https://s3." + settings.region + ".amazonaws.com";
    // A dotted bucket name as a host name would not match AWS's wildcard
    // certificate (*.s3.<region>.amazonaws.com).
    settings.path_style =
        style == "path" || (style.empty() && settings.bucket.find('.') != std::string::npos);
  } else {
    // Self-hosted servers (MinIO, Ceph, s3rver) rarely have wildcard DNS.
    settings.path_style = style != "virtual";
  }
  settings.tls.ca_file = text(options, "ca_file");
  const json::Value* verify = options.Find("tls_verify");
  settings.tls.verify =
      verify == nullptr || verify->type() != json::Type::kBool || verify->AsBool();
  settings.max_upload_rate = static_cast<uint64_t>(number(options, "max_upload_rate", 0));
  settings.part_size = static_cast<uint64_t>(number(options, "part_size", kDefaultPartSize));
  settings.concurrency = static_cast<int>(number(options, "concurrency", kDefaultConcurrency));
  settings.upload_memory = static_cast<uint64_t>(number(options, "upload_memory", 0));
  settings.object_lock = ObjectLockFromDefinition(public_options);

  // The order of the AWS SDKs: the storage's own keys, then the
  // environment, then the shared files, each used whole or not at all.
  AwsCredentials& credentials = settings.credentials;
  credentials.access_key_id = text(secrets, "access_key_id");
  if (!credentials.access_key_id.empty()) {
    std::string secret_file = text(options, "secret_access_key_file");
    credentials.secret_access_key =
        secret_file.empty() ? text(secrets, "secret_access_key") : ReadSecretKeyFile(secret_file);
    credentials.session_token = text(secrets, "session_token");
  } else {
    credentials.access_key_id = environment("AWS_ACCESS_KEY_ID");
    credentials.secret_access_key = environment("AWS_SECRET_ACCESS_KEY");
    if (!credentials.access_key_id.empty() || !credentials.secret_access_key.empty()) {
      if (credentials.access_key_id.empty() || credentials.secret_access_key.empty())
        throw Error(ErrorKind::kInvalidParameter,
                    std::string("the server's environment has ") +
                        (credentials.access_key_id.empty()
                             ? "AWS_SECRET_ACCESS_KEY without AWS_ACCESS_KEY_ID"
                             : "AWS_ACCESS_KEY_ID without AWS_SECRET_ACCESS_KEY"),
                    "", kNoCredentialsHint);
      credentials.session_token = environment("AWS_SESSION_TOKEN");
    } else if (auto from_files =
                   ReadAwsSharedCredentials(AwsSharedFilesFromEnvironment(environment))) {
      credentials = *from_files;
    }
  }
  if (credentials.access_key_id.empty() || credentials.secret_access_key.empty())
    throw Error(ErrorKind::kInvalidParameter, "the storage has no credentials",
                "Neither its options, the server's environment nor an AWS credentials file of "
                "the server's OS user give an access key.",
                kNoCredentialsHint);
  // A value from the environment or a file is checked as one from SQL is:
  // a newline in a header would forge another one.
  for (const auto& [name, value] :
       {std::pair<const char*, const std::string&>{"access key id", credentials.access_key_id},
        {"secret access key", credentials.secret_access_key},
        {"session token", credentials.session_token}}) {
    bool ok = value.size() <= 4096;
    for (unsigned char c : value)
      ok = ok && c > 0x20 && c < 0x7f;
    if (!ok)
      throw Error(ErrorKind::kInvalidParameter,
                  std::string("the storage's ") + name + " is not printable ASCII without spaces",
                  "", "The value is not shown.");
  }
  return settings;
}

}  // namespace pgbak
