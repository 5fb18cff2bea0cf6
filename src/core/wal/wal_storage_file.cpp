// wal_storage_file.cpp: writing and reading pgbak_wal_storage.json.
//
// Written and read through the local storage driver, which already makes a
// file appear whole or not at all (temporary name, fsync, rename, fsync of
// the directory) with mode 0600.
#include "core/wal/wal_storage_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <vector>

#include "core/base/error.h"
#include "core/base/json.h"
#include "core/storage/local/local_storage.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// kMaxFileBytes bounds what is read: a definition is a few hundred bytes.
constexpr size_t kMaxFileBytes = 1 << 20;

// ReadAll reads a whole (small) object.
std::string ReadAll(ObjectReader& reader) {
  std::string contents;
  std::vector<uint8_t> buffer(64 * 1024);
  for (;;) {
    size_t got = reader.Read(buffer.data(), buffer.size());
    if (got == 0)
      return contents;
    contents.append(reinterpret_cast<const char*>(buffer.data()), got);
    if (contents.size() > kMaxFileBytes)
      throw Error(ErrorKind::kCorrupt,
                  std::string(kWalStorageFileName) + " is larger than a storage definition can be");
  }
}

// Member returns a required member of the expected type or throws.
const json::Value& Member(const json::Value& object, const char* key, json::Type type) {
  const json::Value* value = object.Find(key);
  if (value == nullptr || value->type() != type)
    throw Error(ErrorKind::kCorrupt,
                std::string(kWalStorageFileName) + " has no valid \"" + key + "\"", "",
                "The launcher writes it again from pgbak_storage once pgbak.database is up.");
  return *value;
}

}  // namespace

std::string SerializeWalStorage(const StorageDefinition& definition) {
  json::Value root = json::Value::Object();
  root.Set("name", json::Value::String(definition.name));
  root.Set("url", json::Value::String(definition.url));
  root.Set("options",
           json::Parse(definition.public_options.empty() ? "{}" : definition.public_options));
  root.Set("secrets",
           json::Parse(definition.secret_options.empty() ? "{}" : definition.secret_options));
  return root.Serialize() + "\n";
}

StorageDefinition ParseWalStorage(const std::string& contents) {
  json::Value root;
  try {
    root = json::Parse(contents);
  } catch (const Error&) {
    // The parser's message may quote the text, which holds secrets.
    throw Error(ErrorKind::kCorrupt, std::string(kWalStorageFileName) + " is not valid JSON", "",
                "The launcher writes it again from pgbak_storage once pgbak.database is up.");
  }
  if (root.type() != json::Type::kObject)
    throw Error(ErrorKind::kCorrupt, std::string(kWalStorageFileName) + " is not a JSON object");
  StorageDefinition definition;
  definition.name = Member(root, "name", json::Type::kString).AsString();
  definition.url = Member(root, "url", json::Type::kString).AsString();
  definition.public_options = Member(root, "options", json::Type::kObject).Serialize();
  definition.secret_options = Member(root, "secrets", json::Type::kObject).Serialize();
  return definition;
}

bool ReadWalStorageFile(const std::string& directory, StorageDefinition& definition) {
  std::string path = directory + "/" + kWalStorageFileName;
  struct stat info;
  if (stat(path.c_str(), &info) != 0) {
    if (errno == ENOENT)
      return false;
    ThrowErrno("could not stat file \"" + path + "\"", errno);
  }
  LocalStorage storage(directory);
  std::unique_ptr<ObjectReader> reader = storage.Open(kWalStorageFileName);
  definition = ParseWalStorage(ReadAll(*reader));
  return true;
}

bool WriteWalStorageFile(const std::string& directory, const StorageDefinition& definition) {
  std::string contents = SerializeWalStorage(definition);
  StorageDefinition current;
  try {
    if (ReadWalStorageFile(directory, current) && SerializeWalStorage(current) == contents)
      return false;
  } catch (const Error&) {
    // A damaged file is replaced below.
  }
  LocalStorage storage(directory);
  std::unique_ptr<ObjectWriter> writer = storage.Create(kWalStorageFileName);
  try {
    WriteString(*writer, contents);
    writer->Finish();
  } catch (...) {
    writer->Abort();
    throw;
  }
  return true;
}

}  // namespace pgbak
