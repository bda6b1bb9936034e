// actors/pending_queue: the dispatcher's pending jobs, oldest first. Checked
// against the ordered set of (created_at_ns, id) it replaced, which defines
// the placement order.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "actors/pending_queue.hpp"

using troupe::pending_queue;

namespace {

std::vector<std::string> ids(const pending_queue& q) {
  std::vector<std::string> out;
  q.for_each([&](std::int64_t, const std::string& id) {
    out.push_back(id);
    return true;
  });
  return out;
}

std::vector<std::string> ids(const std::set<std::pair<std::int64_t, std::string>>& s) {
  std::vector<std::string> out;
  for (const auto& e : s) out.push_back(e.second);
  return out;
}

}  // namespace

TEST_CASE("oldest first by creation time, ids breaking ties, whatever the order of arrival") {
  pending_queue q;
  CHECK(q.empty());
  CHECK(q.push("c", 30));
  CHECK(q.push("a", 10));  // older than every queued job: the front
  CHECK(q.push("z", 20));  // in the middle
  CHECK(q.push("b", 20));  // same time as z: the id decides
  CHECK(q.push("d", 40));  // the newest: the back
  CHECK_EQ(ids(q), std::vector<std::string>{"a", "b", "z", "c", "d"});
  CHECK_EQ(q.size(), 5u);
  CHECK(q.contains("z"));
  CHECK_FALSE(q.contains("y"));
}

TEST_CASE("a job already queued is not queued twice") {
  pending_queue q;
  CHECK(q.push("a", 10));
  CHECK_FALSE(q.push("a", 5));  // no change, not even of its time
  CHECK_EQ(q.size(), 1u);
  std::vector<std::int64_t> times;
  q.for_each([&](std::int64_t t, const std::string&) {
    times.push_back(t);
    return true;
  });
  CHECK_EQ(times, std::vector<std::int64_t>{10});
}

TEST_CASE("for_each stops when asked") {
  pending_queue q;
  for (int i = 0; i < 5; ++i) q.push("j" + std::to_string(i), i);
  std::vector<std::string> seen;
  q.for_each([&](std::int64_t, const std::string& id) {
    seen.push_back(id);
    return seen.size() < 2;
  });
  CHECK_EQ(seen, std::vector<std::string>{"j0", "j1"});
}

TEST_CASE("a job cancelled while pending leaves the order; one placed from the front too") {
  pending_queue q;
  for (int i = 0; i < 6; ++i) q.push("j" + std::to_string(i), 100 + i);
  CHECK(q.erase("j3"));  // cancelled in the middle
  CHECK_FALSE(q.erase("j3"));
  CHECK_FALSE(q.erase("never"));
  CHECK_FALSE(q.contains("j3"));
  CHECK_EQ(q.size(), 5u);
  CHECK_EQ(ids(q), std::vector<std::string>{"j0", "j1", "j2", "j4", "j5"});
  CHECK(q.erase("j0"));  // placed: the oldest goes
  CHECK(q.erase("j1"));
  CHECK_EQ(ids(q), std::vector<std::string>{"j2", "j4", "j5"});
  CHECK(q.erase("j5"));  // the newest
  CHECK_EQ(ids(q), std::vector<std::string>{"j2", "j4"});
  CHECK(q.erase("j2"));
  CHECK_EQ(ids(q), std::vector<std::string>{"j4"});
  CHECK(q.erase("j4"));
  CHECK(q.empty());
  CHECK(ids(q).empty());
}

TEST_CASE("a job re-queued (its worker died) goes back to its place by creation time") {
  pending_queue q;
  for (int i = 0; i < 5; ++i) q.push("j" + std::to_string(i), 100 + i);
  CHECK(q.erase("j1"));  // assigned
  CHECK(q.erase("j3"));  // assigned
  CHECK(q.push("j3", 103));  // re-queued: same id, same creation time
  CHECK(q.push("j1", 101));
  CHECK_EQ(ids(q), std::vector<std::string>{"j0", "j1", "j2", "j3", "j4"});
  CHECK(q.erase("j3"));
  CHECK_EQ(ids(q), std::vector<std::string>{"j0", "j1", "j2", "j4"});
  CHECK(q.push("j3", 103));
  CHECK_EQ(ids(q), std::vector<std::string>{"j0", "j1", "j2", "j3", "j4"});
  CHECK_EQ(q.size(), 5u);
}

TEST_CASE("a lost worker's jobs re-queued into the middle keep the order") {
  pending_queue q;
  std::set<std::pair<std::int64_t, std::string>> ref;
  for (int i = 0; i < 20000; ++i) {
    const std::string id = "p" + std::to_string(i);
    q.push(id, 2 * i);
    ref.emplace(2 * i, id);
  }
  // Jobs created between the pending ones come back (odd creation times).
  for (int i = 0; i < 5000; ++i) {
    const std::string id = "r" + std::to_string(i);
    CHECK(q.push(id, 8 * i + 1));
    ref.emplace(8 * i + 1, id);
  }
  CHECK_EQ(ids(q), ids(ref));
  for (int i = 0; i < 20000; i += 2) CHECK(q.erase("p" + std::to_string(i)));
  for (int i = 0; i < 20000; i += 2) ref.erase({2 * i, "p" + std::to_string(i)});
  CHECK_EQ(ids(q), ids(ref));
  CHECK_EQ(q.size(), 15000u);
}

TEST_CASE("random pushes and erases keep the order of the ordered set it replaced") {
  std::mt19937_64 rng(12);
  pending_queue q;
  std::set<std::pair<std::int64_t, std::string>> ref;
  std::vector<std::pair<std::int64_t, std::string>> known;  // ids seen, with their (fixed) creation time
  for (int step = 0; step < 20000; ++step) {
    auto r = rng() % 10;
    if (r < 5 || known.empty()) {
      // A new job, mostly newer than the rest; sometimes older, sometimes tied.
      std::int64_t t = static_cast<std::int64_t>(step) - static_cast<std::int64_t>(rng() % 4 == 0 ? rng() % 500 : 0);
      if (rng() % 8 == 0 && !known.empty()) t = known[rng() % known.size()].first;
      std::string id = "id" + std::to_string(rng() % 100000);
      bool queued = q.contains(id);
      if (queued) continue;
      // A job's creation time never changes: reuse it if the id was seen.
      for (const auto& k : known)
        if (k.second == id) t = k.first;
      known.emplace_back(t, id);
      CHECK(q.push(id, t));
      ref.emplace(t, id);
    } else if (r < 8) {
      // Removal of a known job, queued or not (a re-queue of one removed).
      const auto& k = known[rng() % known.size()];
      bool was = ref.erase(k) > 0;
      CHECK_EQ(q.erase(k.second), was);
    } else {
      const auto& k = known[rng() % known.size()];
      bool fresh = ref.insert(k).second;
      CHECK_EQ(q.push(k.second, k.first), fresh);
    }
    if (step % 500 == 0) REQUIRE_EQ(ids(q), ids(ref));
    REQUIRE_EQ(q.size(), ref.size());
  }
  CHECK_EQ(ids(q), ids(ref));
}
