// The backup file (runtime/backup): encode/decode, checksum, truncation,
// the job data check, and the writer that never leaves a half file.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/backup/backup_file.hpp"
#include "runtime/backup/backup_writer.hpp"
#include "runtime/backup/spool_file.hpp"
#include "runtime/storage/storage_error.hpp"
#include "runtime/jobs/job_table.hpp"

using namespace troupe;
using backup::backup_errc;
using backup::backup_error;
namespace fs = std::filesystem;

namespace {

// A real job table's snapshot bytes at index 3 with two jobs.
std::string table_bytes() {
  jobs::job_table t;
  for (std::uint64_t i = 1; i <= 2; ++i) {
    logpb::Command c;
    auto* s = c.mutable_submit_job();
    s->set_job_id("job-" + std::to_string(i));
    s->set_command("echo " + std::to_string(i));
    s->set_created_at_ns(static_cast<std::int64_t>(i) * 1000);
    REQUIRE(t.apply(i, c).error.empty());
  }
  logpb::Command reg;
  reg.mutable_register_worker()->set_worker_id(1);
  t.apply(3, reg);
  return t.snapshot();
}

backup::metadata meta_for(const std::string& data) {
  backup::metadata m;
  m.index = 3;
  m.term = 2;
  m.job_count = 2;
  m.data_bytes = data.size();
  return m;
}

backup_errc code_of(std::string bytes) {
  try {
    backup::decode(std::move(bytes), "test");
  } catch (const backup_error& e) {
    return e.code;
  }
  FAIL("decode accepted the bytes");
  return backup_errc::io;
}

struct temp_dir {
  fs::path path = fs::temp_directory_path() / ("troupe-backup-test-" + std::to_string(::getpid()));
  temp_dir() { fs::create_directories(path); }
  ~temp_dir() { fs::remove_all(path); }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("a backup round-trips: header, data, checksum") {
  const std::string data = table_bytes();
  const std::string file = backup::encode(meta_for(data), data);
  CHECK(file.size() == backup::header_bytes + data.size() + backup::trailer_bytes);
  CHECK(file.substr(0, 8) == "TRBACKUP");
  auto c = backup::decode(std::string(file), "test");
  CHECK(c.meta == meta_for(data));
  CHECK(c.data == data);
  CHECK(backup::decode_header(file, "test") == meta_for(data));
}

TEST_CASE("the checksum can be fed piece by piece") {
  const std::string data = table_bytes();
  const std::string file = backup::encode(meta_for(data), data);
  backup::checksum whole, pieces;
  whole.update(std::string_view(file).substr(0, file.size() - 4));
  pieces.update(backup::encode_header(meta_for(data)));
  for (std::size_t i = 0; i < data.size(); i += 7) pieces.update(std::string_view(data).substr(i, 7));
  CHECK(whole.value() == pieces.value());
  CHECK(backup::encode_trailer(whole.value()) == file.substr(file.size() - 4));
}

TEST_CASE("every single-byte change is refused") {
  const std::string data = table_bytes();
  const std::string file = backup::encode(meta_for(data), data);
  for (std::size_t i = 0; i < file.size(); ++i) {
    std::string bad = file;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    CAPTURE(i);
    const backup_errc c = code_of(bad);
    if (i >= backup::header_bytes) CHECK(c == backup_errc::checksum_mismatch);  // data and trailer
  }
}

TEST_CASE("every truncation is refused as truncated") {
  const std::string data = table_bytes();
  const std::string file = backup::encode(meta_for(data), data);
  for (std::size_t n = 0; n < file.size(); ++n) {
    CAPTURE(n);
    CHECK(code_of(file.substr(0, n)) == backup_errc::truncated);
  }
}

TEST_CASE("foreign, newer, padded and inconsistent files are refused with their reason") {
  const std::string data = table_bytes();
  CHECK(code_of("not a backup at all, but long enough for a header......") == backup_errc::bad_magic);
  backup::metadata newer = meta_for(data);
  newer.version = 2;
  CHECK(code_of(backup::encode(newer, data)) == backup_errc::unsupported_version);
  std::string padded = backup::encode(meta_for(data), data);
  padded.insert(padded.size() - 4, "x");
  CHECK(code_of(padded) == backup_errc::length_mismatch);
  backup::metadata wrong_count = meta_for(data);
  wrong_count.job_count = 5;  // a correct checksum over a wrong header
  CHECK(code_of(backup::encode(wrong_count, data)) == backup_errc::length_mismatch);
  backup::metadata wrong_index = meta_for(data);
  wrong_index.index = 9;
  CHECK(code_of(backup::encode(wrong_index, data)) == backup_errc::length_mismatch);
  const std::string junk = "definitely not job table bytes";
  backup::metadata m = meta_for(junk);
  CHECK(code_of(backup::encode(m, junk)) == backup_errc::bad_job_data);
}

TEST_CASE("read_backup_file: a missing file is an io error naming it") {
  try {
    backup::read_backup_file("/nonexistent/troupe.backup");
    FAIL("no error");
  } catch (const backup_error& e) {
    CHECK(e.code == backup_errc::io);
    CHECK(std::string(e.what()).find("/nonexistent/troupe.backup") != std::string::npos);
  }
}

TEST_CASE("the writer writes exactly the encoded file, then renames it into place") {
  temp_dir d;
  const std::string data = table_bytes();
  const std::string expected = backup::encode(meta_for(data), data);
  const fs::path file = d.path / "snap.db";
  backup::backup_writer w(file.string());
  w.begin(meta_for(data));
  CHECK(fs::exists(w.temp_path()));
  CHECK_FALSE(fs::exists(file));
  w.append(std::string_view(data).substr(0, 10));
  w.append(std::string_view(data).substr(10));
  backup::checksum sum;
  sum.update(std::string_view(expected).substr(0, expected.size() - 4));
  CHECK(w.finish(sum.value()) == meta_for(data));
  CHECK(slurp(file) == expected);
  CHECK_FALSE(fs::exists(w.temp_path()));
  CHECK(w.file_bytes() == expected.size());
}

TEST_CASE("the writer never leaves a file behind a failure") {
  temp_dir d;
  const std::string data = table_bytes();
  const fs::path file = d.path / "snap.db";
  SUBCASE("wrong checksum from the server") {
    {
      backup::backup_writer w(file.string());
      w.begin(meta_for(data));
      w.append(data);
      try {
        w.finish(0xdeadbeef);
        FAIL("accepted");
      } catch (const backup_error& e) {
        CHECK(e.code == backup_errc::checksum_mismatch);
      }
    }
  }
  SUBCASE("the stream ends early") {
    {
      backup::backup_writer w(file.string());
      w.begin(meta_for(data));
      w.append(std::string_view(data).substr(0, 5));
      try {
        w.finish(0);
        FAIL("accepted");
      } catch (const backup_error& e) {
        CHECK(e.code == backup_errc::stream);
      }
    }
  }
  SUBCASE("more data than announced") {
    {
      backup::backup_writer w(file.string());
      w.begin(meta_for(data));
      w.append(data);
      CHECK_THROWS_AS(w.append("x"), backup_error);
    }
  }
  CHECK_FALSE(fs::exists(file));
  CHECK_FALSE(fs::exists(file.string() + ".tmp"));
}

TEST_CASE("a failed save leaves an existing file untouched") {
  temp_dir d;
  const fs::path file = d.path / "snap.db";
  { std::ofstream(file) << "previous backup"; }
  const std::string data = table_bytes();
  {
    backup::backup_writer w(file.string());
    w.begin(meta_for(data));
    w.append(data);
    CHECK_THROWS_AS(w.finish(1), backup_error);
  }
  CHECK(slurp(file) == "previous backup");
}

// The leader's spool of a backup on its way to the client (runtime/backup/spool_file.hpp).
TEST_CASE("a spool file holds what was appended, reads it back anywhere, and has no name") {
  temp_dir d;
  std::string expected;
  {
    backup::spool_file spool(d.path.string());
    for (int i = 0; i < 50; ++i) {
      const std::string piece(1000 + i * 37, static_cast<char>('a' + i % 26));
      spool.append(piece);
      expected += piece;
    }
    spool.append("");
    CHECK(spool.size() == expected.size());
    std::string all(expected.size(), '\0');
    spool.read(0, all.data(), all.size());
    CHECK(all == expected);
    std::string middle(5000, '\0');
    spool.read(12345, middle.data(), middle.size());
    CHECK(middle == expected.substr(12345, 5000));
    char c;
    CHECK_THROWS_WITH_AS(spool.read(expected.size(), &c, 1), doctest::Contains("read past the end"),
                         storage::storage_error);
    spool.read(expected.size(), &c, 0);  // nothing at the very end is fine
    CHECK(fs::is_empty(d.path));  // anonymous while in use
  }
  CHECK(fs::is_empty(d.path));
  CHECK_THROWS_WITH_AS(backup::spool_file((d.path / "missing").string()),
                       doctest::Contains("cannot create the backup spool file in"), storage::storage_error);
}
