// storage.cpp: key rules shared by every storage driver.
//
// Keys come partly from user input (database names), so they are checked
// here once for every driver: a key never escapes the storage root.
#include "core/storage/storage.h"

#include <string>

#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

// ValidateKey rejects absolute keys, empty components, "." and "..", and NUL.
std::string Storage::KeyOf(const std::string& location) const {
  std::string root = Location("");
  while (root.size() > 1 && root.back() == '/')
    root.pop_back();
  if (location.size() <= root.size() + 1 || location.compare(0, root.size(), root) != 0 ||
      location[root.size()] != '/')
    return "";
  return location.substr(root.size() + 1);
}

void ValidateKey(const std::string& key) {
  auto reject = [&key](const std::string& why) {
    throw Error(ErrorKind::kInvalidParameter, "invalid storage key \"" + key + "\"", why);
  };
  if (key.empty()) {
    reject("A storage key cannot be empty.");
  }
  if (key.find('\0') != std::string::npos) {
    reject("A storage key cannot contain a zero byte.");
  }
  if (key.front() == '/') {
    reject("A storage key must be relative.");
  }
  size_t start = 0;
  while (true) {
    size_t slash = key.find('/', start);
    std::string component =
        key.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (component.empty()) {
      reject("A storage key cannot have empty components.");
    }
    if (component == "." || component == "..") {
      reject("A storage key cannot have \".\" or \"..\" components.");
    }
    if (slash == std::string::npos) {
      break;
    }
    start = slash + 1;
  }
}

// PathComponent percent-encodes every byte outside [A-Za-z0-9_-]; '%' itself
// is encoded too, so the encoding is reversible and names never collide.
std::string PathComponent(const std::string& name) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string encoded;
  encoded.reserve(name.size());
  for (unsigned char c : name) {
    bool safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-';
    if (safe) {
      encoded.push_back(static_cast<char>(c));
    } else {
      encoded.push_back('%');
      encoded.push_back(kHex[c >> 4]);
      encoded.push_back(kHex[c & 0xf]);
    }
  }
  return encoded;
}

}  // namespace pgbak
