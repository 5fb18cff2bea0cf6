// fuzz_archive_scanner.cpp: libFuzzer harness for the pg_dump custom archive
// scanner (src/core/archive/archive_scanner.cpp), which reads every backup as
// it is made and every archive a streaming restore fetches from a storage.
//
// Every input is scanned twice, in pieces of varying size: passing bytes
// through, and coalescing chunks (to a small size, so that rewriting happens
// on small inputs too). Properties:
//   - passing through, the output is the input, byte for byte, and nothing
//     throws; the offset patches of a complete archive lie within it, and
//     the patched archive scans again to the same tables and row counts;
//   - coalescing, only a kCorrupt Error is thrown; without one, a scanner
//     that gave up passed the input on unchanged, and a complete archive
//     became one that scans again, complete, to the same row counts;
//   - the listener hears of chunks only within what was already passed on,
//     of tables only by valid index, and the TOC's end once.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/archive/archive_scanner.h"
#include "core/base/error.h"
#include "fuzz_util.h"

namespace pgbak {
namespace {

using fuzz::Check;

// Listener checks what a scanner tells its listener against its output.
class Listener : public ArchiveListener {
 public:
  explicit Listener(const StringSink& output) : output_(output) {}
  void OnTocEnd(const ArchiveScanner& scanner) override {
    Check(!toc_ended_, "OnTocEnd twice");
    Check(scanner.toc_sha256().size() == 64, "OnTocEnd without a TOC hash");
    toc_ended_ = true;
    tables_ = scanner.tables().size();
  }
  void OnTableChunk(size_t table, uint64_t offset, size_t size) override {
    Check(toc_ended_ && table < tables_, "OnTableChunk for a table not in the TOC");
    Check(offset <= output_.contents().size() && size <= output_.contents().size() - offset,
          "OnTableChunk names bytes not yet passed on");
  }
  void OnTableEnd(size_t table) override {
    Check(toc_ended_ && table < tables_, "OnTableEnd for a table not in the TOC");
  }

 private:
  const StringSink& output_;
  bool toc_ended_ = false;
  size_t tables_ = 0;
};

// Scan is what one scan saw and passed on.
struct Scan {
  bool threw = false;
  bool ok = false;
  bool complete = false;
  std::vector<ArchiveTable> tables;
  std::vector<OffsetPatch> patches;
  std::string output;
};

Scan RunScan(std::string_view archive, size_t coalesce_to, uint64_t pattern) {
  Scan scan;
  StringSink output;
  Listener listener(output);
  ArchiveScanner scanner(output, coalesce_to);
  scanner.SetListener(&listener);
  try {
    fuzz::WriteInPieces(scanner, archive, pattern);
    scanner.Finish();
  } catch (const Error& error) {
    Check(coalesce_to > 0, std::string("a pass-through scanner threw: ") + error.what());
    Check(error.kind() == ErrorKind::kCorrupt,
          std::string("the scanner threw an Error of another kind: ") + error.what());
    scan.threw = true;
  }
  scan.ok = scanner.ok();
  scan.complete = scanner.complete();
  scan.tables = scanner.tables();
  scan.patches = scanner.OffsetPatches();
  scanner.toc();
  scanner.problem();
  scan.output = output.contents();
  return scan;
}

// CheckSameRows checks that two scans found the same tables with the same rows.
void CheckSameRows(const Scan& a, const Scan& b, const char* what) {
  Check(a.tables.size() == b.tables.size(), std::string(what) + ": another number of tables");
  for (size_t i = 0; i < a.tables.size(); i++) {
    Check(a.tables[i].dump_id == b.tables[i].dump_id && a.tables[i].rows == b.tables[i].rows &&
              a.tables[i].schema == b.tables[i].schema && a.tables[i].table == b.tables[i].table,
          std::string(what) + ": table " + std::to_string(i) + " differs");
  }
}

// CheckPatches applies a complete scan's offset patches to its output, checks
// that each points at a data block's type byte, and scans the result again.
void CheckPatches(const Scan& scan, uint64_t pattern, const char* what) {
  if (scan.patches.empty()) {
    return;
  }
  std::string patched = scan.output;
  for (const OffsetPatch& patch : scan.patches) {
    Check(patch.slot_position <= patched.size() &&
              patch.bytes.size() <= patched.size() - patch.slot_position,
          std::string(what) + ": an offset patch lies beyond the archive");
    uint64_t offset = 0;
    for (size_t i = 1; i < patch.bytes.size() && i <= 8; i++) {
      offset |= static_cast<uint64_t>(patch.bytes[i]) << (8 * (i - 1));
    }
    Check(offset < patched.size() && (patched[offset] == 1 || patched[offset] == 3),
          std::string(what) + ": an offset patch points at no data block");
    patched.replace(patch.slot_position, patch.bytes.size(),
                    reinterpret_cast<const char*>(patch.bytes.data()), patch.bytes.size());
  }
  Scan again = RunScan(patched, 0, pattern);
  Check(again.ok && again.complete, std::string(what) + ": the patched archive does not scan");
  CheckSameRows(scan, again, what);
}

}  // namespace
}  // namespace pgbak

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pgbak;
  std::string_view archive(reinterpret_cast<const char*>(data), size);
  uint64_t pattern = fuzz::PatternOf(archive);

  Scan plain = RunScan(archive, 0, pattern);
  fuzz::Check(plain.output == archive, "pass-through output differs from the input");
  fuzz::Check(plain.patches.empty() || (plain.ok && plain.complete),
              "offset patches for an archive not scanned in full");
  CheckPatches(plain, pattern >> 7, "pass-through scan");

  // A small coalesce size: chunks are rewritten even in small inputs.
  Scan coalesced = RunScan(archive, 5, pattern >> 3);
  if (!coalesced.threw && !coalesced.ok) {
    fuzz::Check(coalesced.output == archive,
                "a coalescing scanner that gave up without error changed the archive");
  }
  fuzz::Check(coalesced.ok == plain.ok || coalesced.threw,
              "coalescing changed whether the archive makes sense");
  if (!coalesced.threw && coalesced.ok && coalesced.complete) {
    fuzz::Check(plain.ok && plain.complete, "only the coalescing scan completed");
    CheckSameRows(plain, coalesced, "coalescing scan");
    Scan rescan = RunScan(coalesced.output, 0, pattern >> 11);
    fuzz::Check(rescan.ok && rescan.complete, "the coalesced archive does not scan");
    CheckSameRows(plain, rescan, "coalesced archive");
    CheckPatches(coalesced, pattern >> 13, "coalescing scan");
  }
  return 0;
}
