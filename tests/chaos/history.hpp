// What the chaos clients did and what the cluster answered: the checker's
// ground truth. Bookkeeping is honest: an operation whose answer never came
// (deadline, lost connection) is indeterminate, neither failed nor acknowledged.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace troupe::chaos {

using steady = std::chrono::steady_clock;

enum class outcome {
  ok,             // the cluster answered OK: the operation committed
  refused,        // a definite answer that it did not commit (e.g. not the leader, already terminal)
  indeterminate,  // no definite answer: it may or may not have committed
};
const char* to_string(outcome o);

struct submit_op {
  std::string token;    // unique per submission, inside the command
  std::string command;
  outcome result = outcome::indeterminate;
  std::string job_id;   // when ok
  std::string last_code;
};

struct cancel_op {
  std::string job_id;
  outcome result = outcome::indeterminate;
  std::string last_code;
};

// Shared by every client thread; each call takes the lock once.
class history {
 public:
  void add(submit_op op, steady::time_point at);
  void add(cancel_op op);
  // Every RPC attempt, by gRPC status code name (redirects included).
  void attempt(const std::string& code);

  // Snapshots for the checker, taken after the clients stopped.
  std::vector<submit_op> submits() const;
  std::vector<cancel_op> cancels() const;
  std::map<std::string, long> attempts_by_code() const;
  // The longest time within [from, to] without an acknowledged submit, and
  // when it began.
  struct gap {
    steady::time_point start;
    std::chrono::milliseconds length{0};
  };
  gap longest_gap(steady::time_point from, steady::time_point to) const;
  // The time from `t` to the first acknowledged submit after it, if any.
  std::optional<std::chrono::milliseconds> first_ack_after(steady::time_point t) const;

 private:
  mutable std::mutex mu_;
  std::vector<submit_op> submits_;
  std::vector<cancel_op> cancels_;
  std::vector<steady::time_point> acked_at_;
  std::map<std::string, long> attempts_;
};

}  // namespace troupe::chaos
