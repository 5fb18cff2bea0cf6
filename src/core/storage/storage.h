// storage.h: the interface every storage driver implements.
//
// A storage holds objects under '/'-separated keys relative to its root
// (a directory, or a bucket and prefix). An object becomes visible under its
// key only when its writer's Finish() succeeds, so a reader never sees a
// half-written object; a writer destroyed without Finish() leaves nothing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/pipeline/sink.h"

namespace pgbak {

// ObjectInfo describes one stored object.
struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
};

// ObjectWriter streams one object; Finish() makes it durable and visible.
class ObjectWriter : public Sink {
 public:
  // Abort discards everything written so far; safe to call more than once.
  virtual void Abort() noexcept = 0;
};

// ObjectReader streams one object back.
class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  // Read fills up to capacity bytes and returns how many; 0 means the end.
  virtual size_t Read(uint8_t* buffer, size_t capacity) = 0;
};

// Storage is one place where backup sets live.
class Storage {
 public:
  virtual ~Storage() = default;
  virtual std::unique_ptr<ObjectWriter> Create(const std::string& key) = 0;
  virtual std::unique_ptr<ObjectReader> Open(const std::string& key) = 0;
  // List returns every object whose key starts with prefix, sorted by key.
  virtual std::vector<ObjectInfo> List(const std::string& prefix) = 0;
  // Remove deletes an object; a missing object is not an error.
  virtual void Remove(const std::string& key) = 0;
  // Location is what a user sees for a key: a path or an s3:// URL;
  // Location("") is the storage's root, and Location(k) is that plus "/k".
  virtual std::string Location(const std::string& key) const = 0;
  // Tidy removes what dead writers left below directory_key (temporary
  // files) and the directory itself if it is then empty; object stores
  // have neither, so by default it does nothing.
  virtual void Tidy(const std::string& directory_key) { (void)directory_key; }

  // KeyOf is the inverse of Location: the key a location names, or "" if
  // the location is not below this storage's root.
  std::string KeyOf(const std::string& location) const;
};

// ValidateKey throws kInvalidParameter unless key is a relative path made of
// non-empty components other than "." and ".." (a key cannot escape the root).
void ValidateKey(const std::string& key);

// PathComponent encodes any string (a database name) as one safe key
// component: every byte outside [A-Za-z0-9_-] (so '.', '/' too) becomes %XX.
std::string PathComponent(const std::string& name);

}  // namespace pgbak
