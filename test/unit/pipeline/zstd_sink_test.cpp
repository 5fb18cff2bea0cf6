// zstd_sink_test.cpp: zstd compression and decompression stages
// (src/core/zstd_sink.cpp), including the signal mask of libzstd's threads.
#include "core/pipeline/zstd_sink.h"

#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "core/base/error.h"
#include "test_util.h"

namespace pgbak {
namespace {

using test::Bytes;

// MixedData is partly random, partly repetitive, like a real dump.
std::string MixedData(size_t size, uint64_t seed) {
  std::mt19937_64 random(seed);
  std::string data;
  data.reserve(size);
  while (data.size() < size) {
    if (random() % 2 == 0) {
      for (int i = 0; i < 4096 && data.size() < size; i++) {
        data.push_back(static_cast<char>(random() & 0xff));
      }
    } else {
      for (int i = 0; i < 100 && data.size() < size; i++) {
        data += "INSERT INTO t VALUES (" + std::to_string(random() % 1000) + ");\n";
      }
    }
  }
  data.resize(size);
  return data;
}

std::string Compress(const std::string& data, int level, int threads) {
  StringSink out;
  ZstdCompressSink zstd(out, level, threads);
  for (size_t offset = 0; offset < data.size(); offset += 65521) {
    zstd.Write(Bytes(data) + offset, std::min<size_t>(65521, data.size() - offset));
  }
  zstd.Finish();
  EXPECT_TRUE(out.finished());
  return out.contents();
}

std::string Decompress(const std::string& compressed, size_t chunk = 4093) {
  StringSink out;
  ZstdDecompressSink zstd(out);
  for (size_t offset = 0; offset < compressed.size(); offset += chunk) {
    zstd.Write(Bytes(compressed) + offset, std::min(chunk, compressed.size() - offset));
  }
  zstd.Finish();
  EXPECT_TRUE(out.finished());
  return out.contents();
}

TEST(ZstdSinkTest, RoundTripSingleAndMultiThreaded) {
  std::string data = MixedData(3 << 20, 1);
  for (int threads : {0, 2}) {
    std::string compressed = Compress(data, 3, threads);
    EXPECT_LT(compressed.size(), data.size());
    EXPECT_EQ(Decompress(compressed), data) << "threads " << threads;
  }
}

TEST(ZstdSinkTest, HighlyCompressibleDataExpandsThroughBoundedBuffers) {
  // 64 MiB of zeros compress to almost nothing; decompressing must loop over
  // the fixed output buffer many times for one small input write.
  std::string zeros(64 << 20, '\0');
  std::string compressed = Compress(zeros, 1, 0);
  EXPECT_LT(compressed.size(), 64u * 1024);
  EXPECT_EQ(Decompress(compressed, compressed.size()), zeros);
}

TEST(ZstdSinkTest, EmptyInputIsOneValidFrame) {
  std::string compressed = Compress("", 3, 0);
  EXPECT_FALSE(compressed.empty());
  EXPECT_EQ(Decompress(compressed), "");
}

TEST(ZstdSinkTest, ConcatenatedFramesDecompressToConcatenation) {
  EXPECT_EQ(Decompress(Compress("first,", 1, 0) + Compress("second", 19, 0)), "first,second");
}

TEST(ZstdSinkTest, TruncatedStreamFailsAtFinish) {
  std::string compressed = Compress(MixedData(1 << 20, 2), 3, 0);
  StringSink out;
  ZstdDecompressSink zstd(out);
  zstd.Write(Bytes(compressed), compressed.size() - 10);
  try {
    zstd.Finish();
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kCorrupt);
    EXPECT_NE(std::string(error.what()).find("middle of a frame"), std::string::npos);
  }
  EXPECT_FALSE(out.finished());
}

TEST(ZstdSinkTest, GarbageAndEmptyInputAreCorrupt) {
  StringSink out;
  ZstdDecompressSink garbage(out);
  try {
    WriteString(garbage, "this is not zstd");
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kCorrupt);
  }
  ZstdDecompressSink empty(out);
  try {
    empty.Finish();
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kCorrupt);
  }
}

TEST(ZstdSinkTest, FlippedByteIsDetectedByTheFrameChecksum) {
  std::string compressed = Compress(MixedData(1 << 20, 3), 3, 0);
  compressed[compressed.size() / 2] ^= 0x01;
  EXPECT_THROW(Decompress(compressed), Error);
}

TEST(ZstdSinkTest, WriteAfterFinishIsAnError) {
  StringSink out;
  ZstdCompressSink zstd(out, 3, 0);
  zstd.Finish();
  EXPECT_THROW(WriteString(zstd, "x"), Error);
  EXPECT_THROW(zstd.Finish(), Error);
}

// BlockedSignals reads a thread's blocked-signal mask from /proc.
uint64_t BlockedSignals(const std::string& tid) {
  std::string status = test::ReadFile("/proc/self/task/" + tid + "/status");
  size_t line = status.find("SigBlk:");
  EXPECT_NE(line, std::string::npos);
  return std::stoull(status.substr(line + 7, 32), nullptr, 16);
}

// Bit is a signal's bit in a /proc mask.
uint64_t Bit(int sig) {
  return uint64_t{1} << (sig - 1);
}

TEST(ZstdSinkTest, WorkerThreadsStartWithEverySignalBlocked) {
  sigset_t before;
  pthread_sigmask(SIG_SETMASK, nullptr, &before);
  ASSERT_FALSE(sigismember(&before, SIGTERM));

  StringSink out;
  ZstdCompressSink zstd(out, 3, 2);
  std::string data = MixedData(4 << 20, 4);
  zstd.Write(Bytes(data), data.size());

  std::string self = std::to_string(syscall(SYS_gettid));
  std::unique_ptr<DIR, int (*)(DIR*)> tasks(opendir("/proc/self/task"), closedir);
  ASSERT_TRUE(tasks);
  int workers = 0;
  while (struct dirent* entry = readdir(tasks.get())) {
    std::string tid = entry->d_name;
    if (tid == "." || tid == ".." || tid == self) {
      continue;
    }
    workers++;
    uint64_t blocked = BlockedSignals(tid);
    for (int sig :
         {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGCHLD, SIGPIPE, SIGURG}) {
      EXPECT_TRUE(blocked & Bit(sig)) << "thread " << tid << " signal " << sig;
    }
  }
  EXPECT_GE(workers, 2);
  // The calling thread's own mask is restored.
  EXPECT_EQ(BlockedSignals(self) & Bit(SIGTERM), 0u);
  zstd.Finish();
  EXPECT_EQ(Decompress(out.contents()), data);
}

// A throwing interrupt check abandons a slow stream in the middle, and the
// stage can still be destroyed (its threads joined) afterwards.
TEST(ZstdCompressSinkTest, InterruptCheckAbandonsTheStream) {
  StringSink out;
  std::string input(24 << 20, '\0');
  uint32_t x = 12345;
  for (char& c : input) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>('a' + (x >> 16) % 16);
  }
  int calls = 0;
  auto compress = std::make_unique<ZstdCompressSink>(out, 19, 2);
  compress->SetInterruptCheck([&] {
    if (++calls > 3)
      throw Error(ErrorKind::kCancelled, "stop");
  });
  bool threw = false;
  try {
    compress->Write(reinterpret_cast<const uint8_t*>(input.data()), input.size());
    compress->Finish();
  } catch (const Error& e) {
    threw = e.kind() == ErrorKind::kCancelled;
  }
  EXPECT_TRUE(threw);
  EXPECT_FALSE(out.finished());
  compress.reset();
}

}  // namespace
}  // namespace pgbak
