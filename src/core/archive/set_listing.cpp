// set_listing.cpp: see set_listing.h.
#include "core/archive/set_listing.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/archive/manifest.h"
#include "core/archive/set_layout.h"
#include "core/archive/set_reader.h"
#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// DirectoryId is the id a set directory's last part ends with ("-<id>"),
// or 0 if it is no set directory name ("<YYYYMMDDTHHMMSSZ>-<digits>").
int64_t DirectoryId(const std::string& leaf) {
  size_t dash = leaf.rfind('-');
  if (dash != 16 || leaf.size() <= dash + 1 || leaf.size() > dash + 19 || leaf[15] != 'Z' ||
      leaf[8] != 'T')
    return 0;
  std::string digits = leaf.substr(dash + 1);
  if (digits.find_first_not_of("0123456789") != std::string::npos)
    return 0;
  return std::stoll(digits);
}

// DecodeComponent undoes PathComponent (%XX escapes).
std::string DecodeComponent(const std::string& part) {
  std::string out;
  for (size_t i = 0; i < part.size(); i++) {
    if (part[i] == '%' && i + 2 < part.size() &&
        std::isxdigit(static_cast<unsigned char>(part[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(part[i + 2]))) {
      out += static_cast<char>(std::stoi(part.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += part[i];
    }
  }
  return out;
}

// ListBelow lists the sets whose objects are below prefix (see ListSets).
std::vector<SetSummary> ListBelow(Storage& storage, const std::string& prefix,
                                  const SetFilter& filter, const SetVisitor& visit) {
  // Every object, grouped by the set directory it is in.
  std::map<std::string, std::vector<ObjectInfo>> directories;
  for (ObjectInfo& object : storage.List(prefix)) {
    std::vector<std::string> parts = SplitKey(object.key);
    if (parts.size() != 4 || DirectoryId(parts[2]) == 0 || !IsSetObject(parts[3]))
      continue;
    directories[parts[0] + "/" + parts[1] + "/" + parts[2]].push_back(std::move(object));
  }
  std::vector<SetSummary> sets;
  for (const auto& [key, objects] : directories) {
    std::vector<std::string> parts = SplitKey(key);
    SetSummary set;
    set.key = key;
    set.directory_id = DirectoryId(parts[2]);
    set.system_identifier = parts[0];
    set.database = DecodeComponent(parts[1]);
    Manifest manifest;
    std::string manifest_text;
    bool has_manifest = false;
    uint64_t manifest_size = 0;
    for (const ObjectInfo& object : objects)
      if (object.key == key + "/" + kManifestObject) {
        has_manifest = true;
        manifest_size = object.size;
      }
    if (!has_manifest) {
      set.problem = "no manifest.json: the backup did not finish";
      for (const ObjectInfo& object : objects)
        set.stored_bytes += object.size;
    } else if (manifest_size > kMaxManifestBytes) {
      set.problem = "manifest.json is too large to be a manifest";
    } else {
      // A manifest that does not read as one makes the set incomplete; a
      // storage that cannot be read fails the listing (that says nothing
      // about the set).
      try {
        manifest_text = ReadManifestText(storage, key + "/" + kManifestObject);
        manifest = Manifest::FromJson(manifest_text);
        set.complete = true;
        set.backup_id = manifest.backup_id;
        set.system_identifier = manifest.system_identifier;
        set.database = manifest.database;
        set.dump_format = manifest.dump_format;
        set.started_at = manifest.started_at;
        set.finished_at = manifest.finished_at;
        set.encrypted = !manifest.age_recipients.empty();
        for (const ManifestObject& object : manifest.objects) {
          set.stored_bytes += object.size;
          set.raw_bytes += object.raw_size;
        }
      } catch (const Error& e) {
        if (e.kind() != ErrorKind::kCorrupt && e.kind() != ErrorKind::kInvalidParameter)
          throw;
        set.problem = std::string("manifest.json cannot be read: ") + e.what();
      }
    }
    // A base backup (kind "base", #17) is no logical set: not listed, nor
    // imported, as one.
    if (set.complete && manifest.kind == "base")
      continue;
    if (!filter.database.empty() && set.database != filter.database)
      continue;
    if (!filter.system_identifier.empty() && set.system_identifier != filter.system_identifier)
      continue;
    if (visit && set.complete)
      visit(set, manifest, manifest_text, objects);
    sets.push_back(std::move(set));
  }
  // Oldest first: by the time in the directory name, then by id.
  std::sort(sets.begin(), sets.end(), [](const SetSummary& a, const SetSummary& b) {
    std::string ta = SplitKey(a.key)[2], tb = SplitKey(b.key)[2];
    return ta.substr(0, 16) != tb.substr(0, 16) ? ta.substr(0, 16) < tb.substr(0, 16)
                                                : a.directory_id < b.directory_id;
  });
  return sets;
}

}  // namespace

std::vector<SetSummary> ListSets(Storage& storage, const SetFilter& filter,
                                 const SetVisitor& visit) {
  // With a cluster, only its directory is listed (and with a database too,
  // only that database's): a bucket shared by many clusters is not read
  // whole for one of them.
  std::string prefix;
  if (!filter.system_identifier.empty()) {
    prefix = filter.system_identifier + "/";
    if (!filter.database.empty())
      prefix += PathComponent(filter.database) + "/";
  }
  return ListBelow(storage, prefix, filter, visit);
}

std::vector<SetSummary> ListSetAt(Storage& storage, const std::string& key,
                                  const SetVisitor& visit) {
  return ListBelow(storage, key + "/", SetFilter(), visit);
}

}  // namespace pgbak
