// fuzz_manifest.cpp: libFuzzer harness for reading a backup set's
// manifest.json and tables.json (src/core/archive/manifest.cpp), which a
// verify or restore reads back from a storage.
//
// Properties, on every input:
//   - Manifest::FromJson and TablesFromJson return or throw a kCorrupt Error,
//     nothing else;
//   - what they accept writes back (ToJson, TablesToJson) without error to a
//     document they accept again and that then writes back unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/archive/manifest.h"
#include "core/base/error.h"
#include "fuzz_util.h"

namespace pgbak {
namespace {

using fuzz::Check;
using fuzz::Violation;

// ExpectCorrupt checks that a read error is the one a damaged set gives.
void ExpectCorrupt(const Error& error, const char* what) {
  Check(error.kind() == ErrorKind::kCorrupt,
        std::string(what) + " threw an Error of another kind: " + error.what());
}

void CheckManifest(std::string_view text) {
  Manifest manifest;
  try {
    manifest = Manifest::FromJson(text);
  } catch (const Error& error) {
    ExpectCorrupt(error, "Manifest::FromJson");
    return;
  }
  try {
    std::string written = manifest.ToJson();
    std::string again = Manifest::FromJson(written).ToJson();
    Check(again == written, "a manifest read back writes differently:\n" + written + "\n" + again);
  } catch (const Error& error) {
    Violation(std::string("an accepted manifest does not write and read back: ") + error.what());
  }
}

void CheckTables(std::string_view text) {
  std::vector<TableCount> tables;
  try {
    tables = TablesFromJson(text);
  } catch (const Error& error) {
    ExpectCorrupt(error, "TablesFromJson");
    return;
  }
  try {
    std::string written = TablesToJson(tables);
    Check(TablesToJson(TablesFromJson(written)) == written,
          "a table list read back writes differently");
  } catch (const Error& error) {
    Violation(std::string("an accepted table list does not write and read back: ") + error.what());
  }
}

}  // namespace
}  // namespace pgbak

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  pgbak::CheckManifest(text);
  pgbak::CheckTables(text);
  return 0;
}
