#include "runtime/jobs/snapshot_codec.hpp"

#include <array>
#include <cstddef>
#include <stdexcept>
#include <unordered_set>

#include "runtime/jobs/job_order.hpp"

namespace troupe::jobs {

namespace {

constexpr std::string_view magic{"TRPJOBS\0", 8};

// The smallest encoding of a job (all strings empty, no optionals): guards the
// job count against a corrupt value before anything is reserved.
constexpr std::size_t min_job_bytes = 3 * 8 + 1 + 8 + 8 + 1 + 8 + 4 + 4 + 8 + 1 + 1 + 8 + 8 + 1 + 8 + 8;

class writer {
 public:
  void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void bytes(std::string_view s) {
    u64(s.size());
    out_.append(s);
  }
  void raw(std::string_view s) { out_.append(s); }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

class reader {
 public:
  explicit reader(std::string_view in) : in_(in) {}

  std::uint8_t u8() {
    need(1, "u8");
    return static_cast<std::uint8_t>(in_[pos_++]);
  }
  std::uint32_t u32() {
    need(4, "u32");
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t{static_cast<unsigned char>(in_[pos_++])} << (8 * i);
    return v;
  }
  std::uint64_t u64() {
    need(8, "u64");
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t{static_cast<unsigned char>(in_[pos_++])} << (8 * i);
    return v;
  }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  bool boolean(const char* what) {
    std::uint8_t v = u8();
    if (v > 1) fail(std::string("flag ") + what + " is " + std::to_string(v) + ", not 0 or 1");
    return v == 1;
  }
  std::string bytes(const char* what) {
    std::uint64_t n = u64();
    if (n > remaining()) fail(std::string("length of ") + what + " (" + std::to_string(n) + ") runs past the end");
    std::string s(in_.substr(pos_, static_cast<std::size_t>(n)));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }
  std::string_view raw(std::size_t n) {
    need(n, "raw bytes");
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::size_t remaining() const { return in_.size() - pos_; }
  std::size_t position() const { return pos_; }

  [[noreturn]] void fail(const std::string& why) const {
    throw std::runtime_error("job snapshot: " + why + " at byte " + std::to_string(pos_));
  }

 private:
  void need(std::size_t n, const char* what) const {
    if (remaining() < n) fail(std::string("truncated reading ") + what);
  }

  std::string_view in_;
  std::size_t pos_ = 0;
};

void write_job(writer& w, const job& j) {
  w.bytes(j.id);
  w.bytes(j.command);
  w.bytes(j.image);
  w.u8(static_cast<std::uint8_t>(j.status));
  w.u64(j.assigned_worker);
  w.u64(j.executed_by);
  w.boolean(j.exit_code.has_value());
  if (j.exit_code) w.u32(static_cast<std::uint32_t>(*j.exit_code));
  w.bytes(j.error);
  w.u32(j.attempts);
  w.u32(j.timeout_s);
  w.i64(j.created_at_ns);
  w.boolean(j.started_at_ns.has_value());
  if (j.started_at_ns) w.i64(*j.started_at_ns);
  w.boolean(j.completed_at_ns.has_value());
  if (j.completed_at_ns) w.i64(*j.completed_at_ns);
  w.bytes(j.stdout_inline);
  w.bytes(j.stderr_inline);
  w.boolean(j.output_truncated);
  w.u64(j.updated_index);
  w.i64(j.assigned_at_ns);
}

job read_job(reader& r) {
  job j;
  j.id = r.bytes("job id");
  if (j.id.empty()) r.fail("empty job id");
  j.command = r.bytes("command");
  j.image = r.bytes("image");
  std::uint8_t status = r.u8();
  if (!is_known_status(status) || status == static_cast<int>(job_status::unspecified)) {
    r.fail("job " + j.id + " has invalid status " + std::to_string(status));
  }
  j.status = static_cast<job_status>(status);
  j.assigned_worker = r.u64();
  j.executed_by = r.u64();
  if (r.boolean("exit_code present")) j.exit_code = static_cast<std::int32_t>(r.u32());
  j.error = r.bytes("error");
  j.attempts = r.u32();
  j.timeout_s = r.u32();
  j.created_at_ns = r.i64();
  if (r.boolean("started_at present")) j.started_at_ns = r.i64();
  if (r.boolean("completed_at present")) j.completed_at_ns = r.i64();
  j.stdout_inline = r.bytes("stdout");
  j.stderr_inline = r.bytes("stderr");
  j.output_truncated = r.boolean("output_truncated");
  j.updated_index = r.u64();
  j.assigned_at_ns = r.i64();
  return j;
}

// A std::set iterates in ascending order, so equal sets give equal bytes.
void write_worker_set(writer& w, const std::set<std::uint64_t>& ids) {
  w.u64(ids.size());
  for (std::uint64_t id : ids) w.u64(id);
}

// `what` names one element ("worker"), for the messages.
std::set<std::uint64_t> read_worker_set(reader& r, const char* what) {
  std::uint64_t count = r.u64();
  if (count > r.remaining() / 8) r.fail(std::string(what) + " count " + std::to_string(count) + " exceeds the data");
  std::set<std::uint64_t> out;
  for (std::uint64_t i = 0; i < count; ++i) {
    std::uint64_t worker = r.u64();
    if (!out.empty() && worker <= *out.rbegin()) r.fail(std::string(what) + "s are not strictly ascending");
    out.insert(out.end(), worker);
  }
  return out;
}

}  // namespace

std::uint32_t crc32(std::string_view bytes) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (char ch : bytes) c = table[(c ^ static_cast<unsigned char>(ch)) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string encode_snapshot(std::uint64_t applied_index, const std::set<std::uint64_t>& workers,
                            const std::set<std::uint64_t>& draining, const std::vector<const job*>& jobs) {
  writer w;
  w.raw(magic);
  w.u32(snapshot_format_version);
  w.u64(applied_index);
  write_worker_set(w, workers);
  write_worker_set(w, draining);
  w.u64(jobs.size());
  for (const job* j : jobs) write_job(w, *j);
  w.u32(crc32(w.str()));
  return std::move(w.str());
}

snapshot_contents decode_snapshot(std::string_view bytes) {
  if (bytes.size() < magic.size() + 4 + 4) {
    throw std::runtime_error("job snapshot: " + std::to_string(bytes.size()) + " bytes is too short");
  }
  std::string_view body = bytes.substr(0, bytes.size() - 4);
  reader trailer(bytes.substr(bytes.size() - 4));
  // Checked first so a corrupt count or length is reported as corruption,
  // not as whatever it happens to decode to.
  if (std::uint32_t stored = trailer.u32(), actual = crc32(body); stored != actual) {
    throw std::runtime_error("job snapshot: checksum mismatch (stored " + std::to_string(stored) + ", computed " +
                             std::to_string(actual) + ")");
  }

  reader r(body);
  if (r.raw(magic.size()) != magic) r.fail("bad magic");
  const std::uint32_t version = r.u32();
  if (version < oldest_snapshot_format_version || version > snapshot_format_version) {
    // Typically a snapshot from a newer troupe: refuse rather than guess.
    r.fail("unsupported version " + std::to_string(version) + " (this build reads versions " +
           std::to_string(oldest_snapshot_format_version) + " to " + std::to_string(snapshot_format_version) + ")");
  }
  snapshot_contents out;
  out.applied_index = r.u64();
  out.workers = read_worker_set(r, "worker");
  if (version >= 2) {
    out.draining = read_worker_set(r, "draining worker");
    // A drain of worker 0 is refused on apply, so no table can hold one.
    if (out.draining.count(0)) r.fail("the draining set holds worker 0");
  }

  std::uint64_t job_count = r.u64();
  if (job_count > r.remaining() / min_job_bytes) r.fail("job count " + std::to_string(job_count) + " exceeds the data");
  out.jobs.reserve(static_cast<std::size_t>(job_count));
  std::unordered_set<std::string> seen;  // membership only, never iterated
  for (std::uint64_t i = 0; i < job_count; ++i) {
    out.jobs.push_back(read_job(r));
    const job& j = out.jobs.back();
    if (!seen.insert(j.id).second) r.fail("duplicate job id " + j.id);
    if (i > 0) {
      const job& prev = out.jobs[out.jobs.size() - 2];
      if (!creation_order::less(prev.created_at_ns, prev.id, j.created_at_ns, j.id)) {
        r.fail("job " + j.id + " is out of creation order");
      }
    }
  }
  if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " trailing bytes");
  return out;
}

}  // namespace troupe::jobs
