// base_backup_stream_test.cpp: BASE_BACKUP's COPY sub-protocol and its
// checksum warnings (src/core/archive/base_backup_stream.cpp).
#include "core/archive/base_backup_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/base/error.h"

namespace pgbak {
namespace {

// Recorder writes down what the demux calls, in order.
class Recorder : public CopyStreamHandler {
 public:
  void BeginPart(const CopyStreamPart& part) override {
    events.push_back(part.manifest
                         ? "begin manifest"
                         : "begin " + part.archive_name + " [" + part.tablespace_path + "]");
  }
  void PartData(const uint8_t* data, size_t size) override {
    events.push_back("data " + std::string(reinterpret_cast<const char*>(data), size));
  }
  void EndPart() override { events.push_back("end"); }
  void Progress(uint64_t bytes_done) override {
    events.push_back("progress " + std::to_string(bytes_done));
  }
  std::vector<std::string> events;
};

void Send(CopyStreamDemux& demux, const std::string& message) {
  demux.Message(reinterpret_cast<const uint8_t*>(message.data()), message.size());
}

std::string NewArchive(const std::string& name, const std::string& path) {
  return "n" + name + std::string(1, '\0') + path + std::string(1, '\0');
}

TEST(CopyStreamDemuxTest, ArchivesThenManifest) {
  Recorder recorder;
  CopyStreamDemux demux(recorder);
  Send(demux, NewArchive("16385.tar", "/srv/ts"));
  Send(demux, "dabc");
  Send(demux, std::string("p\0\0\0\0\0\0\x01\x02", 9));
  Send(demux, NewArchive("base.tar", ""));
  Send(demux, "dxyz");
  Send(demux, "d");
  Send(demux, "m");
  Send(demux, "d{\"PostgreSQL-Backup-Manifest-Version\": 1}");
  demux.Finish();
  std::vector<std::string> expected = {"begin 16385.tar [/srv/ts]",
                                       "data abc",
                                       "progress 258",
                                       "end",
                                       "begin base.tar []",
                                       "data xyz",
                                       "end",
                                       "begin manifest",
                                       "data {\"PostgreSQL-Backup-Manifest-Version\": 1}",
                                       "end"};
  EXPECT_EQ(recorder.events, expected);
  EXPECT_EQ(demux.archives(), 2);
  EXPECT_TRUE(demux.manifest_seen());
}

TEST(CopyStreamDemuxTest, RefusesWhatTheProtocolDoesNotAllow) {
  auto fails = [](std::vector<std::string> messages) {
    Recorder recorder;
    CopyStreamDemux demux(recorder);
    try {
      for (const std::string& message : messages)
        Send(demux, message);
      demux.Finish();
    } catch (const Error& e) {
      return e.kind() == ErrorKind::kCorrupt;
    }
    return false;
  };
  EXPECT_TRUE(fails({"dabc"}));                               // data before an archive
  EXPECT_TRUE(fails({"x"}));                                  // unknown type
  EXPECT_TRUE(fails({""}));                                   // empty
  EXPECT_TRUE(fails({std::string("nbase.tar\0", 10)}));       // path missing
  EXPECT_TRUE(fails({NewArchive("", "")}));                   // no name
  EXPECT_TRUE(fails({NewArchive("base.tar", "") + "junk"}));  // trailing bytes
  EXPECT_TRUE(fails({NewArchive("base.tar", ""), "m", NewArchive("1.tar", "/t")}));
  EXPECT_TRUE(fails({NewArchive("base.tar", ""), "m", "m"}));  // two manifests
  EXPECT_TRUE(fails({NewArchive("base.tar", ""), "p\1"}));     // short progress
  EXPECT_TRUE(fails({"m"}));                                   // no archive at all
  EXPECT_TRUE(fails({}));                                      // nothing
  EXPECT_FALSE(fails({NewArchive("base.tar", ""), "dx", "m"}));
}

TEST(ChecksumFailureCounterTest, None) {
  ChecksumFailureCounter counter;
  counter.Observe("some other warning");
  EXPECT_EQ(counter.total(), 0u);
  EXPECT_EQ(counter.first_message(), "");
}

TEST(ChecksumFailureCounterTest, OneBadPage) {
  // PostgreSQL 15 sends one warning, then the error.
  ChecksumFailureCounter counter;
  counter.Observe(
      "checksum verification failed in file \"./base/5/16384\", block 0: calculated 1C1B but "
      "expected 7F4A");
  counter.Observe("checksum verification failure during base backup");
  EXPECT_EQ(counter.total(), 1u);
  EXPECT_NE(counter.first_message().find("./base/5/16384"), std::string::npos);
}

TEST(ChecksumFailureCounterTest, ManyBadPagesUseTheGrandTotal) {
  // At most five per-block warnings per file, a per-file total, and a
  // grand total over all files.
  ChecksumFailureCounter counter;
  for (int i = 0; i < 5; i++)
    counter.Observe("checksum verification failed in file \"./base/5/16384\", block " +
                    std::to_string(i) + ": calculated 1 but expected 2");
  counter.Observe(
      "further checksum verification failures in file \"./base/5/16384\" will not be "
      "reported");
  counter.Observe("file \"./base/5/16384\" has a total of 9 checksum verification failures");
  counter.Observe(
      "checksum verification failed in file \"./base/5/16390\", block 3: calculated "
      "1 but expected 2");
  counter.Observe("10 total checksum verification failures");
  counter.Observe("checksum verification failure during base backup");
  EXPECT_EQ(counter.total(), 10u);
}

TEST(ChecksumFailureCounterTest, ErrorAloneCountsOne) {
  ChecksumFailureCounter counter;
  counter.Observe("checksum verification failure during base backup");
  EXPECT_EQ(counter.total(), 1u);
}

}  // namespace
}  // namespace pgbak
