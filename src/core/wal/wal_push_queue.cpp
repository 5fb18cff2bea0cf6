// wal_push_queue.cpp: the threads that push WAL files ahead of time.
#include "core/wal/wal_push_queue.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <set>

#include "core/base/error.h"
#include "core/base/signals_blocked.h"
#include "core/base/no_postgres.h"

namespace pgbak {

WalPushQueue::WalPushQueue(size_t workers, size_t max_ahead, PushFunction push)
    : push_(std::move(push)), max_ahead_(std::max<size_t>(max_ahead, 1)) {
  AllSignalsBlocked blocked;
  try {
    for (size_t i = 0; i < std::max<size_t>(workers, 1); i++)
      threads_.emplace_back([this, i] { WorkerMain(i); });
  } catch (...) {
    Stop();
    throw;
  }
}

WalPushQueue::~WalPushQueue() {
  Stop();
}

void WalPushQueue::Stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  work_done_.notify_all();
  for (std::thread& thread : threads_)
    if (thread.joinable())
      thread.join();
  threads_.clear();
}

size_t WalPushQueue::Entries() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

bool WalPushQueue::Finished(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(name);
  return it != entries_.end() &&
         (it->second.state == State::kSucceeded || it->second.state == State::kFailed);
}

void WalPushQueue::Offer(const std::vector<std::string>& names) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::set<std::string> waiting(names.begin(), names.end());
  for (auto it = entries_.begin(); it != entries_.end();) {
    bool finished = it->second.state == State::kSucceeded || it->second.state == State::kFailed;
    if (finished && waiting.count(it->first) == 0)
      it = entries_.erase(it);
    else
      ++it;
  }
  bool added = false;
  for (const std::string& name : names) {
    if (entries_.size() >= max_ahead_)
      break;
    if (entries_.count(name) != 0)
      continue;
    entries_[name] = Entry{};
    queued_.push_back(name);
    added = true;
  }
  if (added)
    work_ready_.notify_all();
}

bool WalPushQueue::Await(const std::string& name, const std::function<bool()>& keep_waiting,
                         Outcome& outcome, long tick_ms) {
  std::unique_lock<std::mutex> lock(mutex_);
  auto it = entries_.find(name);
  bool ahead = it != entries_.end() && it->second.state == State::kSucceeded;
  if (it == entries_.end() || it->second.state == State::kFailed) {
    // Not pushed yet, or failed earlier (it is retried now that it is due).
    entries_[name] = Entry{};
    queued_.erase(std::remove(queued_.begin(), queued_.end(), name), queued_.end());
    queued_.push_front(name);
    work_ready_.notify_one();
  } else if (it->second.state == State::kQueued) {
    // Due now: first in line.
    queued_.erase(std::remove(queued_.begin(), queued_.end(), name), queued_.end());
    queued_.push_front(name);
  }
  for (;;) {
    it = entries_.find(name);
    if (it == entries_.end()) {
      // Only Await forgets a file that is not finished; cannot happen.
      outcome = Outcome{false, false, "the push of \"" + name + "\" was lost", "", ""};
      return true;
    }
    if (it->second.state == State::kSucceeded || it->second.state == State::kFailed) {
      outcome.ok = it->second.state == State::kSucceeded;
      outcome.pushed_ahead = ahead;
      outcome.message = it->second.message;
      outcome.detail = it->second.detail;
      outcome.hint = it->second.hint;
      entries_.erase(it);
      return true;
    }
    if (stopping_) {
      outcome = Outcome{false, false, "the archiver is stopping", "", ""};
      return true;
    }
    work_done_.wait_for(lock, std::chrono::milliseconds(tick_ms));
    lock.unlock();
    bool keep = !keep_waiting || keep_waiting();
    lock.lock();
    if (!keep)
      return false;
  }
}

void WalPushQueue::WorkerMain(size_t worker) {
  std::function<bool()> cancelled = [this] { return stopping_.load(); };
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_ready_.wait(lock, [this] { return stopping_ || !queued_.empty(); });
    if (stopping_)
      return;
    std::string name = queued_.front();
    queued_.pop_front();
    entries_[name].state = State::kRunning;
    lock.unlock();
    bool ok = false;
    std::string message;
    std::string detail;
    std::string hint;
    try {
      message = push_(worker, name, cancelled);
      ok = true;
    } catch (const Error& error) {
      message = error.what();
      detail = error.detail();
      hint = error.hint();
    } catch (const std::exception& error) {
      message = error.what();
    } catch (...) {
      message = "unknown error";
    }
    lock.lock();
    auto it = entries_.find(name);
    if (it != entries_.end()) {
      it->second.state = ok ? State::kSucceeded : State::kFailed;
      it->second.message = std::move(message);
      it->second.detail = std::move(detail);
      it->second.hint = std::move(hint);
    }
    work_done_.notify_all();
  }
}

}  // namespace pgbak
