// base_catalog_test.cpp: what a storage holds for point-in-time recovery,
// from one listing of a real local storage: base sets read from their
// manifests (oldest end first), the WAL segments and history files per
// cluster, a logical set of a database named "base" passed over, and a
// damaged base manifest named as a problem; timeline history files read
// back and parsed, a damaged one refused.
#include "core/recovery/base_catalog.h"

#include <gtest/gtest.h>

#include <string>

#include "archive/set_fixture.h"
#include "core/archive/base_layout.h"
#include "core/archive/set_layout.h"
#include "core/base/error.h"
#include "core/storage/local/local_storage.h"
#include "core/wal/wal_push.h"
#include "test_util.h"

namespace pgbak {
namespace {

using test::Put;

// PutBase writes a base set whose WAL runs from start to end (16 MiB
// segments, timeline 1).
std::string PutBase(Storage& storage, const std::string& cluster, std::time_t started, int64_t id,
                    const std::string& start, const std::string& end) {
  std::string dir = BaseSetDirectory(cluster, started, id);
  Put(storage, dir + "/base.tar.zst", "x");
  Manifest manifest;
  manifest.tool = "pgbak_ext 1.6";
  manifest.kind = "base";
  manifest.backup_id = id;
  manifest.system_identifier = cluster;
  manifest.server_version = "15.20";
  manifest.dump_format = "tar";
  manifest.started_at = FormatUtcTimestamp(started, 0);
  manifest.finished_at = FormatUtcTimestamp(started + 5, 0);
  manifest.snapshot_lsn = manifest.base.start_lsn = start;
  manifest.base.end_lsn = end;
  manifest.base.timeline = 1;
  manifest.base.wal_first_segment = WalSegmentName(1, ParseLsn(start), 16 << 20);
  manifest.base.wal_last_segment = WalSegmentName(1, ParseLsn(end) - 1, 16 << 20);
  manifest.base.wal_archived = true;
  manifest.objects.push_back({"base.tar.zst", "base", 1, 10, std::string(64, 'a'), "zstd", "none"});
  Put(storage, dir + "/" + kManifestObject, manifest.ToJson());
  return dir;
}

TEST(ReadClusterArchives, BasesAndWalPerCluster) {
  test::TempDir dir;
  LocalStorage storage(dir.path());
  std::time_t t0 = 1795309323;
  std::string newer = PutBase(storage, "7301", t0 + 600, 9, "0/8000028", "0/8000100");
  std::string older = PutBase(storage, "7301", t0, 5, "0/2000028", "0/3000100");
  test::WriteSet(storage, "7301", "base", t0, 4, true);  // a logical set of database "base"
  std::string sha(64, 'b');
  Put(storage, "7301/wal/00000001/000000010000000000000002-" + sha + ".zst", "w");
  Put(storage, "7301/wal/00000001/000000010000000000000003-" + sha + ".zst.age", "w");
  Put(storage, "7301/wal/00000001/000000010000000000000003.00000028.backup-" + sha + ".zst", "w");
  Put(storage, "7301/wal/00000002/00000002.history-" + sha + ".zst", "w");
  Put(storage, "7301/wal/00000002/000000020000000000000009.partial-" + sha + ".zst", "w");
  Put(storage, "7302/wal/00000001/000000010000000000000001-" + sha + ".zst", "w");
  std::string broken = BaseSetDirectory("7301", t0 + 1200, 12);
  Put(storage, broken + "/" + kManifestObject, "{not a manifest");

  std::map<std::string, ClusterArchive> clusters = ReadClusterArchives(storage, "");
  ASSERT_EQ(clusters.size(), 2u);
  const ClusterArchive& cluster = clusters["7301"];
  ASSERT_EQ(cluster.bases.size(), 2u);
  EXPECT_EQ(cluster.bases[0].key, older);
  EXPECT_EQ(cluster.bases[0].backup_id, 5);
  EXPECT_EQ(cluster.bases[0].end_lsn, 0x3000100u);
  EXPECT_EQ(cluster.bases[0].wal_last_segment, "000000010000000000000003");
  EXPECT_EQ(cluster.manifests[0].backup_id, 5);
  EXPECT_EQ(cluster.bases[1].key, newer);
  EXPECT_EQ(cluster.coverage.segments.at(1),
            (std::set<std::string>{"000000010000000000000002", "000000010000000000000003"}));
  EXPECT_EQ(cluster.coverage.segments.count(2), 0u) << "a .partial is not a segment";
  EXPECT_EQ(cluster.history_files, std::vector<std::string>{"00000002.history"});
  ASSERT_EQ(cluster.problems.size(), 1u);
  EXPECT_NE(cluster.problems[0].find(broken), std::string::npos) << cluster.problems[0];
  EXPECT_TRUE(clusters["7302"].bases.empty());
  EXPECT_EQ(clusters["7302"].coverage.segments.at(1).size(), 1u);
  // With a cluster, only its directory.
  EXPECT_EQ(ReadClusterArchives(storage, "7302").count("7301"), 0u);
  // The bases read back fit the plan's rules.
  EXPECT_EQ(DeduceSegmentSize(cluster.bases), 16u << 20);
}

TEST(ReadTimelineHistories, ReadBackAndParsed) {
  test::TempDir dir, wal_dir;
  LocalStorage storage(dir.path());
  test::WriteFile(wal_dir.Join("00000002.history"), "1\t0/A000100\tno recovery target specified\n");
  WalPushSettings settings{"7301", {}, 3};
  PushWalFile(storage, settings, "00000002.history", wal_dir.Join("00000002.history"));
  std::map<std::string, ClusterArchive> clusters = ReadClusterArchives(storage, "7301");
  ClusterArchive& cluster = clusters["7301"];
  ReadTimelineHistories(storage, cluster, {});
  ASSERT_EQ(cluster.coverage.histories.count(2), 1u);
  ASSERT_EQ(cluster.coverage.histories[2].size(), 1u);
  EXPECT_EQ(cluster.coverage.histories[2][0].timeline, 1u);
  EXPECT_EQ(cluster.coverage.histories[2][0].switch_lsn, 0xA000100u);
  // Damaged: recovery would follow it, so it is not passed over.
  Put(storage, "7301/wal/00000003/00000003.history-" + std::string(64, 'c') + ".zst", "w");
  clusters = ReadClusterArchives(storage, "7301");
  try {
    ReadTimelineHistories(storage, clusters["7301"], {});
    ADD_FAILURE() << "a damaged history file was read";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorrupt);
    EXPECT_NE(std::string(e.what()).find("00000003.history"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace pgbak
