#include "runtime/exec/cancel_token.hpp"

#include <utility>

namespace troupe::exec {

void cancel_token::cancel() {
  std::vector<std::function<void()>> to_run;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (cancelled_.exchange(true)) return;
    to_run.swap(callbacks_);
  }
  // Outside the lock: a callback may block (an HTTP kill request) and must not
  // hold up a concurrent on_cancel().
  for (auto& f : to_run) f();
}

bool cancel_token::cancelled() const { return cancelled_.load(); }

void cancel_token::on_cancel(std::function<void()> f) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!cancelled_.load()) {
      callbacks_.push_back(std::move(f));
      return;
    }
  }
  f();
}

}  // namespace troupe::exec
