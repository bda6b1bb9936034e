#include "runtime/jobs/snapshot_codec.hpp"

#include <array>
#include <cstddef>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <unordered_set>
#include <utility>

#include "runtime/jobs/job_order.hpp"

namespace troupe::jobs {

namespace {

constexpr std::string_view magic{"TRPJOBS\0", 8};

constexpr bool is_little_endian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;

// The smallest encoding of a job (all strings empty, no optionals): guards the
// job count against a corrupt value before anything is reserved.
constexpr std::size_t min_job_bytes = 3 * 8 + 1 + 8 + 8 + 1 + 8 + 4 + 4 + 8 + 1 + 1 + 8 + 8 + 1 + 8 + 8;

// Appends exactly `size` bytes (job_size) to `out`, written through the
// calls below: at a million jobs, growing a std::string byte by byte cost
// most of the encode time.
class writer {
 public:
  writer(std::string& out, std::size_t size) : start_(out.size()), end_(start_ + size) {
    out.resize(end_);
    p_ = out.data() + start_;
    out_ = &out;
  }
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  void u8(std::uint8_t v) { *p_++ = static_cast<char>(v); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) *p_++ = static_cast<char>(v >> (8 * i));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) *p_++ = static_cast<char>(v >> (8 * i));
  }
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  void boolean(bool v) { u8(v ? 1 : 0); }
  void bytes(std::string_view s) {
    u64(s.size());
    raw(s);
  }
  void raw(std::string_view s) {
    if (!s.empty()) std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  // Throws unless exactly `size` bytes were written (a job_size that disagrees with write_job).
  void check() const {
    if (static_cast<std::size_t>(p_ - (out_->data() + start_)) != end_ - start_)
      throw std::logic_error("job snapshot: encoded size mismatch");
  }

 private:
  std::string* out_;
  std::size_t start_, end_;
  char* p_;
};

// A little-endian integer from unaligned bytes: one load on little-endian
// hosts, byte assembly elsewhere.
template <typename T>
T load_le(const char* p) {
  T v;
  if constexpr (is_little_endian) {
    std::memcpy(&v, p, sizeof v);
  } else {
    v = 0;
    for (std::size_t i = 0; i < sizeof v; ++i) v |= static_cast<T>(static_cast<unsigned char>(p[i])) << (8 * i);
  }
  return v;
}

class reader {
 public:
  explicit reader(std::string_view in) : in_(in) {}

  std::uint8_t u8() {
    need(1, "u8");
    return static_cast<std::uint8_t>(in_[pos_++]);
  }
  std::uint32_t u32() {
    need(4, "u32");
    std::uint32_t v = load_le<std::uint32_t>(in_.data() + pos_);
    pos_ += 4;
    return v;
  }
  std::uint64_t u64() {
    need(8, "u64");
    std::uint64_t v = load_le<std::uint64_t>(in_.data() + pos_);
    pos_ += 8;
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

// The bytes write_job writes for `j`.
std::size_t job_size(const job& j) {
  return min_job_bytes + j.id.size() + j.command.size() + j.image.size() + j.error.size() + j.stdout_inline.size() +
         j.stderr_inline.size() + (j.exit_code ? 4 : 0) + (j.started_at_ns ? 8 : 0) + (j.completed_at_ns ? 8 : 0);
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

// Slicing-by-8: eight table lookups per 8 input bytes instead of one per
// byte; the same CRC, several times faster over a 150 MiB snapshot (it is
// computed on every encode and every decode).
std::uint32_t crc32_extend(std::uint32_t crc, std::string_view bytes) {
  using tables = std::array<std::array<std::uint32_t, 256>, 8>;
  static const tables t = [] {
    tables t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (std::uint32_t i = 0; i < 256; ++i)
      for (std::size_t k = 1; k < 8; ++k) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
    return t;
  }();
  std::uint32_t c = ~crc;
  const char* p = bytes.data();
  std::size_t n = bytes.size();
  for (; n >= 8; p += 8, n -= 8) {
    const std::uint32_t lo = load_le<std::uint32_t>(p) ^ c;
    const std::uint32_t hi = load_le<std::uint32_t>(p + 4);
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][hi & 0xFF] ^
        t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
  }
  for (; n > 0; ++p, --n) c = t[0][(c ^ static_cast<unsigned char>(*p)) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string encode_snapshot(std::uint64_t applied_index, const std::set<std::uint64_t>& workers,
                            const std::set<std::uint64_t>& draining, const std::vector<const job*>& jobs) {
  std::size_t size = magic.size() + 4 + 8 + 8 * (1 + workers.size()) + 8 * (1 + draining.size()) + 8 + 4;
  for (const job* j : jobs) size += job_size(*j);
  snapshot_builder b(applied_index, workers, draining, jobs.size(), size);
  for (const job* j : jobs) b.add(*j);
  std::string out = b.finish();
  if (out.size() != size) throw std::logic_error("job snapshot: encoded size mismatch");
  return out;
}

// Grows out_ by exactly what the next write needs and writes through a
// writer-style pointer: at a million jobs, growing a std::string byte by byte
// cost most of the encode time. reserve_bytes (exact, when the caller knows
// it) keeps the growth from reallocating.
snapshot_builder::snapshot_builder(std::uint64_t applied_index, const std::set<std::uint64_t>& workers,
                                   const std::set<std::uint64_t>& draining, std::uint64_t job_count,
                                   std::size_t reserve_bytes)
    : job_count_(job_count) {
  out_.reserve(reserve_bytes);
  writer w(out_, magic.size() + 4 + 8 + 8 * (1 + workers.size()) + 8 * (1 + draining.size()) + 8);
  w.raw(magic);
  w.u32(snapshot_format_version);
  w.u64(applied_index);
  write_worker_set(w, workers);
  write_worker_set(w, draining);
  w.u64(job_count);
}

void snapshot_builder::add(const job& j) {
  writer w(out_, job_size(j));
  write_job(w, j);
  w.check();
  added_one();
}

void snapshot_builder::add_encoded(std::string_view encoded_job) {
  out_.append(encoded_job);
  added_one();
}

// The CRC follows in steps of a few hundred KiB: those bytes are still in
// cache, and each piece of a snapshot in pieces pays for its own.
void snapshot_builder::added_one() {
  ++added_;
  if (out_.size() - crc_through_ >= (256u << 10)) extend_crc();
}

void snapshot_builder::extend_crc() {
  crc_ = crc32_extend(crc_, std::string_view(out_).substr(crc_through_));
  crc_through_ = out_.size();
}

std::string snapshot_builder::take() {
  extend_crc();
  crc_through_ = 0;
  return std::exchange(out_, std::string());
}

std::string snapshot_builder::finish() {
  if (added_ != job_count_)
    throw std::logic_error("job snapshot: " + std::to_string(added_) + " jobs added, " + std::to_string(job_count_) +
                           " announced");
  extend_crc();
  writer w(out_, 4);
  w.u32(crc_);
  return std::move(out_);
}

std::string encode_job(const job& j) {
  std::string out;
  {
    writer w(out, job_size(j));
    write_job(w, j);
    w.check();
  }
  return out;
}

snapshot_header decode_snapshot(std::string_view bytes, const std::function<void(const snapshot_header&)>& on_header,
                                const std::function<bool(job&&)>& on_job) {
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
  snapshot_header out;
  out.version = r.u32();
  if (out.version < oldest_snapshot_format_version || out.version > snapshot_format_version) {
    // Typically a snapshot from a newer troupe: refuse rather than guess.
    r.fail("unsupported version " + std::to_string(out.version) + " (this build reads versions " +
           std::to_string(oldest_snapshot_format_version) + " to " + std::to_string(snapshot_format_version) + ")");
  }
  out.applied_index = r.u64();
  out.workers = read_worker_set(r, "worker");
  if (out.version >= 2) {
    out.draining = read_worker_set(r, "draining worker");
    // A drain of worker 0 is refused on apply, so no table can hold one.
    if (out.draining.count(0)) r.fail("the draining set holds worker 0");
  }

  out.job_count = r.u64();
  if (out.job_count > r.remaining() / min_job_bytes) {
    r.fail("job count " + std::to_string(out.job_count) + " exceeds the data");
  }
  on_header(out);
  // Creation order is checked against the previous job's key, kept in a
  // buffer that is reused (no allocation per job once it is large enough).
  std::int64_t prev_created = 0;
  std::string prev_id;
  for (std::uint64_t i = 0; i < out.job_count; ++i) {
    job j = read_job(r);
    if (i > 0) {
      if (prev_created == j.created_at_ns && prev_id == j.id) r.fail("duplicate job id " + j.id);
      if (!creation_order::less(prev_created, prev_id, j.created_at_ns, j.id)) {
        r.fail("job " + j.id + " is out of creation order");
      }
    }
    prev_created = j.created_at_ns;
    prev_id.assign(j.id);
    if (!on_job(std::move(j))) r.fail("duplicate job id " + prev_id);
  }
  if (r.remaining() != 0) r.fail(std::to_string(r.remaining()) + " trailing bytes");
  return out;
}

snapshot_contents decode_snapshot(std::string_view bytes) {
  snapshot_contents out;
  // Views of the ids in out.jobs: the vector is reserved for every job
  // before the first arrives, so no element moves while they are in use.
  std::unordered_set<std::string_view> seen;  // membership only, never iterated
  snapshot_header h = decode_snapshot(
      bytes,
      [&](const snapshot_header& header) {
        out.jobs.reserve(static_cast<std::size_t>(header.job_count));
        seen.reserve(static_cast<std::size_t>(header.job_count));
      },
      [&](job&& j) {
        out.jobs.push_back(std::move(j));
        return seen.insert(out.jobs.back().id).second;
      });
  out.applied_index = h.applied_index;
  out.workers = std::move(h.workers);
  out.draining = std::move(h.draining);
  return out;
}

}  // namespace troupe::jobs

