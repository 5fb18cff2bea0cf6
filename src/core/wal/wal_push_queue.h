// wal_push_queue.h: pushing WAL files ahead of the archiver's asking.
//
// PostgreSQL hands the archive module one file at a time and waits for the
// answer, which over S3 costs a round trip or more per 16 MiB. A busy server
// writes WAL faster than that. As pgBackRest's asynchronous archive-push
// does, the archiver therefore also looks at the other files waiting in
// pg_wal/archive_status (Offer) and a few threads push them in parallel;
// when PostgreSQL then asks for a file (Await), a push that already
// succeeded answers at once, one under way is waited for, and a missing or
// failed one is pushed now, first in line. PostgreSQL still learns of each
// file in its own order, only once it is durable.
//
// The queue knows nothing of PostgreSQL: the push function runs on the
// queue's threads (created with every signal blocked) and must not call
// PostgreSQL; Await's keep_waiting runs on the caller's thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace pgbak {

// WalPushQueue runs pushes on a fixed set of threads.
class WalPushQueue {
 public:
  // PushFunction stores one file: worker is the thread's index (for state
  // a thread keeps, such as its own HTTP connection), cancelled says when
  // to give up. It returns a note for the log and throws on failure.
  using PushFunction = std::function<std::string(size_t worker, const std::string& name,
                                                 const std::function<bool()>& cancelled)>;

  // Outcome is what became of one file's push.
  struct Outcome {
    bool ok = false;
    bool pushed_ahead = false;  // finished before it was awaited
    std::string message;        // the push's note, or the error
    std::string detail;         // the error's detail (pgbak::Error), if any
    std::string hint;           // and its hint
  };

  // workers >= 1 threads; at most max_ahead files are queued, running or
  // remembered at once.
  WalPushQueue(size_t workers, size_t max_ahead, PushFunction push);
  // The destructor stops (see Stop).
  ~WalPushQueue();
  WalPushQueue(const WalPushQueue&) = delete;
  WalPushQueue& operator=(const WalPushQueue&) = delete;

  // Offer takes the names now waiting to be archived, in the order they
  // will be asked for: names not known yet are queued (up to max_ahead
  // entries in all); what finished but is no longer waiting (archived by
  // an earlier archiver, say) is forgotten. A failed push is not retried
  // until it is awaited, so an unreachable storage is not hammered.
  void Offer(const std::vector<std::string>& names);

  // Await returns name's outcome once its push ended, queuing it first in
  // line if it is not queued or running (or failed before), and forgets
  // it. keep_waiting runs on the calling thread every tick_ms while the
  // push is under way; when it returns false, Await returns false and the
  // push goes on (a later Await picks up its outcome).
  bool Await(const std::string& name, const std::function<bool()>& keep_waiting, Outcome& outcome,
             long tick_ms = 100);

  // Stop asks every push to give up and joins the threads; idempotent.
  void Stop();

  // Entries is how many files are queued, running or remembered.
  size_t Entries() const;

  // Finished says whether name's push has ended (succeeded or failed) and
  // is remembered for its Await.
  bool Finished(const std::string& name) const;

 private:
  enum class State { kQueued, kRunning, kSucceeded, kFailed };
  struct Entry {
    State state = State::kQueued;
    std::string message;
    std::string detail;
    std::string hint;
  };

  // WorkerMain is one thread: takes the first queued file, pushes it,
  // records the outcome, until Stop.
  void WorkerMain(size_t worker);

  PushFunction push_;
  size_t max_ahead_;
  mutable std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  std::map<std::string, Entry> entries_;
  std::deque<std::string> queued_;
  std::atomic<bool> stopping_{false};
  std::vector<std::thread> threads_;
};

}  // namespace pgbak
