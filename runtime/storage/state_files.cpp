#include "runtime/storage/state_files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "runtime/storage/byte_order.hpp"
#include "runtime/storage/crc32c.hpp"
#include "runtime/storage/mapped_file.hpp"
#include "runtime/storage/posix_file.hpp"

namespace troupe::storage {

namespace {

constexpr std::string_view hard_state_magic = "TRHS";
constexpr std::string_view snapshot_magic = "TRSN";
constexpr std::uint32_t format_version = 1;
// Snapshot version 2 stores the whole configuration (learners, addresses);
// version 1 stored voter ids only and is still read.
constexpr std::uint32_t snapshot_format_version = 2;
constexpr std::size_t hard_state_bytes = 4 + 4 + 8 + 8 + 8 + 4;

void append_crc(std::string& out) { put_u32(out, crc32c(out)); }

// Checks magic and version (1 up to max_version) common to both formats;
// returns the version.
std::uint32_t check_magic(std::string_view bytes, std::string_view magic, const std::string& source,
                          std::uint32_t max_version) {
  if (bytes.size() < magic.size() + 4 + 4)
    throw storage_error(source + ": file of " + std::to_string(bytes.size()) + " bytes is too short");
  if (bytes.substr(0, magic.size()) != magic)
    throw storage_error(source + ": bad magic at byte offset 0, expected \"" + std::string(magic) + "\"");
  const std::uint32_t version = get_u32(bytes.data() + 4);
  if (version < 1 || version > max_version)
    throw storage_error(source + ": unsupported format version " + std::to_string(version) + " at byte offset 4");
  return version;
}

// check_magic, then the CRC trailer; returns the version.
std::uint32_t check_envelope(std::string_view bytes, std::string_view magic, const std::string& source,
                             std::uint32_t max_version = format_version) {
  const std::uint32_t version = check_magic(bytes, magic, source, max_version);
  const std::size_t crc_at = bytes.size() - 4;
  const std::uint32_t stored = get_u32(bytes.data() + crc_at);
  const std::uint32_t computed = crc32c(bytes.data(), crc_at);
  if (stored != computed) {
    char buf[96];
    std::snprintf(buf, sizeof buf, ": CRC mismatch at byte offset %zu (stored 0x%08x, computed 0x%08x)", crc_at,
                  stored, computed);
    throw storage_error(source + buf);
  }
  return version;
}

std::optional<std::string> read_if_exists(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;
    throw_errno("cannot open", path);
  }
  unique_fd owned(fd);
  return read_whole_file(owned.get(), path);
}

}  // namespace

std::string hard_state_path(const std::string& dir) { return dir + "/hard_state"; }
std::string snapshot_path(const std::string& dir) { return dir + "/snapshot"; }

namespace {

// Renames `from` over `to` (both in `dir`) and fsyncs `dir`, so the rename
// survives a crash.
void rename_durably(const std::string& from, const std::string& to, const std::string& dir) {
  if (::rename(from.c_str(), to.c_str()) != 0) throw_errno("cannot rename " + from + " to", to);
  fsync_directory(dir);
}

}  // namespace

void atomic_write_file(const std::string& path, std::string_view bytes) {
  const std::string dir = parent_directory(path);
  ensure_directory(dir);
  const std::string tmp = path + ".tmp";
  {
    unique_fd fd = open_file(tmp, O_WRONLY | O_CREAT | O_TRUNC);
    pwrite_all(fd.get(), bytes, 0, tmp);
    fsync_or_throw(fd.get(), tmp);
  }
  rename_durably(tmp, path, dir);
}

std::string encode_hard_state(const raft::hard_state& hs) {
  std::string out(hard_state_magic);
  put_u32(out, format_version);
  put_u64(out, hs.term);
  put_u64(out, hs.vote);
  put_u64(out, hs.commit);
  append_crc(out);
  return out;
}

raft::hard_state decode_hard_state(std::string_view bytes, const std::string& source) {
  if (bytes.size() != hard_state_bytes)
    throw storage_error(source + ": hard state file has " + std::to_string(bytes.size()) + " bytes, expected " +
                        std::to_string(hard_state_bytes));
  check_envelope(bytes, hard_state_magic, source);
  raft::hard_state hs;
  hs.term = get_u64(bytes.data() + 8);
  hs.vote = get_u64(bytes.data() + 16);
  hs.commit = get_u64(bytes.data() + 24);
  return hs;
}

namespace {

// Everything of a snapshot file before its data: magic, version, meta, data
// length. The file is this, the data, then the CRC of both. Its size does
// not depend on the data.
std::string snapshot_header(const raft::snapshot_meta& meta, std::uint64_t data_len) {
  std::string out(snapshot_magic);
  const std::string conf = raft::encode(meta.conf);
  put_u32(out, snapshot_format_version);
  put_u64(out, meta.index);
  put_u64(out, meta.term);
  put_u32(out, static_cast<std::uint32_t>(conf.size()));
  out.append(conf);
  put_u64(out, data_len);
  return out;
}

}  // namespace

std::string encode_snapshot(const raft::snapshot& snap) {
  std::string out = snapshot_header(snap.meta, snap.data.size());
  const std::uint32_t crc = crc32c_extend(crc32c(out), snap.data.view().data(), snap.data.size());
  out.append(snap.data.view());
  put_u32(out, crc);
  return out;
}

namespace {

// Checks the snapshot file (its CRC unless told not to) and reads its
// metadata; returns where the data starts (it ends at the CRC trailer).
std::size_t decode_snapshot_meta(std::string_view bytes, const std::string& source, raft::snapshot_meta& meta,
                                 bool check_crc = true) {
  const std::uint32_t version = check_crc ? check_envelope(bytes, snapshot_magic, source, snapshot_format_version)
                                          : check_magic(bytes, snapshot_magic, source, snapshot_format_version);
  const std::size_t body_end = bytes.size() - 4;  // the CRC trailer
  std::size_t pos = 8;
  auto need = [&](std::size_t n, const char* what) {
    if (body_end - pos < n)
      throw storage_error(source + ": snapshot truncated reading " + what + " at byte offset " +
                          std::to_string(pos));
  };
  need(8 + 8 + 4, "header");
  meta.index = get_u64(bytes.data() + pos);
  meta.term = get_u64(bytes.data() + pos + 8);
  const std::uint32_t count = get_u32(bytes.data() + pos + 16);
  pos += 20;
  if (version == 1) {
    need(std::size_t{8} * count, "voters");
    std::vector<raft::node_id> voters;
    const std::size_t voters_at = pos;
    for (std::uint32_t i = 0; i < count; ++i, pos += 8) voters.push_back(get_u64(bytes.data() + pos));
    // What version 2's decoder refuses too: node 0, or a node listed twice
    // (the configuration would silently hold fewer voters than the file).
    std::vector<raft::node_id> sorted = voters;
    std::sort(sorted.begin(), sorted.end());
    if (!sorted.empty() && sorted.front() == raft::no_node)
      throw storage_error(source + ": bad configuration at byte offset " + std::to_string(voters_at) +
                          ": a voter with node id 0");
    if (auto twice = std::adjacent_find(sorted.begin(), sorted.end()); twice != sorted.end())
      throw storage_error(source + ": bad configuration at byte offset " + std::to_string(voters_at) + ": voter " +
                          std::to_string(*twice) + " is listed twice");
    meta.conf = raft::membership::of_voters(voters);
  } else {
    need(count, "configuration");
    std::string why;
    auto conf = raft::decode_membership(bytes.substr(pos, count), &why);
    if (!conf) throw storage_error(source + ": bad configuration at byte offset " + std::to_string(pos) + ": " + why);
    meta.conf = std::move(*conf);
    pos += count;
  }
  need(8, "data length");
  const std::uint64_t data_len = get_u64(bytes.data() + pos);
  pos += 8;
  if (data_len != body_end - pos)
    throw storage_error(source + ": snapshot data length " + std::to_string(data_len) + " at byte offset " +
                        std::to_string(pos - 8) + " does not match the " + std::to_string(body_end - pos) +
                        " bytes present");
  return pos;
}

}  // namespace

raft::snapshot decode_snapshot(std::string_view bytes, const std::string& source) {
  raft::snapshot snap;
  const std::size_t data_at = decode_snapshot_meta(bytes, source, snap.meta);
  snap.data = std::string(bytes.data() + data_at, bytes.size() - 4 - data_at);
  return snap;
}

raft::snapshot decode_snapshot(std::string&& bytes, const std::string& source) {
  raft::snapshot snap;
  const std::size_t data_at = decode_snapshot_meta(bytes, source, snap.meta);
  // The data is most of the file: keep the file's buffer, trimmed in place,
  // rather than copy a second buffer of the snapshot's size.
  bytes.resize(bytes.size() - 4);
  bytes.erase(0, data_at);
  snap.data = std::move(bytes);
  return snap;
}

void save_hard_state(const std::string& dir, const raft::hard_state& hs) {
  atomic_write_file(hard_state_path(dir), encode_hard_state(hs));
}

raft::hard_state load_hard_state(const std::string& dir) {
  const std::string path = hard_state_path(dir);
  const auto bytes = read_if_exists(path);
  if (!bytes) return raft::hard_state{};
  return decode_hard_state(*bytes, path);
}

void save_snapshot(const std::string& dir, const raft::snapshot& snap) {
  snapshot_file_writer w(dir, snap.meta);
  w.append(snap.data.view());
  w.install();
}

namespace {
std::string unfinished_path(const std::string& dir, raft::index_t index) {
  return snapshot_path(dir) + "." + std::to_string(index) + ".tmp";
}
}  // namespace

snapshot_file_writer::snapshot_file_writer(const std::string& dir, raft::snapshot_meta meta)
    : dir_(dir), path_(unfinished_path(dir, meta.index)), meta_(std::move(meta)) {
  ensure_directory(dir_);
  fd_ = open_file(path_, O_WRONLY | O_CREAT | O_TRUNC);
  data_at_ = snapshot_header(meta_, 0).size();  // written at finish()
}

snapshot_file_writer::~snapshot_file_writer() {
  if (!finished_) ::unlink(path_.c_str());  // best effort; the next start removes it otherwise
}

void snapshot_file_writer::append(std::string_view data) {
  if (finished_) throw std::logic_error("snapshot_file_writer: append after finish");
  if (data.empty()) return;
  pwrite_all(fd_.get(), data, data_at_ + written_, path_);
  data_crc_ = crc32c_extend(data_crc_, data.data(), data.size());
  // Start this piece's writeback now: the final fsync then waits for the
  // last piece only, and so does a log fsync that the filesystem orders
  // after this file's dirty data. Only a hint: errors surface at fsync.
  ::sync_file_range(fd_.get(), static_cast<off_t>(data_at_ + written_), static_cast<off_t>(data.size()),
                    SYNC_FILE_RANGE_WRITE);
  written_ += data.size();
}

void snapshot_file_writer::finish() {
  if (finished_) return;
  const std::string header = snapshot_header(meta_, written_);
  std::string trailer;
  put_u32(trailer, crc32c_combine(crc32c(header), data_crc_, written_));
  pwrite_all(fd_.get(), header, 0, path_);
  pwrite_all(fd_.get(), trailer, data_at_ + written_, path_);
  fsync_or_throw(fd_.get(), path_);
  fd_ = unique_fd();
  finished_ = true;
}

void snapshot_file_writer::install() {
  if (installed_) return;
  finish();
  install_snapshot_file(dir_, meta_.index);
  installed_ = true;
}

void install_snapshot_file(const std::string& dir, raft::index_t index) {
  rename_durably(unfinished_path(dir, index), snapshot_path(dir), dir);
}

void remove_snapshot_file(const std::string& dir, raft::index_t index) {
  const std::string path = unfinished_path(dir, index);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("cannot remove", path);
}

std::size_t remove_unfinished_snapshots(const std::string& dir) {
  const std::string prefix = "snapshot.";
  std::size_t removed = 0;
  DIR* d = ::opendir(dir.c_str());
  if (!d) {
    if (errno == ENOENT) return 0;
    throw_errno("cannot list", dir);
  }
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    if (name.size() >= prefix.size() + 3 && name.substr(0, prefix.size()) == prefix &&
        name.substr(name.size() - 4) == ".tmp")
      names.emplace_back(name);
  }
  ::closedir(d);
  for (const auto& name : names) {
    const std::string path = dir + "/" + name;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("cannot remove", path);
    ++removed;
  }
  return removed;
}

std::optional<raft::snapshot> load_snapshot(const std::string& dir) {
  const std::string path = snapshot_path(dir);
  auto bytes = read_if_exists(path);
  if (!bytes) return std::nullopt;
  return decode_snapshot(std::move(*bytes), path);
}

raft::snapshot_bytes map_snapshot_data(const std::string& dir, raft::index_t index) {
  const std::string path = snapshot_path(dir);
  auto owner = mapped_file::map(path);
  const std::string_view bytes = owner->bytes();
  const std::size_t len = bytes.size();
  raft::snapshot_meta meta;
  const std::size_t data_at = decode_snapshot_meta(bytes, path, meta, /*check_crc=*/false);
  if (meta.index != index)
    throw storage_error(path + ": holds the snapshot at index " + std::to_string(meta.index) + ", expected " +
                        std::to_string(index));
  return raft::snapshot_bytes(bytes.substr(data_at, len - 4 - data_at), std::move(owner));
}

}  // namespace troupe::storage
