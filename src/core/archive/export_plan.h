// export_plan.h: which tables a parallel logical export (backup option
// "jobs" > 1) takes out of pg_dump's archive, and in which order.
//
// A backup with jobs > 1 runs pg_dump for the definitions and the small
// tables, as always, with --exclude-table-data for the large ones; `jobs`
// streams, each its own libpq session in the dump's exported snapshot,
// COPY the large tables into objects of their own. The streams take the
// tables from one queue, largest first: a stream that finishes a table takes
// the next one, so the work balances itself whatever the real speed of each
// table is (the longest-processing-time-first rule when bytes are time).
// Nothing here needs a server.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace pgbak {

// kSeparateTableMinBytes: a table smaller than this (the main forks of its
// heap and TOAST table) stays in pg_dump's archive. A stream per table
// costs a session, a snapshot import and an object: worth it only where
// the table's COPY takes long enough to run beside another.
constexpr uint64_t kSeparateTableMinBytes = 8ull << 20;

// kMaxSeparateTables bounds the tables that get objects of their own: each
// is an --exclude-table-data argument of pg_dump (whose command line
// backup_options.h keeps under 100 KiB) and an object of the set. The
// largest go first; the rest stay in the archive.
constexpr size_t kMaxSeparateTables = 200;

// kPageBytes is PostgreSQL's usual block size (BLCKSZ); a server built with
// another one says so in its block_size setting.
constexpr uint64_t kPageBytes = 8192;

// ExportTable is one table whose data the backup holds, with its size in
// the dump's snapshot; or, once SplitIntoPieces cut it, one piece of it: a
// range of its heap's blocks, which a stream COPYs on its own.
struct ExportTable {
  std::string schema;
  std::string table;
  uint32_t oid = 0;          // pg_class.oid in the snapshot
  uint64_t bytes = 0;        // heap and TOAST main forks (a piece: its share)
  uint64_t heap_bytes = 0;   // the heap's main fork alone
  int piece = 0;             // from 0
  int pieces = 1;            // 1: the whole table
  uint64_t first_block = 0;  // a piece's rows are those at blocks >= first_block
  uint64_t end_block = 0;    // and < end_block (0: no end, the last piece)
  // A piece is read by a query (COPY (SELECT ...)), which PostgreSQL plans:
  // planning evaluates the table's index expressions and predicates and
  // its statistics' expressions, its owner's code. So a piece is read as
  // the owner (a restore session's SET SESSION AUTHORIZATION), and only a
  // table whose owner can read all of it is cut: SplitIntoPieces leaves a
  // table whole unless splittable.
  std::string owner;
  uint32_t owner_oid = 0;
  bool splittable = false;
};

// RelationFileBytes is the size on disk of one fork of a relation whose
// first segment file is path (data directory + pg_relation_filepath): the
// sum of path, path.1, path.2, ... up to the first that does not exist
// (PostgreSQL cuts a fork into 1 GB segments). 0 if there is none (a
// relation rewritten since its path was read). A plan's estimate: reading
// sizes from the files costs a stat each, where pg_relation_size opens
// every relation in the server (1.8 to 2.5 s for 20,000 tables and their
// TOAST tables here against 0.3 s for their paths).
uint64_t RelationFileBytes(const std::string& path);

// PlanSeparateTables returns the tables of tables that get objects of their
// own, largest first (ties by schema, then name, for a stable order): none
// with jobs < 2, only those of at least min_bytes, at most max_tables.
std::vector<ExportTable> PlanSeparateTables(std::vector<ExportTable> tables, int jobs,
                                            uint64_t min_bytes = kSeparateTableMinBytes,
                                            size_t max_tables = kMaxSeparateTables);

// SplitIntoPieces cuts each table of plan (PlanSeparateTables' tables) of
// at least 2 x piece_min_bytes into min(jobs, bytes / piece_min_bytes)
// pieces (and no more than its heap has blocks): ranges of equal numbers of
// its heap's blocks, the last one open-ended (rows the snapshot sees in
// blocks added since are the last piece's), so that one table much larger
// than the others runs on every stream, not on one while the others idle.
// Returns the pieces and the uncut tables, largest first (a table's pieces
// in block order). jobs < 2 or piece_min_bytes 0: plan unchanged; a table
// that is not splittable stays whole.
std::vector<ExportTable> SplitIntoPieces(std::vector<ExportTable> plan, int jobs,
                                         uint64_t piece_min_bytes,
                                         uint64_t page_bytes = kPageBytes);

// PieceCondition is the WHERE condition of a piece's rows, by ctid (a TID
// range scan reads only its blocks): "" for a whole table; pg_catalog's
// operators and type, whatever a session's search_path.
std::string PieceCondition(const ExportTable& piece);

// AssignToStreams is what the shared queue gives each of streams when a
// table's work is its size: the indexes of sizes (taken in order) per
// stream, each table going to the stream that is free first (the lowest
// index among equals). Used for the server log and the tests.
std::vector<std::vector<size_t>> AssignToStreams(const std::vector<uint64_t>& sizes, int streams);

// TableObjectName is the object name of the index-th separate table (from
// 0): "table-0001.copy.zst", with suffix (".age") when encrypted. Numbered,
// not named: table names are data, and an encrypted set's object names are
// in the clear.
std::string TableObjectName(size_t index, const std::string& suffix = "");

// TableQueue hands the separate tables to the streams, one at a time, in
// plan order; safe to use from several threads.
class TableQueue {
 public:
  explicit TableQueue(size_t count) : count_(count) {}
  // Next is the index of the next table to export, or none when all are
  // taken or Close() was called.
  std::optional<size_t> Next();
  // Close makes every later Next() return none (a stream failed, or the
  // backup stops).
  void Close();

 private:
  std::mutex mutex_;
  size_t count_;
  size_t next_ = 0;
  bool closed_ = false;
};

}  // namespace pgbak
