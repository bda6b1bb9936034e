#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

#include "runtime/storage/segmented_log.hpp"
#include "test_support.hpp"

using namespace troupe;
using namespace troupe::storage;
using namespace troupe::storage::testing;

namespace {

std::vector<std::string> segment_files(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/log")) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

void check_entries(const segmented_log& log, raft::index_t lo, raft::index_t hi_inclusive, raft::term_t term,
                   std::size_t size = 40) {
  const auto got = log.read(lo, hi_inclusive + 1);
  REQUIRE(got.size() == hi_inclusive + 1 - lo);
  for (raft::index_t i = lo; i <= hi_inclusive; ++i) REQUIRE(got[i - lo] == make_entry(i, term, size));
}

}  // namespace

TEST_SUITE("segmented_log") {
  TEST_CASE("a new log is empty and round-trips appended entries") {
    temp_dir d;
    auto log = segmented_log::open(d.path());
    CHECK(log.first_index() == 0);
    CHECK(log.last_index() == 0);
    CHECK(log.read(1, 1).empty());
    CHECK_FALSE(log.term_at(1).has_value());
    log.append(make_entries(1, 10, 3));
    log.sync();
    CHECK(log.first_index() == 1);
    CHECK(log.last_index() == 10);
    CHECK(log.term_at(10) == raft::term_t{3});
    CHECK_FALSE(log.term_at(0).has_value());
    CHECK_FALSE(log.term_at(11).has_value());
    check_entries(log, 1, 10, 3);
    CHECK(segment_files(d.path()) == std::vector<std::string>{"00000000000000000001.seg"});
  }

  TEST_CASE("segments roll past the configured size and reads span them") {
    temp_dir d;
    const log_options opts{1000};
    auto log = segmented_log::open(d.path(), opts);
    for (raft::index_t i = 1; i <= 100; i += 10) log.append(make_entries(i, i + 9, 1, 40));
    log.sync();
    // 65-byte records: 15 fit in 1000 bytes, so 100 entries need 7 segments.
    CHECK(log.segment_count() == 7);
    const auto files = segment_files(d.path());
    REQUIRE(files.size() == 7);
    CHECK(files[0] == "00000000000000000001.seg");
    CHECK(files[1] == "00000000000000000016.seg");
    for (const auto& f : files) CHECK(std::filesystem::file_size(d.path() + "/log/" + f) <= 1000);
    check_entries(log, 1, 100, 1);
    check_entries(log, 14, 47, 1);
    check_entries(log, 16, 16, 1);
    CHECK_THROWS_AS(log.read(0, 5), storage_error);
    CHECK_THROWS_AS(log.read(90, 102), storage_error);
    CHECK_THROWS_AS(log.read(9, 8), storage_error);
  }

  TEST_CASE("reopen restores every entry and continues appending") {
    temp_dir d;
    const log_options opts{1000};
    {
      auto log = segmented_log::open(d.path(), opts);
      log.append(make_entries(1, 50, 2));
      log.sync();
    }
    auto log = segmented_log::open(d.path(), opts);
    CHECK(log.recovery().entries == 50);
    CHECK(log.recovery().segments == log.segment_count());
    CHECK_FALSE(log.recovery().truncated.has_value());
    CHECK(log.last_index() == 50);
    log.append(make_entries(51, 60, 2));
    log.sync();
    check_entries(log, 1, 60, 2);
  }

  TEST_CASE("append rejects gaps, non-contiguous batches and index 0") {
    temp_dir d;
    auto log = segmented_log::open(d.path());
    log.append(make_entries(1, 5, 1));
    CHECK_THROWS_WITH_AS(log.append(make_entries(7, 8, 1)), doctest::Contains("gap after last index 5"),
                         storage_error);
    auto bad = make_entries(6, 8, 1);
    bad[2].index = 10;
    CHECK_THROWS_WITH_AS(log.append(bad), doctest::Contains("not contiguous"), storage_error);
    CHECK_THROWS_AS(log.append({make_entry(0, 1)}), storage_error);
    CHECK(log.last_index() == 5);
  }

  TEST_CASE("a conflicting append truncates the suffix first, across segments") {
    temp_dir d;
    const log_options opts{1000};
    {
      auto log = segmented_log::open(d.path(), opts);
      log.append(make_entries(1, 60, 1));
      log.append(make_entries(20, 25, 2));  // conflict at 20: entries 20..60 of term 1 go
      log.sync();
      CHECK(log.last_index() == 25);
      check_entries(log, 1, 19, 1);
      check_entries(log, 20, 25, 2);
    }
    auto log = segmented_log::open(d.path(), opts);
    CHECK(log.last_index() == 25);
    check_entries(log, 1, 19, 1);
    check_entries(log, 20, 25, 2);
    // Segment 16 holds 16..25 now; nothing named past it remains.
    CHECK(segment_files(d.path()).back() == "00000000000000000016.seg");
  }

  TEST_CASE("truncate_suffix at a segment boundary removes the whole segment; re-append works") {
    temp_dir d;
    const log_options opts{1000};
    auto log = segmented_log::open(d.path(), opts);
    log.append(make_entries(1, 40, 1));
    log.truncate_suffix(16);
    CHECK(log.last_index() == 15);
    CHECK(segment_files(d.path()) == std::vector<std::string>{"00000000000000000001.seg"});
    log.truncate_suffix(100);  // past the end: no-op
    CHECK(log.last_index() == 15);
    log.append(make_entries(16, 20, 4));
    log.sync();
    check_entries(log, 16, 20, 4);
    log.truncate_suffix(1);
    CHECK(log.last_index() == 0);
    CHECK(segment_files(d.path()).empty());
    log.append(make_entries(1, 3, 5));
    log.sync();
    auto reopened = segmented_log::open(d.path(), opts);
    check_entries(reopened, 1, 3, 5);
  }

  // Regression: truncating at the first index of a segment used to cut the
  // segment before it at the removed segment's offset (0), emptying it; the
  // re-appended entries then landed at byte 0 of the older file, and reopening
  // failed with "index gap in ...01.seg at byte offset 0: expected index 1,
  // found 16" (the storage.crash flake, where the writer's conflicts hit a
  // segment start), after losing synced entries.
  TEST_CASE("truncate_suffix at a segment boundary keeps every byte of the previous segment") {
    temp_dir d;
    const log_options opts{1000};
    const std::string first_seg = d.path() + "/log/00000000000000000001.seg";
    {
      auto log = segmented_log::open(d.path(), opts);
      log.append(make_entries(1, 40, 1));  // segments start at 1, 16, 31
      log.sync();
      const auto full_size = std::filesystem::file_size(first_seg);
      log.truncate_suffix(16);
      CHECK(std::filesystem::file_size(first_seg) == full_size);
      CHECK(log.last_index() == 15);
      check_entries(log, 1, 15, 1);
      log.append(make_entries(16, 20, 4));
      log.sync();
      check_entries(log, 1, 15, 1);
      check_entries(log, 16, 20, 4);
    }
    auto log = segmented_log::open(d.path(), opts);
    CHECK(log.first_index() == 1);
    CHECK(log.last_index() == 20);
    check_entries(log, 1, 15, 1);
    check_entries(log, 16, 20, 4);
  }

  TEST_CASE("a conflicting append starting exactly at a segment boundary keeps the segments before it") {
    temp_dir d;
    const log_options opts{1000};
    {
      auto log = segmented_log::open(d.path(), opts);
      log.append(make_entries(1, 40, 1));  // segments start at 1, 16, 31
      log.sync();
      log.append(make_entries(31, 33, 2));  // conflict at 31: segment 31 goes, 16..30 stay
      log.append(make_entries(16, 18, 3));  // conflict at 16: segment 16 goes, 1..15 stay
      log.sync();
      check_entries(log, 1, 15, 1);
      check_entries(log, 16, 18, 3);
    }
    auto log = segmented_log::open(d.path(), opts);
    CHECK(log.first_index() == 1);
    CHECK(log.last_index() == 18);
    check_entries(log, 1, 15, 1);
    check_entries(log, 16, 18, 3);
    CHECK(segment_files(d.path()) ==
          std::vector<std::string>{"00000000000000000001.seg", "00000000000000000016.seg"});
  }

  TEST_CASE("compact_prefix deletes only whole segments at or below the index and keeps the newest") {
    temp_dir d;
    const log_options opts{1000};
    {
      auto log = segmented_log::open(d.path(), opts);
      log.append(make_entries(1, 100, 1));  // segments start at 1,16,31,46,61,76,91
      log.compact_prefix(44);               // 1..15 and 16..30 are covered; 31..45 is not
      CHECK(log.first_index() == 31);
      CHECK(log.segment_count() == 5);
      CHECK_FALSE(log.term_at(30).has_value());
      CHECK(log.term_at(31) == raft::term_t{1});
      CHECK_THROWS_AS(log.read(30, 32), storage_error);
      check_entries(log, 31, 100, 1);
      log.compact_prefix(1000);
      CHECK(log.first_index() == 91);
      CHECK(log.last_index() == 100);
      log.sync();
    }
    auto log = segmented_log::open(d.path(), opts);
    CHECK(log.first_index() == 91);
    check_entries(log, 91, 100, 1);
    CHECK(segment_files(d.path()) == std::vector<std::string>{"00000000000000000091.seg"});
  }

  TEST_CASE("an emptied log accepts a new starting index (after installing a snapshot)") {
    temp_dir d;
    {
      auto log = segmented_log::open(d.path());
      log.append(make_entries(1, 5, 1));
      log.truncate_suffix(log.first_index());
      log.append(make_entries(500, 510, 3));
      log.sync();
    }
    auto log = segmented_log::open(d.path());
    CHECK(log.first_index() == 500);
    CHECK(log.last_index() == 510);
    check_entries(log, 500, 510, 3);
  }

  TEST_CASE("options and segment names are validated") {
    temp_dir d;
    CHECK_THROWS_WITH_AS(segmented_log::open(d.path(), log_options{10}), doctest::Contains("segment_bytes"),
                         storage_error);
    CHECK(segment_file_name(123) == "00000000000000000123.seg");
    CHECK(parse_segment_file_name("00000000000000000123.seg") == raft::index_t{123});
    CHECK_FALSE(parse_segment_file_name("0000000000000000012x.seg").has_value());
    CHECK_FALSE(parse_segment_file_name("00000000000000000000.seg").has_value());
    CHECK_FALSE(parse_segment_file_name("123.seg").has_value());
    std::filesystem::create_directories(d.path() + "/log");
    write_file(d.path() + "/log/junk.seg", "x");
    CHECK_THROWS_WITH_AS(segmented_log::open(d.path()), doctest::Contains("junk.seg"), storage_error);
  }
}
