// wal_retention.cpp: see wal_retention.h.
#include "core/wal/wal_retention.h"

#include <string>
#include <vector>

#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// StartsWithSegment says whether name starts with 24 uppercase hex digits.
bool StartsWithSegment(const std::string& name) {
  if (name.size() < 24)
    return false;
  for (size_t i = 0; i < 24; i++) {
    char c = name[i];
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
      return false;
  }
  return true;
}

}  // namespace

std::string WalSegmentPart(const std::string& name) {
  if (!IsArchivableWalName(name) || !StartsWithSegment(name))
    return "";
  return name.substr(8, 16);
}

std::vector<WalObject> WalObjectsToExpire(const std::vector<std::string>& listed_keys,
                                          const std::vector<std::string>& needed_start_segments) {
  std::vector<WalObject> expire;
  std::string earliest;
  for (const std::string& needed : needed_start_segments) {
    if (needed.size() != 24 || WalSegmentPart(needed).empty())
      throw Error(ErrorKind::kInvalidParameter,
                  "\"" + Printable(needed) + "\" is not the name of a WAL segment");
    std::string part = WalSegmentPart(needed);
    if (earliest.empty() || part < earliest)
      earliest = part;
  }
  if (earliest.empty())
    return expire;
  for (const std::string& key : listed_keys) {
    WalObject object;
    if (!ParseWalObjectKey(key, object))
      continue;
    std::string part = WalSegmentPart(object.name);
    if (!part.empty() && part < earliest)
      expire.push_back(object);
  }
  return expire;
}

}  // namespace pgbak
