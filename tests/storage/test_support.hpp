// Helpers shared by the storage tests: a temp directory under /tmp removed on
// scope exit, whole-file snapshots, and deterministic entries.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "runtime/raft/types.hpp"

namespace troupe::storage::testing {

class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = "/tmp/troupe-storage-test-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) throw std::runtime_error("cannot write " + path);
}

// Every regular file under dir (recursively), path -> content.
inline std::map<std::string, std::string> snapshot_tree(const std::string& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) out[e.path().string()] = read_file(e.path().string());
  return out;
}

// Entry data derived from (index, term) so any reader can check it.
inline std::string payload_for(raft::index_t index, raft::term_t term, std::size_t size) {
  std::string s(size, '\0');
  std::uint64_t x = index * 0x9E3779B97F4A7C15ull ^ term;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x & 0xff);
  }
  return s;
}

inline raft::entry make_entry(raft::index_t index, raft::term_t term, std::size_t size = 40) {
  return raft::entry{term, index,
                     index % 7 == 0 ? raft::entry_type::noop : raft::entry_type::normal,
                     payload_for(index, term, size)};
}

inline std::vector<raft::entry> make_entries(raft::index_t from, raft::index_t to_inclusive, raft::term_t term,
                                             std::size_t size = 40) {
  std::vector<raft::entry> es;
  for (raft::index_t i = from; i <= to_inclusive; ++i) es.push_back(make_entry(i, term, size));
  return es;
}

}  // namespace troupe::storage::testing
