#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <random>

#include "runtime/storage/record_codec.hpp"
#include "runtime/storage/segmented_log.hpp"
#include "test_support.hpp"

using namespace troupe;
using namespace troupe::storage;
using namespace troupe::storage::testing;

namespace {

constexpr std::size_t record_bytes = 8 + 17 + 40;  // make_entry default payload
const log_options small_segments{1000};            // 15 records per segment

// Writes entries 1..n in small segments and returns the segment paths.
std::vector<std::string> build_log(const std::string& dir, raft::index_t n) {
  auto log = segmented_log::open(dir, small_segments);
  log.append(make_entries(1, n, 1));
  log.sync();
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/log")) files.push_back(e.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

void flip_byte(const std::string& path, std::size_t offset) {
  std::string bytes = read_file(path);
  REQUIRE(offset < bytes.size());
  bytes[offset] = static_cast<char>(bytes[offset] ^ 0x5a);
  write_file(path, bytes);
}

// Opening must throw a message naming the file and offset, and leave every
// byte on disk as it was.
void expect_corruption(const std::string& dir, const std::string& file, std::size_t offset) {
  const auto before = snapshot_tree(dir);
  const std::string expected = file + " at byte offset " + std::to_string(offset);
  CHECK_THROWS_WITH_AS(segmented_log::open(dir, small_segments), doctest::Contains(expected.c_str()),
                       storage_error);
  CHECK(snapshot_tree(dir) == before);
}

}  // namespace

TEST_SUITE("recovery") {
  TEST_CASE("a torn tail at any offset inside the last record is cut and reported") {
    const std::size_t cuts[] = {1, 3, 7, 8, 9, 20, 24, 25, 40, record_bytes - 1};
    for (std::size_t keep : cuts) {
      CAPTURE(keep);
      temp_dir d;
      const auto files = build_log(d.path(), 40);  // last segment holds 31..40
      const std::string last = files.back();
      const std::size_t full = std::filesystem::file_size(last);
      const std::size_t cut_at = full - record_bytes;
      std::filesystem::resize_file(last, cut_at + keep);

      auto log = segmented_log::open(d.path(), small_segments);
      CHECK(log.last_index() == 39);
      REQUIRE(log.recovery().truncated.has_value());
      CHECK(log.recovery().truncated->file == last);
      CHECK(log.recovery().truncated->offset == cut_at);
      CHECK(log.recovery().truncated->bytes == keep);
      CHECK(log.recovery().describe().find("torn tail") != std::string::npos);
      CHECK(std::filesystem::file_size(last) == cut_at);
      const auto es = log.read(1, 40);
      for (raft::index_t i = 1; i <= 39; ++i) REQUIRE(es[i - 1] == make_entry(i, 1));
      log.append(make_entries(40, 42, 2));
      log.sync();
      auto again = segmented_log::open(d.path(), small_segments);
      CHECK_FALSE(again.recovery().truncated.has_value());
      CHECK(again.read(40, 43) == make_entries(40, 42, 2));
    }
  }

  TEST_CASE("a bad CRC in the last record and zero-filled garbage after it are a torn tail") {
    temp_dir d;
    const auto files = build_log(d.path(), 40);
    const std::string last = files.back();
    const std::size_t last_record = std::filesystem::file_size(last) - record_bytes;
    flip_byte(last, last_record + 30);
    std::string bytes = read_file(last);
    bytes.append(4096, '\0');  // a crash can leave an extended, unwritten region
    write_file(last, bytes);
    auto log = segmented_log::open(d.path(), small_segments);
    CHECK(log.last_index() == 39);
    REQUIRE(log.recovery().truncated.has_value());
    CHECK(log.recovery().truncated->reason == record_status::bad_crc);
    CHECK(log.recovery().truncated->bytes == record_bytes + 4096);
  }

  TEST_CASE("a torn first record empties the last segment, which is removed") {
    temp_dir d;
    const auto files = build_log(d.path(), 31);  // last segment holds only index 31
    std::filesystem::resize_file(files.back(), 10);
    auto log = segmented_log::open(d.path(), small_segments);
    CHECK(log.last_index() == 30);
    CHECK(log.recovery().removed_empty_segments == std::vector<std::string>{files.back()});
    CHECK_FALSE(std::filesystem::exists(files.back()));
    log.append(make_entries(31, 32, 2));
    log.sync();
    CHECK(segmented_log::open(d.path(), small_segments).last_index() == 32);
  }

  TEST_CASE("a bad record followed by a valid one in the last segment is corruption") {
    temp_dir d;
    const auto files = build_log(d.path(), 40);
    const std::size_t offset = 3 * record_bytes;  // index 34 of the last segment
    flip_byte(files.back(), offset + 20);
    expect_corruption(d.path(), files.back(), offset);
  }

  TEST_CASE("a damaged length field in the middle of the last segment is corruption") {
    temp_dir d;
    const auto files = build_log(d.path(), 40);
    flip_byte(files.back(), 5 * record_bytes + 1);
    expect_corruption(d.path(), files.back(), 5 * record_bytes);
  }

  TEST_CASE("any bad record in a non-last segment is corruption, even its final one") {
    temp_dir d;
    const auto files = build_log(d.path(), 40);
    const std::size_t offset = 14 * record_bytes;
    flip_byte(files[1], offset + 30);
    expect_corruption(d.path(), files[1], offset);
  }

  TEST_CASE("a truncated non-last segment is corruption") {
    temp_dir d;
    const auto files = build_log(d.path(), 40);
    std::filesystem::resize_file(files[0], 14 * record_bytes + 5);
    expect_corruption(d.path(), files[0], 14 * record_bytes);
  }

  TEST_CASE("a missing middle segment is an index gap") {
    temp_dir d;
    const auto files = build_log(d.path(), 40);
    std::filesystem::remove(files[1]);
    expect_corruption(d.path(), files[2], 0);
  }

  TEST_CASE("a segment whose records do not match its name is an index gap") {
    temp_dir d;
    const auto files = build_log(d.path(), 40);
    std::filesystem::rename(files[2], d.path() + "/log/00000000000000000032.seg");
    expect_corruption(d.path(), d.path() + "/log/00000000000000000032.seg", 0);
  }
}

TEST_SUITE("recovery") {
  TEST_CASE("random single-byte damage either is refused untouched or recovers a correct prefix") {
    temp_dir d;
    const auto files = build_log(d.path(), 40);
    std::map<std::string, std::string> pristine;
    for (const auto& f : files) pristine[f] = read_file(f);
    std::mt19937 rng(7);
    int refused = 0, repaired = 0;
    for (int trial = 0; trial < 150; ++trial) {
      CAPTURE(trial);
      for (const auto& [path, bytes] : pristine) write_file(path, bytes);
      const std::string& victim = files[rng() % files.size()];
      std::string bytes = pristine[victim];
      const std::size_t at = rng() % bytes.size();
      bytes[at] = static_cast<char>(bytes[at] ^ (1 + rng() % 255));
      write_file(victim, bytes);
      const auto before = snapshot_tree(d.path());
      try {
        auto log = segmented_log::open(d.path(), small_segments);
        // Only damage in the final record can be accepted, as a torn tail.
        ++repaired;
        CHECK(victim == files.back());
        CHECK(log.last_index() == 39);
        const auto es = log.read(1, log.last_index() + 1);
        for (raft::index_t i = 1; i <= log.last_index(); ++i) REQUIRE(es[i - 1] == make_entry(i, 1));
      } catch (const storage_error& e) {
        ++refused;
        CHECK(std::string(e.what()).find(victim) != std::string::npos);
        CHECK(snapshot_tree(d.path()) == before);
      }
    }
    CHECK(refused > 0);
    CHECK(repaired > 0);
  }
}

TEST_SUITE("recovery") {
  TEST_CASE("a torn next-to-last segment followed by an empty last one (crash during rollover) is repaired") {
    temp_dir d;
    const auto files = build_log(d.path(), 30);  // two full segments: 1..15, 16..30
    REQUIRE(files.size() == 2);
    // The writer rolled over (created the next segment) and the power went
    // before the previous segment's last record was on disk.
    const std::string empty = d.path() + "/log/" + segment_file_name(31);
    write_file(empty, "");
    std::filesystem::resize_file(files[1], 14 * record_bytes + 5);
    auto log = segmented_log::open(d.path(), small_segments);
    CHECK(log.last_index() == 29);
    CHECK(log.recovery().removed_empty_segments == std::vector<std::string>{empty});
    CHECK_FALSE(std::filesystem::exists(empty));
    REQUIRE(log.recovery().truncated.has_value());
    CHECK(log.recovery().truncated->file == files[1]);
    CHECK(log.recovery().truncated->offset == 14 * record_bytes);
    CHECK(std::filesystem::file_size(files[1]) == 14 * record_bytes);
    const auto es = log.read(1, 30);
    for (raft::index_t i = 1; i <= 29; ++i) REQUIRE(es[i - 1] == make_entry(i, 1));
    log.append(make_entries(30, 31, 2));
    log.sync();
    CHECK(segmented_log::open(d.path(), small_segments).last_index() == 31);
  }

  TEST_CASE("a next-to-last segment torn through its first record, then an empty last one: both go") {
    temp_dir d;
    const auto files = build_log(d.path(), 16);  // 1..15, and 16 alone
    REQUIRE(files.size() == 2);
    const std::string empty = d.path() + "/log/" + segment_file_name(17);
    write_file(empty, "");
    std::filesystem::resize_file(files[1], 7);
    auto log = segmented_log::open(d.path(), small_segments);
    CHECK(log.last_index() == 15);
    CHECK(log.recovery().removed_empty_segments == std::vector<std::string>{empty, files[1]});
  }

  TEST_CASE("a torn next-to-last segment followed by records is corruption, left untouched") {
    temp_dir d;
    const auto files = build_log(d.path(), 40);
    std::filesystem::resize_file(files[1], 14 * record_bytes + 5);
    expect_corruption(d.path(), files[1], 14 * record_bytes);
    CHECK_THROWS_WITH_AS(segmented_log::open(d.path(), small_segments),
                         doctest::Contains((files.back() + " holds records written after it").c_str()), storage_error);
  }

  TEST_CASE("a term that decreases along the log is corruption naming file and offset") {
    temp_dir d;
    {
      auto log = segmented_log::open(d.path(), small_segments);
      log.append(make_entries(1, 20, 3));  // 1..15 in the first segment, 16..20 in the second
      log.sync();
    }
    std::vector<std::string> files;
    for (const auto& e : std::filesystem::directory_iterator(d.path() + "/log")) files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    REQUIRE(files.size() == 2);
    // Index 18 rewritten with term 2, a valid record in the wrong place.
    std::string bytes = read_file(files[1]);
    std::string rec;
    encode_record(make_entry(18, 2), rec);
    REQUIRE(rec.size() == record_bytes);
    bytes.replace(2 * record_bytes, record_bytes, rec);
    write_file(files[1], bytes);
    expect_corruption(d.path(), files[1], 2 * record_bytes);
    // Across segments: the second segment's first record below the first's last term.
    bytes.replace(0, record_bytes, [] {
      std::string r;
      encode_record(make_entry(16, 1), r);
      return r;
    }());
    write_file(files[1], bytes);
    CHECK_THROWS_WITH_AS(segmented_log::open(d.path(), small_segments),
                         doctest::Contains((files[1] + " at byte offset 0: index 16 has term 1 after term 3").c_str()),
                         storage_error);
  }
}
