#include "tests/chaos/history.hpp"

#include <algorithm>

namespace troupe::chaos {

const char* to_string(outcome o) {
  switch (o) {
    case outcome::ok: return "ok";
    case outcome::refused: return "refused";
    case outcome::indeterminate: return "indeterminate";
  }
  return "?";
}

void history::add(submit_op op, steady::time_point at) {
  std::lock_guard<std::mutex> g(mu_);
  if (op.result == outcome::ok) acked_at_.push_back(at);
  submits_.push_back(std::move(op));
}

void history::add(cancel_op op) {
  std::lock_guard<std::mutex> g(mu_);
  cancels_.push_back(std::move(op));
}

void history::attempt(const std::string& code) {
  std::lock_guard<std::mutex> g(mu_);
  ++attempts_[code];
}

std::vector<submit_op> history::submits() const {
  std::lock_guard<std::mutex> g(mu_);
  return submits_;
}

std::vector<cancel_op> history::cancels() const {
  std::lock_guard<std::mutex> g(mu_);
  return cancels_;
}

std::map<std::string, long> history::attempts_by_code() const {
  std::lock_guard<std::mutex> g(mu_);
  return attempts_;
}

history::gap history::longest_gap(steady::time_point from, steady::time_point to) const {
  std::vector<steady::time_point> t;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (auto a : acked_at_)
      if (a >= from && a <= to) t.push_back(a);
  }
  std::sort(t.begin(), t.end());
  t.insert(t.begin(), from);
  t.push_back(to);
  gap longest{from};
  for (std::size_t i = 1; i < t.size(); ++i) {
    auto d = std::chrono::duration_cast<std::chrono::milliseconds>(t[i] - t[i - 1]);
    if (d > longest.length) longest = {t[i - 1], d};
  }
  return longest;
}

std::optional<std::chrono::milliseconds> history::first_ack_after(steady::time_point t) const {
  std::lock_guard<std::mutex> g(mu_);
  std::optional<steady::time_point> first;
  for (auto a : acked_at_)
    if (a > t && (!first || a < *first)) first = a;
  if (!first) return std::nullopt;
  return std::chrono::duration_cast<std::chrono::milliseconds>(*first - t);
}

}  // namespace troupe::chaos
