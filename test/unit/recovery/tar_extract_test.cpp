// tar_extract_test.cpp: unpacking tar archives safely: an archive made by
// the stock tar (files, directories, a link within, a long name) comes out
// as it went in; every entry that would escape the target (absolute, "..",
// links outside, paths through links), hard links, devices, a damaged
// header and a truncated archive are refused; modes capped at PostgreSQL's
// own (0640, 0750); GNU's old header keeps no name prefix.
#include "core/recovery/tar_extract.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "core/base/error.h"
#include "test_util.h"

namespace pgbak {
namespace {

using test::ReadFile;
using test::RunShell;
using test::TempDir;
using test::WriteFile;

// Header builds one ustar header block.
std::string Header(const std::string& name, char type, uint64_t size, const std::string& link = "",
                   unsigned mode = 0600) {
  std::string h(kTarBlock, '\0');
  std::memcpy(&h[0], name.data(), std::min<size_t>(name.size(), 100));
  std::snprintf(&h[100], 8, "%07o", mode);
  std::snprintf(&h[108], 8, "%07o", 0u);
  std::snprintf(&h[116], 8, "%07o", 0u);
  std::snprintf(&h[124], 12, "%011llo", static_cast<unsigned long long>(size));
  std::snprintf(&h[136], 12, "%011o", 0u);
  h[156] = type;
  std::memcpy(&h[157], link.data(), std::min<size_t>(link.size(), 100));
  std::memcpy(&h[257],
              "ustar\0"
              "00",
              8);
  std::memset(&h[148], ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h)
    sum += c;
  std::snprintf(&h[148], 8, "%06o", sum);
  h[155] = ' ';
  return h;
}

// Checksummed is header h with its checksum computed again.
std::string Checksummed(std::string h) {
  std::memset(&h[148], ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : h)
    sum += c;
  std::snprintf(&h[148], 8, "%06o", sum);
  h[155] = ' ';
  return h;
}

// Entry is a header and its data, padded.
std::string Entry(const std::string& name, char type, const std::string& data = "",
                  const std::string& link = "") {
  std::string out = Header(name, type, type == '0' ? data.size() : 0, link);
  if (type == '0') {
    out += data;
    out += std::string((kTarBlock - data.size() % kTarBlock) % kTarBlock, '\0');
  }
  return out;
}

std::string End() {
  return std::string(2 * kTarBlock, '\0');
}

// Extract feeds archive to a sink into dir in pieces of step bytes.
void Extract(const std::string& dir, const std::string& archive, size_t step = 7) {
  TarExtractSink sink(dir);
  for (size_t at = 0; at < archive.size(); at += step)
    sink.Write(reinterpret_cast<const uint8_t*>(archive.data()) + at,
               std::min(step, archive.size() - at));
  sink.Finish();
}

// Refused says whether extracting archive fails with kCorrupt and leaves
// nothing named victim outside dir.
std::string Refusal(const std::string& archive) {
  TempDir dir;
  std::string target = dir.Join("target");
  mkdir(target.c_str(), 0700);
  try {
    Extract(target, archive);
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kCorrupt) << e.what();
    struct stat st;
    EXPECT_NE(lstat(dir.Join("victim").c_str(), &st), 0) << "something escaped";
    return e.what();
  }
  return "";
}

TEST(SafeTarPath, Normalizes) {
  EXPECT_EQ(SafeTarPath("./a//b/"), "a/b");
  EXPECT_EQ(SafeTarPath("./"), "");
  EXPECT_EQ(SafeTarPath("base/1/2"), "base/1/2");
  EXPECT_THROW(SafeTarPath("/etc/passwd"), Error);
  EXPECT_THROW(SafeTarPath("a/../../b"), Error);
  EXPECT_THROW(SafeTarPath(".."), Error);
}

TEST(SymlinkStaysInside, Rules) {
  EXPECT_TRUE(SymlinkStaysInside("pg_wal", "other/dir"));
  EXPECT_TRUE(SymlinkStaysInside("a/b/link", "../c"));
  EXPECT_TRUE(SymlinkStaysInside("a/link", "../c"));
  EXPECT_FALSE(SymlinkStaysInside("link", "../c"));
  EXPECT_FALSE(SymlinkStaysInside("a/link", "../../c"));
  EXPECT_FALSE(SymlinkStaysInside("link", "/etc"));
  EXPECT_FALSE(SymlinkStaysInside("link", ""));
  // ".." after a name could climb through another link: refused.
  EXPECT_FALSE(SymlinkStaysInside("a/b/link", "x/../y"));
}

TEST(TarExtract, StockTarRoundTrip) {
  TempDir dir;
  std::string src = dir.Join("src");
  RunShell("mkdir -p " + src + "/base/1 " + src + "/pg_tblspc " + src +
           "/empty && printf hello > " + src + "/base/1/1259 && head -c 300000 /dev/urandom > " +
           src + "/big && ln -s base/1 " + src + "/inside && printf deep > " + src + "/base/1/" +
           std::string(120, 'n'));
  int status = 0;
  RunShell("tar --format=gnu -C " + src + " -cf " + dir.Join("a.tar") + " .", &status);
  ASSERT_EQ(status, 0);
  std::string out = dir.Join("out");
  mkdir(out.c_str(), 0700);
  Extract(out, ReadFile(dir.Join("a.tar")), 4096 + 3);
  EXPECT_EQ(ReadFile(out + "/base/1/1259"), "hello");
  EXPECT_EQ(ReadFile(out + "/big"), ReadFile(src + "/big"));
  EXPECT_EQ(ReadFile(out + "/base/1/" + std::string(120, 'n')), "deep");
  char link[64] = {};
  ASSERT_GT(readlink((out + "/inside").c_str(), link, sizeof link - 1), 0);
  EXPECT_STREQ(link, "base/1");
  struct stat st;
  EXPECT_EQ(stat((out + "/empty").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  // pax names too.
  std::string pax = dir.Join("pax");
  mkdir(pax.c_str(), 0700);
  RunShell("tar --format=pax -C " + src + " -cf " + dir.Join("p.tar") + " .", &status);
  ASSERT_EQ(status, 0);
  Extract(pax, ReadFile(dir.Join("p.tar")));
  EXPECT_EQ(ReadFile(pax + "/base/1/" + std::string(120, 'n')), "deep");
}

TEST(TarExtract, HandMadeArchive) {
  TempDir dir;
  Extract(dir.path(), Entry("./", '5') + Entry("./global/", '5') +
                          Entry("global/pg_control", '0', std::string(8192, 'c')) +
                          Entry("backup_label", '0', "START WAL LOCATION") + End() +
                          std::string(4096, '\0'));
  EXPECT_EQ(ReadFile(dir.Join("global/pg_control")), std::string(8192, 'c'));
  EXPECT_EQ(ReadFile(dir.Join("backup_label")), "START WAL LOCATION");
}

TEST(TarExtract, RefusesEscapes) {
  EXPECT_NE(Refusal(Entry("/tmp/victim", '0', "x") + End()).find("absolute"), std::string::npos);
  EXPECT_NE(Refusal(Entry("../victim", '0', "x") + End()).find(".."), std::string::npos);
  EXPECT_NE(Refusal(Entry("a/../../victim", '0', "x") + End()).find(".."), std::string::npos);
  EXPECT_NE(Refusal(Entry("up", '2', "", "..") + End()).find("outside"), std::string::npos);
  EXPECT_NE(Refusal(Entry("abs", '2', "", "/etc") + End()).find("outside"), std::string::npos);
  // A path through a link, even one that points inside.
  EXPECT_NE(
      Refusal(Entry("d/", '5') + Entry("l", '2', "", "d") + Entry("l/victim", '0', "x") + End())
          .find("not a directory"),
      std::string::npos);
  EXPECT_NE(Refusal(Entry("h", '1', "", "backup_label") + End()).find("hard link"),
            std::string::npos);
  EXPECT_NE(Refusal(Entry("dev", '3') + End()).find("device"), std::string::npos);
  EXPECT_NE(Refusal(Entry("fifo", '6') + End()).find("fifo"), std::string::npos);
  EXPECT_NE(Refusal(Entry("f", '0', "1") + Entry("f", '0', "2") + End()).find("twice"),
            std::string::npos);
}

TEST(TarExtract, ModesAtMostPostgreSQLs) {
  TempDir dir;
  mode_t saved = umask(0);
  std::string archive = Header("open/", '5', 0, "", 07777) + Header("open/f", '0', 1, "", 07777) +
                        std::string("x") + std::string(kTarBlock - 1, '\0') +
                        Header("closed/", '5', 0, "", 0) + Header("closed/f", '0', 0, "", 0) +
                        Header("group/", '5', 0, "", 0750) + Header("group/f", '0', 0, "", 0640) +
                        End();
  try {
    Extract(dir.path(), archive);
  } catch (...) {
    umask(saved);
    throw;
  }
  umask(saved);
  auto mode = [&](const std::string& relative) {
    struct stat st;
    EXPECT_EQ(lstat(dir.Join(relative).c_str(), &st), 0) << relative;
    return st.st_mode & 07777;
  };
  EXPECT_EQ(mode("open"), 0750u);
  EXPECT_EQ(mode("open/f"), 0640u);
  EXPECT_EQ(mode("closed"), 0700u);
  EXPECT_EQ(mode("closed/f"), 0600u);
  EXPECT_EQ(mode("group"), 0750u);
  EXPECT_EQ(mode("group/f"), 0640u);
}

TEST(TarExtract, GnuHeaderHasNoNamePrefix) {
  // GNU tar's old format ("ustar  \0") keeps times where ustar has its
  // name prefix: they are no part of the name.
  std::string h = Header("backup_label", '0', 2);
  std::memcpy(&h[257], "ustar  \0", 8);
  std::memcpy(&h[345], "14712345670", 11);  // an access time
  TempDir dir;
  Extract(dir.path(), Checksummed(h) + "ok" + std::string(kTarBlock - 2, '\0') + End());
  EXPECT_EQ(ReadFile(dir.Join("backup_label")), "ok");
  // A POSIX ustar header's prefix is part of the name.
  h = Header("f", '0', 2);
  std::memcpy(&h[345], "pre", 3);
  TempDir posix;
  Extract(posix.path(), Checksummed(h) + "ok" + std::string(kTarBlock - 2, '\0') + End());
  EXPECT_EQ(ReadFile(posix.Join("pre/f")), "ok");
}

TEST(TarExtract, RefusesDamage) {
  std::string good = Entry("f", '0', "hello") + End();
  std::string bad = good;
  bad[0] = 'g';  // the checksum no longer matches
  EXPECT_NE(Refusal(bad).find("checksum"), std::string::npos);
  EXPECT_NE(Refusal(good.substr(0, kTarBlock + 3)).find("middle"), std::string::npos);
  EXPECT_NE(Refusal(good.substr(0, 2 * kTarBlock)).find("end-of-archive"), std::string::npos);
  EXPECT_NE(Refusal(good + "junk").find("after its end"), std::string::npos);
  EXPECT_EQ(Refusal(good), "");
}

}  // namespace
}  // namespace pgbak
