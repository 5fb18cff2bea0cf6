// base_layout.cpp: a base backup's directory and object names, LSNs and WAL
// segment names.
//
// A base backup's directory is a set directory whose "database" component
// is "base" (SetDirectory), so everything that checks or removes a set
// directory by its shape (IsSetKey) works on it unchanged. A database
// named "base" has its logical sets in the same folder; ids are unique in
// backup_log, so no two sets share a directory, and each manifest says
// which kind of set it describes.
#include "core/archive/base_layout.h"

#include <cstdio>
#include <string>

#include "core/archive/set_layout.h"
#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

constexpr const char* kTarSuffix = ".tar";
constexpr const char* kZstdSuffix = ".zst";

// IsDigits says whether text is a non-empty run of ASCII digits.
bool IsDigits(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos;
}

// IsUpperHex says whether text is a non-empty run of 0-9 and A-F.
bool IsUpperHex(const std::string& text) {
  return !text.empty() && text.find_first_not_of("0123456789ABCDEF") == std::string::npos;
}

}  // namespace

std::string BaseSetDirectory(const std::string& system_identifier, std::time_t started_utc,
                             int64_t backup_id) {
  return SetDirectory(system_identifier, kBaseDirectory, started_utc, backup_id);
}

// BaseArchiveObject accepts what PostgreSQL 15's BASE_BACKUP names its
// archives: "base.tar" and "<tablespace oid>.tar".
std::string BaseArchiveObject(const std::string& archive_name) {
  std::string suffix = kTarSuffix;
  if (archive_name.size() > suffix.size() &&
      archive_name.compare(archive_name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    std::string stem = archive_name.substr(0, archive_name.size() - suffix.size());
    if (stem == "base" || IsDigits(stem))
      return archive_name + kZstdSuffix;
  }
  throw Error(ErrorKind::kCorrupt, "the server sent an archive named \"" + archive_name +
                                       "\", not base.tar or <tablespace oid>.tar");
}

bool IsBaseSetObject(const std::string& name) {
  std::string plain = name;
  std::string age = kAgeSuffix;
  if (plain.size() > age.size() && plain.compare(plain.size() - age.size(), age.size(), age) == 0)
    plain.resize(plain.size() - age.size());
  if (plain == kBaseManifestObject)
    return true;
  if (name == kManifestObject)
    return true;
  std::string tar_zst = std::string(kTarSuffix) + kZstdSuffix;
  if (plain.size() <= tar_zst.size() ||
      plain.compare(plain.size() - tar_zst.size(), tar_zst.size(), tar_zst) != 0)
    return false;
  std::string stem = plain.substr(0, plain.size() - tar_zst.size());
  return stem == "base" || IsDigits(stem);
}

uint64_t ParseLsn(const std::string& text) {
  size_t slash = text.find('/');
  std::string high = slash == std::string::npos ? "" : text.substr(0, slash);
  std::string low = slash == std::string::npos ? "" : text.substr(slash + 1);
  for (char& c : high)
    c = static_cast<char>(c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c);
  for (char& c : low)
    c = static_cast<char>(c >= 'a' && c <= 'f' ? c - 'a' + 'A' : c);
  if (!IsUpperHex(high) || !IsUpperHex(low) || high.size() > 8 || low.size() > 8)
    throw Error(ErrorKind::kCorrupt, "\"" + text + "\" is not an LSN");
  return (std::stoull(high, nullptr, 16) << 32) | std::stoull(low, nullptr, 16);
}

std::string FormatLsn(uint64_t lsn) {
  char text[32];
  std::snprintf(text, sizeof(text), "%X/%X", static_cast<unsigned>(lsn >> 32),
                static_cast<unsigned>(lsn & 0xFFFFFFFFu));
  return text;
}

// WalSegmentName follows XLogFileName: timeline, then the segment number
// split into "xlogid" (segments per 4 GB) and the segment within it.
std::string WalSegmentName(uint32_t timeline, uint64_t lsn, uint64_t segment_size) {
  if (segment_size < (1u << 20) || segment_size > (1u << 30) ||
      (segment_size & (segment_size - 1)) != 0)
    throw Error(ErrorKind::kInternal, "invalid WAL segment size " + std::to_string(segment_size));
  uint64_t segment = lsn / segment_size;
  uint64_t per_xlogid = 0x100000000ULL / segment_size;
  char name[32];
  std::snprintf(name, sizeof(name), "%08X%08X%08X", timeline,
                static_cast<unsigned>(segment / per_xlogid),
                static_cast<unsigned>(segment % per_xlogid));
  return name;
}

WalRange BackupWalRange(uint32_t start_timeline, uint64_t start_lsn, uint32_t end_timeline,
                        uint64_t end_lsn, uint64_t segment_size) {
  if (end_lsn <= start_lsn)
    throw Error(ErrorKind::kCorrupt, "the backup ends at " + FormatLsn(end_lsn) +
                                         ", not after its start " + FormatLsn(start_lsn));
  WalRange range;
  range.first_segment = WalSegmentName(start_timeline, start_lsn, segment_size);
  range.last_segment = WalSegmentName(end_timeline, end_lsn - 1, segment_size);
  return range;
}

bool WalSegmentReached(const std::string& archived, const std::string& segment) {
  if (archived.size() < 24 || !IsUpperHex(archived.substr(0, 24)) || segment.size() != 24)
    return false;
  return archived.compare(0, 24, segment) >= 0;
}

}  // namespace pgbak
