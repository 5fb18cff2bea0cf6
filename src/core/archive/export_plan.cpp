// export_plan.cpp: the tables of a parallel export and their order; see
// export_plan.h.

#include "core/archive/export_plan.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

#include "core/base/no_postgres.h"

namespace pgbak {

uint64_t RelationFileBytes(const std::string& path) {
  uint64_t bytes = 0;
  for (int segment = 0;; segment++) {
    std::string file = segment == 0 ? path : path + "." + std::to_string(segment);
    struct stat status;
    if (stat(file.c_str(), &status) != 0 || !S_ISREG(status.st_mode))
      return bytes;
    bytes += static_cast<uint64_t>(status.st_size);
  }
}

std::vector<ExportTable> PlanSeparateTables(std::vector<ExportTable> tables, int jobs,
                                            uint64_t min_bytes, size_t max_tables) {
  if (jobs < 2)
    return {};
  tables.erase(std::remove_if(tables.begin(), tables.end(),
                              [&](const ExportTable& table) { return table.bytes < min_bytes; }),
               tables.end());
  std::sort(tables.begin(), tables.end(), [](const ExportTable& a, const ExportTable& b) {
    if (a.bytes != b.bytes)
      return a.bytes > b.bytes;
    if (a.schema != b.schema)
      return a.schema < b.schema;
    return a.table < b.table;
  });
  if (tables.size() > max_tables)
    tables.resize(max_tables);
  return tables;
}

std::vector<ExportTable> SplitIntoPieces(std::vector<ExportTable> plan, int jobs,
                                         uint64_t piece_min_bytes, uint64_t page_bytes) {
  if (jobs < 2 || piece_min_bytes == 0 || page_bytes == 0)
    return plan;
  std::vector<ExportTable> units;
  for (ExportTable& table : plan) {
    uint64_t blocks = table.splittable ? table.heap_bytes / page_bytes : 0;
    uint64_t count =
        std::min<uint64_t>({static_cast<uint64_t>(jobs), table.bytes / piece_min_bytes, blocks});
    if (count < 2) {
      units.push_back(std::move(table));
      continue;
    }
    for (uint64_t i = 0; i < count; i++) {
      ExportTable piece = table;
      piece.piece = static_cast<int>(i);
      piece.pieces = static_cast<int>(count);
      piece.bytes = table.bytes / count;
      piece.first_block = blocks * i / count;
      piece.end_block = i + 1 == count ? 0 : blocks * (i + 1) / count;
      units.push_back(std::move(piece));
    }
  }
  std::stable_sort(units.begin(), units.end(),
                   [](const ExportTable& a, const ExportTable& b) { return a.bytes > b.bytes; });
  return units;
}

std::string PieceCondition(const ExportTable& piece) {
  if (piece.pieces < 2)
    return "";
  std::string condition;
  if (piece.first_block > 0)
    condition = "ctid OPERATOR(pg_catalog.>=) '(" + std::to_string(piece.first_block) +
                ",0)'::pg_catalog.tid";
  if (piece.end_block > 0)
    condition += std::string(condition.empty() ? "" : " AND ") + "ctid OPERATOR(pg_catalog.<) '(" +
                 std::to_string(piece.end_block) + ",0)'::pg_catalog.tid";
  return condition;
}

std::vector<std::vector<size_t>> AssignToStreams(const std::vector<uint64_t>& sizes, int streams) {
  std::vector<std::vector<size_t>> assigned(static_cast<size_t>(std::max(streams, 1)));
  std::vector<uint64_t> busy_until(assigned.size(), 0);
  for (size_t i = 0; i < sizes.size(); i++) {
    size_t free_first = static_cast<size_t>(std::min_element(busy_until.begin(), busy_until.end()) -
                                            busy_until.begin());
    assigned[free_first].push_back(i);
    busy_until[free_first] += sizes[i];
  }
  return assigned;
}

std::string TableObjectName(size_t index, const std::string& suffix) {
  char name[32];
  std::snprintf(name, sizeof(name), "table-%04zu.copy.zst", index + 1);
  return name + suffix;
}

std::optional<size_t> TableQueue::Next() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (closed_ || next_ >= count_)
    return std::nullopt;
  return next_++;
}

void TableQueue::Close() {
  std::lock_guard<std::mutex> lock(mutex_);
  closed_ = true;
}

}  // namespace pgbak
