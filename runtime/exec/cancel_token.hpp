// Cancellation of a running job from another thread. One token per job run:
// callbacks registered with on_cancel run once, on the thread that calls
// cancel() (or at once on the registering thread if already cancelled), so a
// backend can kill its container or process group the moment cancel() is called
// instead of polling.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <vector>

namespace troupe::exec {

class cancel_token {
 public:
  cancel_token() = default;
  cancel_token(const cancel_token&) = delete;
  cancel_token& operator=(const cancel_token&) = delete;

  // Idempotent; only the first call runs the callbacks.
  void cancel();
  bool cancelled() const;
  // Thread-safe; runs f at once if already cancelled. f must not call
  // on_cancel() on the same token.
  void on_cancel(std::function<void()> f);

 private:
  std::atomic<bool> cancelled_{false};
  std::mutex mutex_;
  std::vector<std::function<void()>> callbacks_;
};

}  // namespace troupe::exec
