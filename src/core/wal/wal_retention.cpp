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

std::string AnotherWriter(const std::vector<std::string>& listed_keys,
                          const std::string& current_segment) {
  if (current_segment.size() != 24 || WalSegmentPart(current_segment).empty())
    throw Error(ErrorKind::kInvalidParameter,
                "\"" + Printable(current_segment) + "\" is not the name of a WAL segment");
  std::string timeline = WalTimeline(current_segment);
  std::string segment = WalSegmentPart(current_segment);
  for (const std::string& key : listed_keys) {
    WalObject object;
    if (!ParseWalObjectKey(key, object))
      continue;
    // Timelines are 8 uppercase hex digits: they compare as text.
    if (WalTimeline(object.name) > timeline)
      return "the archive holds " + object.name + ", of timeline " + WalTimeline(object.name) +
             ", above this server's " + timeline;
    std::string part = WalSegmentPart(object.name);
    if (WalTimeline(object.name) == timeline && !part.empty() && part > segment)
      return "the archive holds " + object.name + ", past the segment this server is writing (" +
             current_segment + ")";
  }
  return "";
}

}  // namespace pgbak
