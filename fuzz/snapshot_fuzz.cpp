// Job table snapshot decoder and restore (runtime/jobs). Contract
// (snapshot_codec.hpp, job_table.hpp): decode_snapshot returns or throws
// std::runtime_error; encoding is deterministic, so a current-version
// snapshot that decodes re-encodes to the very same bytes (an older version
// re-encodes to a current one holding the same contents); restore accepts
// exactly what decodes, gives back those bytes from snapshot(), and leaves the
// table unchanged when it throws.
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.hpp"
#include "fuzz/targets.hpp"
#include "runtime/jobs/job_table.hpp"
#include "runtime/jobs/snapshot_codec.hpp"

namespace troupe::fuzz {
namespace {

constexpr const char* target = "snapshot_fuzz";

std::string encode(const jobs::snapshot_contents& c) {
  std::vector<const jobs::job*> ptrs;
  for (const jobs::job& j : c.jobs) ptrs.push_back(&j);
  return jobs::encode_snapshot(c.applied_index, c.workers, c.draining, ptrs);
}

bool same(const jobs::snapshot_contents& a, const jobs::snapshot_contents& b) {
  return a.applied_index == b.applied_index && a.workers == b.workers && a.draining == b.draining && a.jobs == b.jobs;
}

std::uint32_t version_of(std::string_view bytes) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<unsigned char>(bytes[8 + i])} << (8 * i);
  return v;
}

// A table with something in it, so that "unchanged" after a refused restore means something.
jobs::job_table& baseline() {
  static jobs::job_table t = [] {
    jobs::snapshot_contents c;
    c.applied_index = 7;
    c.workers = {1, 2};
    c.draining = {2};
    jobs::job j;
    j.id = "baseline";
    j.command = "true";
    j.created_at_ns = 1;
    c.jobs.push_back(j);
    jobs::job_table table;
    table.restore(encode(c));
    return table;
  }();
  return t;
}

void check_refused_restore(std::string_view bytes) {
  jobs::job_table& t = baseline();
  const std::string before = t.snapshot();
  bool threw = false;
  try {
    t.restore(bytes);
  } catch (const std::runtime_error&) {
    threw = true;
  }
  require(threw, target, "restore accepted bytes that decode_snapshot refuses");
  require(t.snapshot() == before, target, "a refused restore changed the table");
}

void check(std::string_view bytes) {
  jobs::snapshot_contents c;
  try {
    c = jobs::decode_snapshot(bytes);
  } catch (const std::runtime_error&) {
    check_refused_restore(bytes);
    return;
  }
  const std::string again = encode(c);
  if (version_of(bytes) == jobs::snapshot_format_version) {
    require(again == bytes, target, "a decoded snapshot does not re-encode to the same bytes");
  } else {
    require(same(jobs::decode_snapshot(again), c), target, "an old-version snapshot changes contents on re-encoding");
  }
  jobs::job_table t;
  t.restore(bytes);
  require(t.snapshot() == again, target, "restore + snapshot() does not give back the decoded contents");
  require(t.size() == c.jobs.size() && t.applied_index() == c.applied_index, target, "restore lost jobs");
  std::size_t by_status = 0;
  for (int s = 1; s < jobs::job_status_count; ++s) by_status += t.count(static_cast<jobs::job_status>(s));
  require(by_status == t.size(), target, "the status index does not count every restored job once");
}

// The input with its trailing CRC recomputed: without it nearly every mutation
// stops at the checksum and the fuzzer never reaches the field decoding.
std::string with_valid_crc(std::string_view bytes) {
  std::string out(bytes.substr(0, bytes.size() - 4));
  const std::uint32_t crc = jobs::crc32(out);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(crc >> (8 * i)));
  return out;
}

}  // namespace

void snapshot_one(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  check(bytes);
  if (size >= 4) check(with_valid_crc(bytes));
}

}  // namespace troupe::fuzz

TROUPE_FUZZ_ENTRY(troupe::fuzz::snapshot_one)
