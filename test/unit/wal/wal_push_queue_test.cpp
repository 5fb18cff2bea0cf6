// wal_push_queue_test.cpp: pushing ahead and answering in PostgreSQL's order
// (src/core/wal/wal_push_queue.cpp).
#include "core/wal/wal_push_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "core/base/error.h"

namespace pgbak {
namespace {

// Recorder is a push function's memory: what was pushed, how often, and
// which names it must fail or hold.
struct Recorder {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::string> pushed;  // in the order pushes finished
  std::map<std::string, int> attempts;
  std::set<std::string> failing;
  std::set<std::string> held;
  int running = 0;
  int most_running = 0;

  WalPushQueue::PushFunction Function() {
    return [this](size_t, const std::string& name, const std::function<bool()>& cancelled) {
      std::unique_lock<std::mutex> lock(mutex);
      attempts[name]++;
      running++;
      most_running = std::max(most_running, running);
      changed.notify_all();
      while (held.count(name) != 0 && !cancelled())
        changed.wait_for(lock, std::chrono::milliseconds(5));
      running--;
      changed.notify_all();
      if (cancelled())
        throw Error(ErrorKind::kCancelled, "cancelled");
      if (failing.count(name) != 0)
        throw Error(ErrorKind::kIo, "storage down for " + name, "detail of " + name,
                    "hint for " + name);
      pushed.push_back(name);
      changed.notify_all();
      return "stored " + name;
    };
  }

  // WaitFor waits until condition holds (or 10 s pass).
  template <typename Condition>
  bool WaitFor(Condition condition) {
    std::unique_lock<std::mutex> lock(mutex);
    return changed.wait_for(lock, std::chrono::seconds(10), condition);
  }
  void Release(const std::string& name) {
    std::lock_guard<std::mutex> lock(mutex);
    held.erase(name);
    changed.notify_all();
  }
};

TEST(WalPushQueue, PushesAheadInParallelAndAnswersAtOnce) {
  Recorder recorder;
  recorder.held = {"A", "B", "C"};
  WalPushQueue queue(3, 16, recorder.Function());
  queue.Offer({"A", "B", "C", "D"});
  // Three threads: A, B and C run at the same time.
  ASSERT_TRUE(recorder.WaitFor([&] { return recorder.running == 3; }));
  recorder.Release("B");
  recorder.Release("C");
  ASSERT_TRUE(recorder.WaitFor([&] { return recorder.pushed.size() == 3; }));  // B, C, D
  recorder.Release("A");
  for (const char* name : {"A", "B", "C", "D"}) {
    WalPushQueue::Outcome outcome;
    ASSERT_TRUE(queue.Await(name, {}, outcome));
    EXPECT_TRUE(outcome.ok) << name;
    EXPECT_EQ(outcome.message, std::string("stored ") + name);
  }
  EXPECT_EQ(recorder.most_running, 3);
  for (const char* name : {"A", "B", "C", "D"})
    EXPECT_EQ(recorder.attempts[name], 1) << name << " pushed more than once";
  EXPECT_EQ(queue.Entries(), 0u);
}

TEST(WalPushQueue, AwaitedFilePushedAheadIsAnsweredWithoutAPush) {
  Recorder recorder;
  WalPushQueue queue(2, 16, recorder.Function());
  queue.Offer({"A", "B"});
  ASSERT_TRUE(recorder.WaitFor([&] { return recorder.pushed.size() == 2; }));
  // The push function has returned; the queue records the outcome just after.
  for (int i = 0; i < 10000 && !queue.Finished("B"); i++)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_TRUE(queue.Finished("B"));
  WalPushQueue::Outcome outcome;
  ASSERT_TRUE(queue.Await("B", {}, outcome));
  EXPECT_TRUE(outcome.ok);
  EXPECT_TRUE(outcome.pushed_ahead);
  EXPECT_EQ(recorder.attempts["B"], 1);
}

TEST(WalPushQueue, AwaitedFileGoesFirstInLine) {
  Recorder recorder;
  recorder.held = {"X"};
  WalPushQueue queue(1, 16, recorder.Function());
  queue.Offer({"X", "A", "B", "C"});
  ASSERT_TRUE(recorder.WaitFor([&] { return recorder.running == 1; }));  // X holds the thread
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    recorder.Release("X");
  });
  WalPushQueue::Outcome outcome;
  ASSERT_TRUE(queue.Await("C", {}, outcome));
  release.join();
  EXPECT_TRUE(outcome.ok);
  EXPECT_FALSE(outcome.pushed_ahead);
  // C jumped ahead of A and B.
  std::lock_guard<std::mutex> lock(recorder.mutex);
  ASSERT_GE(recorder.pushed.size(), 2u);
  EXPECT_EQ(recorder.pushed[0], "X");
  EXPECT_EQ(recorder.pushed[1], "C");
}

TEST(WalPushQueue, FailureIsReportedAndRetriedOnlyWhenAwaited) {
  Recorder recorder;
  recorder.failing = {"A"};
  WalPushQueue queue(2, 16, recorder.Function());
  queue.Offer({"A"});
  ASSERT_TRUE(
      recorder.WaitFor([&] { return recorder.attempts["A"] == 1 && recorder.running == 0; }));
  queue.Offer({"A"});  // a failed push is not retried by looking ahead
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(recorder.attempts["A"], 1);
  WalPushQueue::Outcome outcome;
  ASSERT_TRUE(queue.Await("A", {}, outcome));  // retried now: fails again
  EXPECT_FALSE(outcome.ok);
  EXPECT_EQ(outcome.message, "storage down for A");
  EXPECT_EQ(outcome.detail, "detail of A");
  EXPECT_EQ(outcome.hint, "hint for A");
  EXPECT_EQ(recorder.attempts["A"], 2);
  {
    std::lock_guard<std::mutex> lock(recorder.mutex);
    recorder.failing.clear();
  }
  ASSERT_TRUE(queue.Await("A", {}, outcome));
  EXPECT_TRUE(outcome.ok);
  EXPECT_EQ(recorder.attempts["A"], 3);
}

TEST(WalPushQueue, LookaheadIsBoundedAndForgetsWhatIsNoLongerWaiting) {
  Recorder recorder;
  WalPushQueue queue(1, 2, recorder.Function());
  queue.Offer({"A", "B", "C", "D"});
  ASSERT_TRUE(recorder.WaitFor([&] { return recorder.pushed.size() == 2; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(recorder.attempts.count("C"), 0u);
  EXPECT_EQ(queue.Entries(), 2u);
  // A and B were archived by someone else: forgotten, and C, D take their room.
  queue.Offer({"C", "D"});
  ASSERT_TRUE(recorder.WaitFor([&] { return recorder.pushed.size() == 4; }));
  EXPECT_EQ(queue.Entries(), 2u);
}

TEST(WalPushQueue, KeepWaitingFalseReturnsAndTheResultIsKept) {
  Recorder recorder;
  recorder.held = {"A"};
  WalPushQueue queue(1, 16, recorder.Function());
  WalPushQueue::Outcome outcome;
  int ticks = 0;
  EXPECT_FALSE(queue.Await(
      "A", [&] { return ++ticks < 3; }, outcome, 5));
  EXPECT_EQ(ticks, 3);
  recorder.Release("A");
  ASSERT_TRUE(recorder.WaitFor([&] { return recorder.pushed.size() == 1; }));
  ASSERT_TRUE(queue.Await("A", {}, outcome));
  EXPECT_TRUE(outcome.ok);
  EXPECT_EQ(recorder.attempts["A"], 1);
}

TEST(WalPushQueue, StopCancelsRunningPushesPromptly) {
  Recorder recorder;
  recorder.held = {"A", "B"};
  auto queue = std::make_unique<WalPushQueue>(2, 16, recorder.Function());
  queue->Offer({"A", "B"});
  ASSERT_TRUE(recorder.WaitFor([&] { return recorder.running == 2; }));
  auto started = std::chrono::steady_clock::now();
  queue->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  WalPushQueue::Outcome outcome;
  ASSERT_TRUE(queue->Await("A", {}, outcome));
  EXPECT_FALSE(outcome.ok);
  EXPECT_TRUE(recorder.pushed.empty());
}

}  // namespace
}  // namespace pgbak
