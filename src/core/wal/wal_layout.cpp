// wal_layout.cpp: the keys of archived WAL files.
#include "core/wal/wal_layout.h"

#include "core/archive/set_layout.h"
#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr size_t kSegmentNameLength = 24;
constexpr size_t kTimelineLength = 8;
constexpr size_t kSha256HexLength = 64;
constexpr const char* kCompressedSuffix = ".zst";

// AllHex says whether text[from, from + count) are uppercase hex digits,
// as PostgreSQL writes them.
bool AllHex(const std::string& text, size_t from, size_t count) {
  if (text.size() < from + count)
    return false;
  for (size_t i = from; i < from + count; i++) {
    char c = text[i];
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
      return false;
  }
  return true;
}

// IsLowerHex says whether text is count lowercase hex digits.
bool IsLowerHex(const std::string& text, size_t count) {
  if (text.size() != count)
    return false;
  for (char c : text)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

}  // namespace

bool IsArchivableWalName(const std::string& name) {
  if (name.size() == kTimelineLength + 8 && name.compare(kTimelineLength, 8, ".history") == 0)
    return AllHex(name, 0, kTimelineLength);
  if (!AllHex(name, 0, kSegmentNameLength))
    return false;
  std::string rest = name.substr(kSegmentNameLength);
  if (rest.empty() || rest == ".partial")
    return true;
  // ".XXXXXXXX.backup": the offset of the backup's start in the segment.
  return rest.size() == 1 + 8 + 7 && rest[0] == '.' && AllHex(rest, 1, 8) &&
         rest.compare(9, 7, ".backup") == 0;
}

std::string WalTimeline(const std::string& name) {
  return name.substr(0, kTimelineLength);
}

std::string WalDirectory(const std::string& system_identifier) {
  return system_identifier + "/wal";
}

std::string WalObjectPrefix(const std::string& system_identifier, const std::string& name) {
  if (!IsArchivableWalName(name))
    throw Error(ErrorKind::kInvalidParameter,
                "\"" + Printable(name) + "\" is not the name of a WAL file PostgreSQL archives");
  return WalDirectory(system_identifier) + "/" + WalTimeline(name) + "/" + name + "-";
}

std::string WalObjectKey(const std::string& system_identifier, const std::string& name,
                         const std::string& sha256_hex, bool encrypted) {
  return WalObjectPrefix(system_identifier, name) + sha256_hex + kCompressedSuffix +
         (encrypted ? kAgeSuffix : "");
}

bool ParseWalObjectKey(const std::string& key, WalObject& object) {
  std::vector<std::string> parts = SplitKey(key);
  if (parts.size() < 4)
    return false;
  const std::string& leaf = parts.back();
  const std::string& timeline = parts[parts.size() - 2];
  if (parts[parts.size() - 3] != "wal" || timeline.size() != kTimelineLength ||
      !AllHex(timeline, 0, kTimelineLength))
    return false;
  std::string stem = leaf;
  bool encrypted = false;
  std::string age = kAgeSuffix;
  if (stem.size() > age.size() && stem.compare(stem.size() - age.size(), age.size(), age) == 0) {
    encrypted = true;
    stem.resize(stem.size() - age.size());
  }
  std::string zst = kCompressedSuffix;
  if (stem.size() <= zst.size() || stem.compare(stem.size() - zst.size(), zst.size(), zst) != 0)
    return false;
  stem.resize(stem.size() - zst.size());
  size_t dash = stem.rfind('-');
  if (dash == std::string::npos)
    return false;
  std::string name = stem.substr(0, dash);
  std::string sha = stem.substr(dash + 1);
  if (!IsArchivableWalName(name) || WalTimeline(name) != timeline ||
      !IsLowerHex(sha, kSha256HexLength))
    return false;
  object.key = key;
  object.name = name;
  object.sha256 = sha;
  object.encrypted = encrypted;
  return true;
}

std::vector<WalObject> WalObjectsOf(const std::vector<std::string>& listed_keys,
                                    const std::string& name) {
  std::vector<WalObject> objects;
  for (const std::string& key : listed_keys) {
    WalObject object;
    if (ParseWalObjectKey(key, object) && object.name == name)
      objects.push_back(object);
  }
  return objects;
}

}  // namespace pgbak
