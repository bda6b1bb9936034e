#include "runtime/storage/segmented_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <utility>

#include "runtime/storage/segment_scan.hpp"

namespace troupe::storage {

namespace {

constexpr const char* segment_suffix = ".seg";
constexpr std::size_t segment_digits = 20;

struct found_segment {
  raft::index_t first_index;
  std::string path;
};

std::vector<found_segment> list_segments(const std::string& log_dir) {
  std::vector<found_segment> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(log_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.size() < 4 || name.compare(name.size() - 4, 4, segment_suffix) != 0) continue;
    const auto index = parse_segment_file_name(name);
    if (!index)
      throw storage_error("unexpected file " + it->path().string() + ": a .seg file must be named " +
                          std::to_string(segment_digits) + " decimal digits (the first index, >= 1) + .seg");
    out.push_back({*index, it->path().string()});
  }
  if (ec) throw storage_error("cannot list log directory " + log_dir + ": " + ec.message());
  std::sort(out.begin(), out.end(),
            [](const found_segment& a, const found_segment& b) { return a.first_index < b.first_index; });
  return out;
}

void truncate_file(int fd, std::uint64_t size, const std::string& path) {
  int rc;
  do {
    rc = ::ftruncate(fd, static_cast<off_t>(size));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) throw_errno("cannot truncate to " + std::to_string(size) + " bytes:", path);
}

void unlink_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0) throw_errno("cannot remove", path);
}

}  // namespace

std::string segment_file_name(raft::index_t first_index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu%s", static_cast<unsigned long long>(first_index), segment_suffix);
  return buf;
}

std::optional<raft::index_t> parse_segment_file_name(const std::string& name) {
  if (name.size() != segment_digits + 4 || name.compare(segment_digits, 4, segment_suffix) != 0) return std::nullopt;
  raft::index_t v = 0;
  for (std::size_t i = 0; i < segment_digits; ++i) {
    const char c = name[i];
    if (c < '0' || c > '9') return std::nullopt;
    const raft::index_t digit = static_cast<raft::index_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  if (v == 0) return std::nullopt;
  return v;
}

std::string recovery_report::describe() const {
  std::string s = std::to_string(segments) + " segment(s), " + std::to_string(entries) + " entr" +
                  (entries == 1 ? "y" : "ies");
  if (truncated)
    s += "; torn tail cut from " + truncated->file + " at byte offset " + std::to_string(truncated->offset) + " (" +
         std::to_string(truncated->bytes) + " bytes, " + storage::describe(truncated->reason) + ")";
  for (const auto& f : removed_empty_segments) s += "; removed empty segment " + f;
  return s;
}

segmented_log segmented_log::open(const std::string& dir, log_options opts) {
  if (opts.segment_bytes < min_record_bytes)
    throw storage_error("log_options.segment_bytes must be at least " + std::to_string(min_record_bytes) +
                        ", got " + std::to_string(opts.segment_bytes));
  segmented_log log;
  log.opts_ = opts;
  log.log_dir_ = dir + "/log";
  ensure_directory(log.log_dir_);

  // Phase 1, read-only: validate everything before touching anything, so a
  // corrupt log is left exactly as found for inspection.
  const std::vector<found_segment> found = list_segments(log.log_dir_);
  std::vector<segment_scan> scans;
  scans.reserve(found.size());
  raft::index_t prev_last = 0;
  raft::term_t prev_term = 0;
  for (std::size_t i = 0; i < found.size(); ++i) {
    const bool is_last = i + 1 == found.size();
    // A crash during a rollover leaves the next-to-last segment's unsynced
    // tail torn and the new last segment empty; whether that is what happened
    // is decided below, once the last segment has been read.
    const bool may_be_torn = i + 2 >= found.size();
    segment seg;
    seg.first_index = found[i].first_index;
    seg.path = found[i].path;
    seg.fd = open_file(seg.path, O_RDWR);
    const std::string bytes = read_whole_file(seg.fd.get(), seg.path);
    seg.size = bytes.size();
    segment_scan scan = scan_segment(bytes, seg.path, seg.first_index, may_be_torn, prev_term);
    const bool torn = scan.valid_bytes < seg.size;
    // Damage in the next-to-last segment is a torn tail only if nothing was
    // acknowledged after it: a decodable record in the last segment was
    // written (and synced) after the damaged bytes, so they are corruption.
    if (i > 0 && !scan.records.empty() && scans.back().valid_bytes < log.segments_.back().size)
      throw storage_error(scans.back().tail_error + "; " + seg.path +
                          " holds records written after it, so this is not a torn tail");
    if (scan.records.empty() && !is_last && !torn)
      throw storage_error("empty segment " + seg.path + " (byte offset 0) is not the last segment");
    if (!scan.records.empty() && i > 0 && seg.first_index != prev_last + 1)
      throw storage_error("index gap in " + seg.path + " at byte offset 0: segment starts at index " +
                          std::to_string(seg.first_index) + " but the previous segment ends at index " +
                          std::to_string(prev_last));
    if (!scan.records.empty()) {
      prev_last = scan.records.back().index;
      prev_term = scan.records.back().term;
    }
    log.segments_.push_back(std::move(seg));
    scans.push_back(std::move(scan));
  }
  // Phase 2: repair what a crash can legitimately leave behind: an empty last
  // segment (removed first, so a crash here leaves a plain torn tail), then
  // the torn tail of the segment that is last now. Phase 1 allowed a segment
  // without records only last, or next-to-last when torn through its first
  // record: at most two go.
  while (!log.segments_.empty() && scans.back().records.empty()) {
    segment& last = log.segments_.back();
    if (scans.back().valid_bytes < last.size)
      log.recovery_.truncated = torn_tail{last.path, 0, last.size, scans.back().tail_status};
    log.recovery_.removed_empty_segments.push_back(last.path);
    unlink_file(last.path);
    fsync_directory(log.log_dir_);
    log.segments_.pop_back();
    scans.pop_back();
  }
  if (!log.segments_.empty()) {
    segment& last = log.segments_.back();
    const segment_scan& scan = scans.back();
    if (scan.valid_bytes < last.size) {
      log.recovery_.truncated = torn_tail{last.path, scan.valid_bytes, last.size - scan.valid_bytes, scan.tail_status};
      truncate_file(last.fd.get(), scan.valid_bytes, last.path);
      fdatasync_or_throw(last.fd.get(), last.path);
      last.size = scan.valid_bytes;
    }
  }

  for (const segment_scan& scan : scans)
    for (const scanned_record& r : scan.records) log.locations_.push_back(location{r.term, r.offset, r.bytes});
  if (!log.segments_.empty()) log.first_index_ = log.segments_.front().first_index;
  log.recovery_.segments = log.segments_.size();
  log.recovery_.entries = log.locations_.size();
  return log;
}

raft::index_t segmented_log::first_index() const { return empty() ? 0 : first_index_; }

raft::index_t segmented_log::last_index() const { return empty() ? 0 : first_index_ + locations_.size() - 1; }

std::optional<raft::term_t> segmented_log::term_at(raft::index_t index) const {
  if (empty() || index < first_index_ || index > last_index()) return std::nullopt;
  return location_of(index).term;
}

segmented_log::segment& segmented_log::create_segment(raft::index_t first_index) {
  segment seg;
  seg.first_index = first_index;
  seg.path = log_dir_ + "/" + segment_file_name(first_index);
  seg.fd = open_file(seg.path, O_RDWR | O_CREAT | O_EXCL);
  directory_needs_sync_ = true;
  segments_.push_back(std::move(seg));
  return segments_.back();
}

void segmented_log::remove_last_segment() {
  unlink_file(segments_.back().path);
  // Durable before anything older is touched: a crash (even a power cut) can
  // then only ever leave a prefix of the segments, never a gap.
  fsync_directory(log_dir_);
  segments_.pop_back();
}

std::size_t segmented_log::segment_position(raft::index_t index) const {
  auto it = std::upper_bound(segments_.begin(), segments_.end(), index,
                             [](raft::index_t i, const segment& s) { return i < s.first_index; });
  return static_cast<std::size_t>(std::prev(it) - segments_.begin());
}

void segmented_log::append(const std::vector<raft::entry>& es) {
  if (es.empty()) return;
  const raft::index_t front = es.front().index;
  if (front == 0) throw storage_error("append: log indexes start at 1, got entry with index 0");
  for (std::size_t i = 0; i < es.size(); ++i) {
    if (es[i].index != front + i)
      throw storage_error("append: entries are not contiguous: index " + std::to_string(es[i].index) +
                          " at position " + std::to_string(i) + ", expected " + std::to_string(front + i));
    if (static_cast<std::uint8_t>(es[i].type) > static_cast<std::uint8_t>(raft::last_entry_type))
      throw storage_error("append: entry " + std::to_string(es[i].index) + " has unknown type " +
                          std::to_string(static_cast<unsigned>(es[i].type)));
    if (es[i].data.size() > max_payload_bytes - payload_fixed_bytes)
      throw storage_error("append: entry " + std::to_string(es[i].index) + " has " +
                          std::to_string(es[i].data.size()) + " bytes of data, above the record limit of " +
                          std::to_string(max_payload_bytes - payload_fixed_bytes));
  }
  if (!empty()) {
    if (front > last_index() + 1)
      throw storage_error("append: entry " + std::to_string(front) + " would leave a gap after last index " +
                          std::to_string(last_index()));
    if (front <= last_index()) truncate_suffix(front);
  }

  // Records for the active segment are gathered and written with one pwrite;
  // the in-memory index only learns about them once they are written.
  segment* active = segments_.empty() ? nullptr : &segments_.back();
  std::string pending;
  std::vector<location> pending_locations;
  auto flush = [&] {
    if (pending.empty()) return;
    try {
      pwrite_all(active->fd.get(), pending, active->size, active->path);
    } catch (...) {
      // Cut any partial write so a later append cannot leave stale records
      // behind the new ones. Best effort: the write error is what we report.
      const int rc = ::ftruncate(active->fd.get(), static_cast<off_t>(active->size));
      static_cast<void>(rc);
      if (active->size == 0) remove_last_segment();
      throw;
    }
    active->size += pending.size();
    active->needs_sync = true;
    if (locations_.empty()) first_index_ = segments_.front().first_index;
    locations_.insert(locations_.end(), pending_locations.begin(), pending_locations.end());
    pending.clear();
    pending_locations.clear();
  };
  for (const raft::entry& e : es) {
    const std::size_t record_bytes = encoded_record_bytes(e);
    const std::uint64_t active_bytes = active ? active->size + pending.size() : 0;
    if (!active || (active_bytes > 0 && active_bytes + record_bytes > opts_.segment_bytes)) {
      if (active) flush();
      active = &create_segment(e.index);
    }
    pending_locations.push_back(
        location{e.term, active->size + pending.size(), static_cast<std::uint32_t>(record_bytes)});
    encode_record(e, pending);
  }
  flush();
}

void segmented_log::sync() {
  for (segment& s : segments_) {
    if (!s.needs_sync) continue;
    fdatasync_or_throw(s.fd.get(), s.path);
    s.needs_sync = false;
  }
  if (directory_needs_sync_) {
    fsync_directory(log_dir_);
    directory_needs_sync_ = false;
  }
}

void segmented_log::truncate_suffix(raft::index_t from) {
  if (empty() || from > last_index()) return;
  from = std::max(from, first_index_);
  // Offsets in locations_ are relative to the segment holding the entry. When
  // `from` starts a segment, that whole segment goes and the one before it
  // keeps every byte: cutting it at location_of(from).offset (0, an offset in
  // the removed file) would empty it and lose entries before `from`.
  const bool from_starts_segment = segments_[segment_position(from)].first_index == from;
  while (!segments_.empty() && segments_.back().first_index >= from) remove_last_segment();
  if (!segments_.empty() && !from_starts_segment) {
    segment& s = segments_.back();
    const std::uint64_t cut = location_of(from).offset;
    truncate_file(s.fd.get(), cut, s.path);
    s.size = cut;
    s.needs_sync = true;
  }
  locations_.resize(from - first_index_);
  if (locations_.empty()) first_index_ = 0;
}

void segmented_log::compact_prefix(raft::index_t through) {
  while (segments_.size() > 1 && segments_[1].first_index - 1 <= through) {
    unlink_file(segments_.front().path);
    // Oldest first, each removal durable before the next: the survivors are
    // always a contiguous suffix of the log.
    fsync_directory(log_dir_);
    const raft::index_t next_first = segments_[1].first_index;
    locations_.erase(locations_.begin(), locations_.begin() + static_cast<std::ptrdiff_t>(next_first - first_index_));
    first_index_ = next_first;
    segments_.pop_front();
  }
}

std::vector<raft::entry> segmented_log::read(raft::index_t lo, raft::index_t hi_exclusive) const {
  const raft::index_t first = empty() ? last_index() + 1 : first_index_;
  if (lo > hi_exclusive || (lo != hi_exclusive && (lo < first || hi_exclusive > last_index() + 1)))
    throw storage_error("read [" + std::to_string(lo) + ", " + std::to_string(hi_exclusive) +
                        ") is outside the log, which holds [" + std::to_string(first_index()) + ", " +
                        std::to_string(last_index()) + "]");
  std::vector<raft::entry> out;
  out.reserve(hi_exclusive - lo);
  std::string buf;
  raft::index_t i = lo;
  while (i < hi_exclusive) {
    const std::size_t pos_in_segments = segment_position(i);
    const segment& s = segments_[pos_in_segments];
    const raft::index_t segment_end =
        pos_in_segments + 1 < segments_.size() ? segments_[pos_in_segments + 1].first_index : last_index() + 1;
    const raft::index_t run_end = std::min(hi_exclusive, segment_end);
    const std::uint64_t start = location_of(i).offset;
    const location& last_loc = location_of(run_end - 1);
    buf.resize(last_loc.offset + last_loc.bytes - start);
    pread_exact(s.fd.get(), buf.data(), buf.size(), start, s.path);
    std::size_t pos = 0;
    for (; i < run_end; ++i) {
      const decode_result r = decode_record(std::string_view(buf).substr(pos, location_of(i).bytes));
      if (r.status != record_status::ok || r.record.index != i)
        throw storage_error("corrupt record in " + s.path + " at byte offset " + std::to_string(start + pos) +
                            " while reading index " + std::to_string(i) + ": " +
                            (r.status != record_status::ok ? describe(r.status) : "index mismatch"));
      out.push_back(r.record.to_entry());
      pos += r.record.record_bytes;
    }
  }
  return out;
}

}  // namespace troupe::storage
