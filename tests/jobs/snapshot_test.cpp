// Snapshots: exact round trips, determinism across nodes, rejection of bad bytes.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <stdexcept>

#include "commands.hpp"
#include "runtime/jobs/snapshot_codec.hpp"
#include "runtime/jobs/uuid.hpp"

using namespace troupe::jobs;
namespace logpb = troupe::logpb;
using namespace troupe::jobs::test;

namespace {

constexpr std::int64_t ms = 1'000'000;
constexpr std::int64_t t0 = 1'769'604'341'000 * ms;

// A seeded stream of plausible and implausible commands: most apply, some are
// refused (unknown ids, wrong states, stale attempts), all deterministically.
class command_generator {
 public:
  explicit command_generator(std::uint64_t seed) : rng_(seed) {}

  logpb::Command next() {
    now_ += 1 + static_cast<std::int64_t>(rng_() % (50 * ms));
    const std::uint64_t roll = rng_() % 100;
    if (roll < 25 || ids_.empty()) {
      std::string id = make_uuid_v4(rng_(), rng_());
      ids_.push_back(id);
      // Clocks of different leaders disagree: creation times are not monotonic.
      std::int64_t created = now_ - static_cast<std::int64_t>(rng_() % (200 * ms));
      std::string image = rng_() % 4 == 0 ? "alpine:3" : "";
      return submit(id, "cmd " + std::to_string(rng_() % 1000), created, image, rng_() % 3 * 30);
    }
    const std::string& id = ids_[rng_() % ids_.size()];
    const std::uint64_t worker = 1 + rng_() % 5;
    const std::uint32_t attempt = static_cast<std::uint32_t>(rng_() % 3);
    if (roll < 45) return assign(id, worker, now_);
    if (roll < 60) return running(id, now_, worker, attempt);
    if (roll < 75) {
      logpb::JobStatusUpdate u = status_update(id, rng_() % 3 ? job_status::completed : job_status::failed, now_,
                                                   worker, attempt, static_cast<std::int32_t>(rng_() % 3));
      u.set_stdout_inline(std::string(rng_() % 20, 'o'));
      u.set_output_truncated(rng_() % 5 == 0);
      return update(u);
    }
    if (roll < 80) return cancel(id, now_);
    if (roll < 88) return requeue(id, "worker lost", static_cast<std::uint32_t>(rng_() % 4), now_);
    if (roll < 92) return register_worker(worker);
    if (roll < 95) return evict(now_ - 2000 * ms);
    logpb::Command c;
    for (int i = 0; i < 3; ++i) {
      *c.mutable_batch_update_job_status()->add_updates() =
          status_update(ids_[rng_() % ids_.size()], job_status::running, now_, worker, attempt);
    }
    return c;
  }

 private:
  std::mt19937_64 rng_;
  std::int64_t now_ = t0;
  std::vector<std::string> ids_;
};

log_fed_table random_table(std::uint64_t seed, int commands) {
  log_fed_table t;
  command_generator gen(seed);
  for (int i = 0; i < commands; ++i) t.apply(gen.next());
  return t;
}

std::vector<std::string> page_ids(const job_table& t, const list_query& q) {
  std::vector<std::string> out;
  for (const job& j : t.list(q).jobs) out.push_back(j.id);
  return out;
}

void check_same_answers(const job_table& a, const job_table& b) {
  CHECK(a.size() == b.size());
  CHECK(a.applied_index() == b.applied_index());
  CHECK(a.active_count() == b.active_count());
  CHECK(a.workers() == b.workers());
  for (int s = 0; s < job_status_count; ++s) {
    auto in_a = a.with_status(static_cast<job_status>(s));
    auto in_b = b.with_status(static_cast<job_status>(s));
    REQUIRE(in_a.size() == in_b.size());
    for (std::size_t i = 0; i < in_a.size(); ++i) {
      CHECK(*in_a[i] == *in_b[i]);
      REQUIRE(b.find(in_a[i]->id));
      CHECK(*b.find(in_a[i]->id) == *in_a[i]);
    }
  }
  for (std::uint64_t w = 1; w <= 5; ++w) {
    CHECK(a.on_worker(w).size() == b.on_worker(w).size());
    list_query q;
    q.worker = w;
    q.page_size = 1000;
    CHECK(page_ids(a, q) == page_ids(b, q));
    q.status = job_status::completed;
    CHECK(page_ids(a, q) == page_ids(b, q));
  }
  list_query q;
  q.command_substring = "CMD 1";
  q.page_size = 1000;
  CHECK(page_ids(a, q) == page_ids(b, q));
  CHECK(a.list(q).total_count == b.list(q).total_count);
}

std::string with_crc(std::string body) {
  std::uint32_t c = crc32(body);
  for (int i = 0; i < 4; ++i) body.push_back(static_cast<char>(c >> (8 * i)));
  return body;
}

}  // namespace

TEST_CASE("crc32 is the IEEE CRC-32") {
  CHECK(crc32("123456789") == 0xCBF43926u);
  CHECK(crc32("") == 0u);
}

TEST_CASE("the empty table's snapshot is the documented layout") {
  job_table t;
  std::string bytes = t.snapshot();
  std::string body("TRPJOBS\0", 8);
  body += std::string("\x02\0\0\0", 4);   // version 2
  body += std::string(8, '\0');           // applied index
  body += std::string(8, '\0');           // no workers
  body += std::string(8, '\0');           // none draining
  body += std::string(8, '\0');           // no jobs
  CHECK(bytes == with_crc(body));
}

TEST_CASE("snapshot and restore round-trip to identical bytes and answers") {
  log_fed_table original = random_table(11, 3000);
  REQUIRE(original.table.size() > 100);
  REQUIRE_FALSE(original.table.workers().empty());
  const std::string bytes = original.table.snapshot();
  job_table restored;
  restored.restore(bytes);
  CHECK(restored.snapshot() == bytes);
  check_same_answers(original.table, restored);

  // Both continue identically from there.
  command_generator more(99);
  for (int i = 0; i < 500; ++i) {
    logpb::Command c = more.next();
    std::uint64_t index = original.table.applied_index() + 1;
    apply_result ra = original.table.apply(index, c);
    apply_result rb = restored.apply(index, c);
    CHECK(ra.error == rb.error);
    REQUIRE(ra.changes.size() == rb.changes.size());
    for (std::size_t k = 0; k < ra.changes.size(); ++k) CHECK(ra.changes[k].after == rb.changes[k].after);
  }
  CHECK(original.table.snapshot() == restored.snapshot());
}

TEST_CASE("restore replaces whatever the table held") {
  log_fed_table a = random_table(1, 500);
  log_fed_table b = random_table(2, 800);
  b.table.restore(a.table.snapshot());
  CHECK(b.table.snapshot() == a.table.snapshot());
  check_same_answers(a.table, b.table);
}

TEST_CASE("tables fed the same seeded command sequence have identical snapshots") {
  for (std::uint64_t seed : {3u, 4u, 5u}) {
    CAPTURE(seed);
    log_fed_table a, b, late;
    command_generator gen(seed);
    std::vector<logpb::Command> log;
    for (int i = 0; i < 4000; ++i) log.push_back(gen.next());
    for (std::size_t i = 0; i < log.size(); ++i) {
      a.apply(log[i]);
      b.apply(log[i]);
      if (i == log.size() / 2) {
        // A node joining late: installs a snapshot, then applies the rest.
        late.table.restore(a.table.snapshot());
        late.next_index = a.next_index;
      } else if (i > log.size() / 2) {
        late.apply(log[i]);
      }
      if (i % 1000 == 999) CHECK(a.table.snapshot() == b.table.snapshot());
    }
    CHECK(a.table.snapshot() == b.table.snapshot());
    CHECK(late.table.snapshot() == a.table.snapshot());
    check_same_answers(a.table, late.table);
  }
  // And different sequences do give different bytes.
  CHECK(random_table(3, 4000).table.snapshot() != random_table(6, 4000).table.snapshot());
}

TEST_CASE("the random sequence exercises every status and eviction") {
  log_fed_table t;
  command_generator gen(3);
  std::size_t evicted = 0, refused = 0;
  for (int i = 0; i < 4000; ++i) {
    apply_result r = t.apply(gen.next());
    if (!r.error.empty()) ++refused;
    for (const job_change& c : r.changes) evicted += c.kind == change_kind::evicted;
  }
  CHECK(evicted > 0);
  CHECK(refused > 0);
  for (job_status s : {job_status::pending, job_status::assigned, job_status::running})
    CHECK_FALSE(t.table.with_status(s).empty());
}

TEST_CASE("restore rejects malformed bytes and leaves the table unchanged") {
  log_fed_table small;
  small.apply(register_worker(2));
  small.apply(submit("j1", "echo", t0));
  small.apply(assign("j1", 2));
  small.apply(finished("j1", job_status::completed, 0, t0 + 5));
  const std::string good = small.table.snapshot();

  log_fed_table target = random_table(8, 300);
  const std::string target_before = target.table.snapshot();
  auto rejects = [&](const std::string& bytes, const std::string& message_part) {
    try {
      target.table.restore(bytes);
      FAIL("restore accepted malformed bytes");
    } catch (const std::runtime_error& e) {
      CHECK(std::string(e.what()).find(message_part) != std::string::npos);
    }
    CHECK(target.table.snapshot() == target_before);
  };

  rejects("", "too short");
  // Every proper prefix is refused.
  for (std::size_t n = 0; n < good.size(); ++n) {
    CHECK_THROWS_AS(target.table.restore(good.substr(0, n)), std::runtime_error);
  }
  for (std::size_t i = 0; i < good.size(); i += 7) {
    std::string flipped = good;
    flipped[i] = static_cast<char>(flipped[i] ^ 0x20);
    rejects(flipped, "checksum mismatch");
  }
  std::string body = good.substr(0, good.size() - 4);
  std::string bad_magic = body;
  bad_magic[0] = 'X';
  rejects(with_crc(bad_magic), "bad magic");
  std::string bad_version = body;
  bad_version[8] = 3;
  rejects(with_crc(bad_version), "unsupported version 3");
  rejects(with_crc(body + "x"), "1 trailing bytes");
  // Header, one worker, no draining workers, the job count; then the job.
  const std::size_t job_at = 8 + 4 + 8 + (8 + 8) + 8 + 8;
  // The job's status byte follows three length-prefixed strings: "j1", "echo", "".
  const std::size_t status_at = job_at + (8 + 2) + (8 + 4) + 8;
  REQUIRE(static_cast<unsigned char>(body[status_at]) == static_cast<int>(job_status::completed));
  std::string bad_status = body;
  bad_status[status_at] = 9;
  rejects(with_crc(bad_status), "invalid status 9");
  bad_status[status_at] = 0;
  rejects(with_crc(bad_status), "invalid status 0");
  std::string huge_length = body;
  huge_length[job_at + 7] = 0x7f;  // id length's top byte
  rejects(with_crc(huge_length), "runs past the end");
  std::string huge_count = body;
  huge_count[job_at - 8 + 7] = 0x7f;  // job count's top byte
  rejects(with_crc(huge_count), "job count");

  // Two copies of the same job.
  log_fed_table two;
  two.apply(submit("a", "x", t0));
  two.apply(submit("b", "x", t0 + 1));
  std::string two_body = two.table.snapshot();
  two_body.resize(two_body.size() - 4);
  const std::size_t jobs_at = 8 + 4 + 8 + 8 + 8 + 8;  // header, no workers, none draining, job count
  const std::size_t job_size = (two_body.size() - jobs_at) / 2;
  std::string first = two_body.substr(jobs_at, job_size);
  rejects(with_crc(two_body.substr(0, jobs_at) + first + first), "duplicate job id a");
  std::string second = two_body.substr(jobs_at + job_size);
  rejects(with_crc(two_body.substr(0, jobs_at) + second + first), "out of creation order");

  // The good one still restores.
  target.table.restore(good);
  CHECK(target.table.snapshot() == good);
}

namespace {

// The body (no checksum) of a snapshot with its version field set to `v`.
std::string body_with_version(std::string bytes, std::uint32_t v) {
  bytes.resize(bytes.size() - 4);
  for (int i = 0; i < 4; ++i) bytes[8 + i] = static_cast<char>(v >> (8 * i));
  return bytes;
}

// The same state in format version 1, which has no draining set: drop the
// (empty) set's count, which follows the registered workers.
std::string as_version_1(const job_table& t) {
  REQUIRE(t.draining_workers().empty());
  std::string body = body_with_version(t.snapshot(), 1);
  const std::size_t draining_at = 8 + 4 + 8 + 8 + 8 * t.workers().size();
  REQUIRE(body.substr(draining_at, 8) == std::string(8, '\0'));
  body.erase(draining_at, 8);
  return with_crc(body);
}

}  // namespace

TEST_CASE("the draining set is in the snapshot: round trip, equal tables give equal bytes") {
  auto build = [](bool drain_5) {
    log_fed_table t = random_table(21, 2000);
    t.apply(set_draining(2, true));
    if (drain_5) t.apply(set_draining(5, true));
    t.apply(set_draining(3, true));
    t.apply(set_draining(3, false));
    t.apply(set_draining(2, true));  // a repeat
    return t;
  };
  log_fed_table a = build(true), b = build(true), c = build(false);
  REQUIRE(a.table.draining_workers() == std::set<std::uint64_t>{2, 5});
  const std::string bytes = a.table.snapshot();
  CHECK(b.table.snapshot() == bytes);
  CHECK(c.table.snapshot() != bytes);

  job_table restored;
  restored.restore(bytes);
  CHECK(restored.draining_workers() == std::set<std::uint64_t>{2, 5});
  CHECK(restored.snapshot() == bytes);
  check_same_answers(a.table, restored);
  // Restoring a table without drains drops the ones held before.
  restored.restore(c.table.snapshot());
  CHECK(restored.draining_workers() == std::set<std::uint64_t>{2});

  // The drain still holds after a restore: the next assignment is refused alike.
  restored.restore(bytes);
  const std::uint64_t index = a.table.applied_index() + 1;
  const logpb::Command sub = submit("after-restore", "true", t0);
  REQUIRE(a.table.apply(index, sub).error.empty());
  REQUIRE(restored.apply(index, sub).error.empty());
  CHECK(a.table.apply(index + 1, assign("after-restore", 5)).error == "worker 5 is draining");
  CHECK(restored.apply(index + 1, assign("after-restore", 5)).error == "worker 5 is draining");
  CHECK(a.table.snapshot() == restored.snapshot());
}

TEST_CASE("the draining set's bytes follow the registered workers, ascending") {
  log_fed_table t;
  t.apply(register_worker(2));
  t.apply(set_draining(6, true));
  t.apply(set_draining(4, true));
  std::string body("TRPJOBS\0", 8);
  body += std::string("\x02\0\0\0", 4);               // version 2
  body += std::string("\x03\0\0\0\0\0\0\0", 8);       // applied index 3
  body += std::string("\x01\0\0\0\0\0\0\0", 8);       // one worker:
  body += std::string("\x02\0\0\0\0\0\0\0", 8);       //   2
  body += std::string("\x02\0\0\0\0\0\0\0", 8);       // two draining:
  body += std::string("\x04\0\0\0\0\0\0\0", 8);       //   4
  body += std::string("\x06\0\0\0\0\0\0\0", 8);       //   6
  body += std::string(8, '\0');                       // no jobs
  CHECK(t.table.snapshot() == with_crc(body));
}

TEST_CASE("drains interleaved with the random stream replicate identically, also to a late joiner") {
  command_generator gen(31);
  std::vector<logpb::Command> log;
  for (int i = 0; i < 3000; ++i) {
    // Workers 1..5 drain and return in turn, so some assignments meet a drain.
    if (i % 37 == 0) log.push_back(set_draining(1 + (i / 37) % 5, (i / 37) % 2 == 0));
    log.push_back(gen.next());
  }
  log_fed_table a, b, late;
  std::size_t refused_for_drain = 0;
  for (std::size_t i = 0; i < log.size(); ++i) {
    apply_result r = a.apply(log[i]);
    b.apply(log[i]);
    if (r.refused == refusal::conflict && r.error.find("is draining") != std::string::npos) ++refused_for_drain;
    if (i == log.size() / 2) {
      late.table.restore(a.table.snapshot());
      late.next_index = a.next_index;
    } else if (i > log.size() / 2) {
      late.apply(log[i]);
    }
  }
  CHECK(refused_for_drain > 0);
  CHECK_FALSE(a.table.draining_workers().empty());
  CHECK(a.table.snapshot() == b.table.snapshot());
  CHECK(late.table.snapshot() == a.table.snapshot());
  CHECK(late.table.draining_workers() == a.table.draining_workers());
  check_same_answers(a.table, late.table);
}

TEST_CASE("a snapshot in format version 1 still restores, with no worker draining") {
  log_fed_table original = random_table(12, 1500);
  REQUIRE_FALSE(original.table.workers().empty());
  const std::string v1 = as_version_1(original.table);
  REQUIRE(v1[8] == 1);

  log_fed_table target;
  target.apply(set_draining(3, true));
  target.table.restore(v1);
  CHECK(target.table.draining_workers().empty());
  check_same_answers(original.table, target.table);
  // Written back in the current format, identical to the original's.
  CHECK(target.table.snapshot() == original.table.snapshot());

  // And one written out byte by byte: applied index 7, worker 3, no jobs.
  std::string body("TRPJOBS\0", 8);
  body += std::string("\x01\0\0\0", 4);          // version 1
  body += std::string("\x07\0\0\0\0\0\0\0", 8);  // applied index 7
  body += std::string("\x01\0\0\0\0\0\0\0", 8);  // one worker:
  body += std::string("\x03\0\0\0\0\0\0\0", 8);  //   3
  body += std::string(8, '\0');                  // no jobs
  job_table t;
  t.restore(with_crc(body));
  CHECK(t.applied_index() == 7);
  CHECK(t.workers() == std::set<std::uint64_t>{3});
  CHECK(t.draining_workers().empty());
  CHECK(t.size() == 0);
}

TEST_CASE("a newer or unknown snapshot version is refused, naming the versions this build reads") {
  log_fed_table t = random_table(13, 200);
  t.apply(set_draining(1, true));
  const std::string before = t.table.snapshot();
  for (std::uint32_t v : {3u, 0u, 0xFFFFFFFFu}) {
    CAPTURE(v);
    CHECK_THROWS_WITH_AS(t.table.restore(with_crc(body_with_version(before, v))),
                         ("job snapshot: unsupported version " + std::to_string(v) +
                          " (this build reads versions 1 to 2) at byte 12")
                             .c_str(),
                         std::runtime_error);
    CHECK(t.table.snapshot() == before);
  }
}

TEST_CASE("restore rejects a malformed draining set") {
  log_fed_table small;
  small.apply(register_worker(2));
  small.apply(set_draining(4, true));
  small.apply(set_draining(6, true));
  std::string body = small.table.snapshot();
  body.resize(body.size() - 4);
  const std::size_t draining_at = 8 + 4 + 8 + (8 + 8);  // header, one worker
  REQUIRE(static_cast<unsigned char>(body[draining_at]) == 2);
  job_table target;
  auto rejects = [&](const std::string& bad, const std::string& message_part) {
    CHECK_THROWS_WITH_AS(target.restore(with_crc(bad)), doctest::Contains(message_part.c_str()), std::runtime_error);
    CHECK(target.draining_workers().empty());
  };
  std::string descending = body;
  descending[draining_at + 16] = 4;  // 4, 4
  rejects(descending, "draining workers are not strictly ascending");
  std::string zero = body;
  zero[draining_at + 8] = 0;  // 0, 6
  rejects(zero, "the draining set holds worker 0");
  std::string huge = body;
  huge[draining_at + 7] = 0x7f;
  rejects(huge, "draining worker count");
  // Read as version 1 (no draining set), the draining count is taken for the job count.
  std::string as_v1 = body;
  as_v1[8] = 1;
  rejects(as_v1, "job count 2 exceeds the data");
}

TEST_CASE("crc32 (slicing-by-8) equals the bytewise CRC at every length and alignment") {
  auto bytewise = [](std::string_view b) {
    std::uint32_t c = 0xFFFFFFFFu;
    for (char ch : b) {
      c ^= static_cast<unsigned char>(ch);
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
  };
  std::mt19937_64 rng(5);
  std::string data(300, '\0');
  for (char& ch : data) ch = static_cast<char>(rng());
  for (std::size_t off = 0; off < 8; ++off)
    for (std::size_t n = 0; off + n <= 90; ++n) CHECK(crc32(std::string_view(data).substr(off, n)) == bytewise(std::string_view(data).substr(off, n)));
  CHECK(crc32(data) == bytewise(data));
}

TEST_CASE("the streaming decoder gives the header and the same jobs as decode_snapshot") {
  log_fed_table original = random_table(44, 2000);
  const std::string bytes = original.table.snapshot();
  const snapshot_contents collected = decode_snapshot(bytes);
  std::vector<job> streamed;
  std::uint64_t announced = 0;
  const snapshot_header h = decode_snapshot(
      bytes, [&](const snapshot_header& header) { announced = header.job_count; },
      [&](job&& j) {
        streamed.push_back(std::move(j));
        return true;
      });
  CHECK(h.version == snapshot_format_version);
  CHECK(h.applied_index == collected.applied_index);
  CHECK(h.workers == collected.workers);
  CHECK(h.draining == collected.draining);
  CHECK(announced == collected.jobs.size());
  CHECK(streamed == collected.jobs);
  REQUIRE(streamed.size() == original.table.size());
  const auto in_order = original.table.all();
  for (std::size_t i = 0; i < streamed.size(); ++i) CHECK(streamed[i] == *in_order[i]);
}

TEST_CASE("a duplicate id at different creation times is refused by decode and restore alike") {
  log_fed_table two;
  two.apply(submit("a", "x", t0));
  two.apply(submit("b", "x", t0 + 1));
  std::string body = two.table.snapshot();
  body.resize(body.size() - 4);
  const std::size_t jobs_at = 8 + 4 + 8 + 8 + 8 + 8;
  const std::size_t job_size = (body.size() - jobs_at) / 2;
  REQUIRE(body[jobs_at + job_size + 8] == 'b');
  body[jobs_at + job_size + 8] = 'a';  // (t0, "a") then (t0 + 1, "a"): in order, but one id twice
  const std::string bad = with_crc(body);
  CHECK_THROWS_WITH_AS(decode_snapshot(bad), doctest::Contains("duplicate job id a"), std::runtime_error);
  job_table target;
  target.restore(two.table.snapshot());
  const std::string before = target.snapshot();
  CHECK_THROWS_WITH_AS(target.restore(bad), doctest::Contains("duplicate job id a"), std::runtime_error);
  CHECK(target.snapshot() == before);
}

TEST_CASE("crc32_extend continues a CRC: the CRC of a whole is that of its parts") {
  const std::string data = "a snapshot carried along a piece at a time";
  for (std::size_t cut = 0; cut <= data.size(); ++cut)
    CHECK(crc32_extend(crc32(std::string_view(data).substr(0, cut)), std::string_view(data).substr(cut)) == crc32(data));
}

// The random stream keeps changing, evicting and adding jobs (some created
// before the newest one: leaders' clocks disagree) between the pieces.
TEST_CASE("a snapshot in pieces while commands apply holds the table as it was at its beginning") {
  std::size_t pieces = 0;
  for (std::uint64_t seed : {3u, 4u, 5u, 6u, 7u, 8u}) {
    CAPTURE(seed);
    log_fed_table t;
    command_generator gen(seed);
    for (int i = 0; i < 3000; ++i) t.apply(gen.next());
    const std::string expected = t.table.snapshot();
    std::mt19937_64 rng(seed);
    const auto id = t.table.begin_snapshot();
    CHECK(t.table.snapshot_in_progress(id));
    std::string bytes;
    while (!t.table.continue_snapshot(id, 1 + rng() % 40)) {
      ++pieces;
      if (rng() % 2) bytes += t.table.take_snapshot_piece(id);  // taken or left for later: the same bytes
      for (std::uint64_t k = rng() % 25; k > 0; --k) t.apply(gen.next());
    }
    bytes += t.table.take_snapshot_piece(id);
    CHECK_FALSE(t.table.snapshot_in_progress(id));
    CHECK(bytes == expected);
    // The table went on: it is the table a replica of the same log holds.
    log_fed_table replica;
    command_generator again(seed);
    for (std::uint64_t i = 1; i < t.next_index; ++i) replica.apply(again.next());
    CHECK(t.table.snapshot() == replica.table.snapshot());
    CHECK(t.table.snapshot() != expected);
  }
  CHECK(pieces > 100);
}

// A compaction and backups at once (job_table actor): each its own image,
// begun at different moments, taken at different paces, one cancelled.
TEST_CASE("several snapshots in pieces at once each hold the table as it was at its own beginning") {
  for (std::uint64_t seed : {11u, 12u, 13u, 14u}) {
    CAPTURE(seed);
    log_fed_table t;
    command_generator gen(seed);
    std::mt19937_64 rng(seed);
    struct in_progress {
      job_table::snapshot_id id;
      std::string expected, bytes;
      bool complete = false;
    };
    std::vector<in_progress> snaps;
    job_table::snapshot_id cancelled = 0;
    for (int i = 0; i < 1500; ++i) t.apply(gen.next());
    for (int round = 0; round < 400; ++round) {
      if (snaps.size() < 3 && rng() % 20 == 0) {  // a new one begins
        in_progress s{0, t.table.snapshot(), "", false};
        s.id = t.table.begin_snapshot();
        for (const auto& other : snaps) CHECK(other.id != s.id);
        snaps.push_back(std::move(s));
      }
      for (auto& s : snaps) {
        if (s.complete || s.id == cancelled || rng() % 3 == 0) continue;
        s.complete = t.table.continue_snapshot(s.id, 1 + rng() % 30);
        s.bytes += t.table.take_snapshot_piece(s.id);
      }
      if (cancelled == 0 && snaps.size() == 2 && !snaps[1].complete) {
        cancelled = snaps[1].id;
        t.table.cancel_snapshot(cancelled);
        CHECK_FALSE(t.table.snapshot_in_progress(cancelled));
        CHECK_THROWS_AS(t.table.continue_snapshot(cancelled, 1), std::logic_error);
      }
      for (std::uint64_t k = rng() % 20; k > 0; --k) t.apply(gen.next());
    }
    std::size_t whole = 0;
    for (auto& s : snaps) {
      if (s.id == cancelled) continue;
      while (!s.complete) {
        s.complete = t.table.continue_snapshot(s.id, 50);
        s.bytes += t.table.take_snapshot_piece(s.id);
      }
      CHECK_FALSE(t.table.snapshot_in_progress(s.id));
      CHECK(s.bytes == s.expected);
      ++whole;
    }
    CHECK(whole >= 2);
  }
}

TEST_CASE("a snapshot in pieces: empty tables, one piece, restore and cancel drop it") {
  log_fed_table t;
  command_generator gen(9);
  const std::string empty = t.table.snapshot();
  auto id = t.table.begin_snapshot();
  CHECK(id != 0);
  for (int i = 0; i < 50; ++i) t.apply(gen.next());  // every job added since: none of them in it
  CHECK(t.table.continue_snapshot(id, 1));
  CHECK(t.table.take_snapshot_piece(id) == empty);
  CHECK_FALSE(t.table.snapshot_in_progress(id));

  const std::string now = t.table.snapshot();
  id = t.table.begin_snapshot();
  CHECK(t.table.continue_snapshot(id, t.table.size() + 1));
  CHECK(t.table.take_snapshot_piece(id) == now);

  id = t.table.begin_snapshot();
  CHECK_FALSE(t.table.continue_snapshot(id, 1));
  t.table.restore(now);
  CHECK_FALSE(t.table.snapshot_in_progress(id));
  CHECK_THROWS_AS(t.table.take_snapshot_piece(id), std::logic_error);
  CHECK_THROWS_AS(t.table.continue_snapshot(id, 1), std::logic_error);
  // Ids are not reused after a restore: the old one never names a new snapshot.
  const auto after_restore = t.table.begin_snapshot();
  CHECK(after_restore != id);
  CHECK_THROWS_AS(t.table.continue_snapshot(id, 1), std::logic_error);
  t.table.cancel_snapshot(after_restore);

  id = t.table.begin_snapshot();
  CHECK_FALSE(t.table.continue_snapshot(id, 1));
  t.table.cancel_snapshot(id);
  CHECK_FALSE(t.table.snapshot_in_progress(id));

  id = t.table.begin_snapshot();
  CHECK_FALSE(t.table.continue_snapshot(id, 1));
  CHECK_FALSE(t.table.take_snapshot_piece(id).empty());  // the header and a job, then dropped
  t.table.cancel_snapshot(id);
  id = t.table.begin_snapshot();  // starts over
  std::string bytes;
  while (!t.table.continue_snapshot(id, 3)) bytes += t.table.take_snapshot_piece(id);
  bytes += t.table.take_snapshot_piece(id);
  CHECK(bytes == now);
}

// A piece is bounded in bytes as well as in jobs: with large commands a
// piece of 10,000 jobs would be hundreds of MiB, as much memory as the whole
// snapshot is meant not to take.
TEST_CASE("a snapshot in pieces: each piece stops once it holds the bytes asked for") {
  log_fed_table t;
  for (int i = 0; i < 300; ++i) t.apply(submit("big-" + std::to_string(i), std::string(1000, 'c'), t0 + i));
  const std::string expected = t.table.snapshot();
  const std::size_t max_bytes = 8 * 1024;
  const auto id = t.table.begin_snapshot();
  std::string bytes;
  std::size_t pieces = 0, largest = 0;
  bool complete = false;
  while (!complete) {
    complete = t.table.continue_snapshot(id, SIZE_MAX, max_bytes);
    const std::string piece = t.table.take_snapshot_piece(id);
    largest = std::max(largest, piece.size());
    bytes += piece;
    ++pieces;
  }
  CHECK(bytes == expected);
  CHECK(pieces >= expected.size() / (max_bytes + 1100));
  CHECK(largest < max_bytes + 1100);  // the bound, and the one job that crossed it
  CHECK(largest >= max_bytes);
}
