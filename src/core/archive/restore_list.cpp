// restore_list.cpp: see restore_list.h.
#include "core/archive/restore_list.h"

#include <cstdlib>
#include <memory>
#include <string>

#include "core/pipeline/sink.h"
#include "core/storage/local/local_storage.h"
#include "core/base/no_postgres.h"

namespace pgbak {

std::string WriteRestoreList(const std::string& text, const std::string& data_path,
                             const std::set<int>& skip, const std::string& suffix) {
  std::string kept;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos)
      end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    bool ours = line.find(" EXTENSION - pgbak_ext ") != std::string::npos ||
                line.find(" COMMENT - EXTENSION pgbak_ext ") != std::string::npos;
    // An entry line starts with its dump id and a semicolon.
    bool skipped = false;
    if (!skip.empty() && !line.empty() && line[0] >= '0' && line[0] <= '9') {
      int dump_id = std::atoi(line.c_str());
      skipped = skip.count(dump_id) != 0;
    }
    if (!ours && !skipped)
      kept += line + "\n";
  }
  std::string path = data_path + suffix;
  LocalStorage files(path.substr(0, path.rfind('/')), Durability::kScratch);
  std::unique_ptr<ObjectWriter> writer = files.Create(path.substr(path.rfind('/') + 1));
  WriteString(*writer, kept);
  writer->Finish();
  return path;
}

}  // namespace pgbak
