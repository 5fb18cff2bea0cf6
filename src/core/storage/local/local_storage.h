// local_storage.h: the local-directory storage driver, the embedded default.
//
// Objects are written to a hidden temporary name in their final directory,
// fsynced, renamed into place and the directory fsynced, so a crash leaves
// either the whole object or no object under the final name. Directories are
// created 0700 and files 0600.
#pragma once

#include "core/storage/storage.h"

namespace pgbak {

// Durability says whether Finish() makes an object crash-safe (fsync of the
// file and its directory) or only visible: scratch files (a restore's staging
// copy) are thrown away after use, and need not pay for being durable.
enum class Durability { kDurable, kScratch };

// LocalStorage stores objects as files below a root directory.
class LocalStorage : public Storage {
 public:
  // The root is created (0700, with parents) on first write if missing.
  explicit LocalStorage(std::string root, Durability durability = Durability::kDurable);
  std::unique_ptr<ObjectWriter> Create(const std::string& key) override;
  std::unique_ptr<ObjectReader> Open(const std::string& key) override;
  std::vector<ObjectInfo> List(const std::string& prefix) override;
  void Remove(const std::string& key) override;
  std::string Location(const std::string& key) const override;
  // Tidy removes dead writers' temporaries below directory_key and that
  // directory if empty (never its parents: another writer may be creating
  // a sibling).
  void Tidy(const std::string& directory_key) override;

  // RemoveEmptyDirectories removes key's parent directories up to the root
  // as long as they are empty (cleanup after a failed or cancelled set).
  void RemoveEmptyDirectories(const std::string& key);
  // RemoveStaleTemporaries deletes leftover temporary files of writers that
  // died (crash, kill -9) below directory_key; returns how many it removed.
  int RemoveStaleTemporaries(const std::string& directory_key);

  // KeepFree makes every writer created afterwards refuse, with a
  // kDiskFull error whose detail is why, a write that would leave fewer than
  // bytes available on the file system (0: no floor, the default). The
  // refused writer removes its temporary file like any failed one.
  void KeepFree(uint64_t bytes, std::string why);

  const std::string& root() const { return root_; }

 private:
  std::string root_;
  Durability durability_;
  uint64_t keep_free_ = 0;
  std::string keep_free_why_;
};

}  // namespace pgbak
