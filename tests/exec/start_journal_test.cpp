#include <doctest/doctest.h>

#include <cerrno>
#include <fstream>
#include <set>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "runtime/exec/start_journal.hpp"
#include "proc_probe.hpp"
#include "test_support.hpp"

using namespace troupe::exec;
using troupe::exec::test::scratch_dir;
using troupe::exec::test::slurp;

namespace {

std::uint64_t file_size(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<std::uint64_t>(st.st_size);
}

void append_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::app | std::ios::binary);
  f << text;
}

}  // namespace

TEST_CASE("start journal: records survive a reopen, the latest attempt of a job wins") {
  scratch_dir dir;
  const std::string out = dir.path() + "/outputs";  // made by the journal
  {
    start_journal j(out);
    std::vector<start_record> batch;
    for (int i = 0; i < 20; ++i) batch.push_back({"job-" + std::to_string(i), static_cast<std::uint32_t>(i), {}});
    j.record(batch);
    for (const auto& r : batch) CHECK(r.error.empty());
    j.record("job-3", 7);
    CHECK(j.recorded("job-3") == 7u);
    CHECK_FALSE(j.recorded("job-99"));
    CHECK(j.size() == 20);
  }
  start_journal again(out);
  CHECK(again.size() == 20);
  CHECK(again.recorded("job-0") == 0u);
  CHECK(again.recorded("job-19") == 19u);
  CHECK(again.recorded("job-3") == 7u);
  // One line per record, nothing per job besides.
  CHECK(slurp(again.path()).find("7 job-3\n") != std::string::npos);
  CHECK(troupe::exec::test::entries_of(out) == std::set<std::string>{"starts"});
}

TEST_CASE("start journal: an id a line cannot hold fails its own record, not the batch's others") {
  scratch_dir dir;
  start_journal j(dir.path());
  std::vector<start_record> batch{{"good", 1, {}}, {"has space", 1, {}}, {"", 1, {}}, {"new\nline", 1, {}}};
  j.record(batch);
  CHECK(batch[0].error.empty());
  for (std::size_t i = 1; i < batch.size(); ++i) CHECK(batch[i].error.find("cannot be recorded") != std::string::npos);
  CHECK(j.recorded("good") == 1u);
  CHECK(j.size() == 1);
  CHECK_THROWS_WITH_AS(j.record("tab\there", 2), doctest::Contains("cannot be recorded"), std::runtime_error);
}

TEST_CASE("start journal: a torn last line is cut off; a malformed line before it refuses to open") {
  scratch_dir dir;
  std::string path;
  {
    start_journal j(dir.path());
    j.record("a", 1);
    path = j.path();
  }
  // A crash inside an append: the batch was never acknowledged.
  append_text(path, "2 b\n3 c");
  {
    start_journal j(dir.path());
    CHECK(j.recorded("a") == 1u);
    CHECK(j.recorded("b") == 2u);  // a whole line of the torn batch: its job is taken as started
    CHECK_FALSE(j.recorded("c"));
    CHECK(slurp(path) == "1 a\n2 b\n");  // cut before anything follows it
    j.record("d", 4);
  }
  CHECK(slurp(path) == "1 a\n2 b\n4 d\n");
  append_text(path, "x y\n5 e\n");
  CHECK_THROWS_WITH_AS(start_journal(dir.path()), doctest::Contains("malformed record at byte 12"), std::runtime_error);
}

TEST_CASE("start journal: settled records leave the file when it is rewritten; the live ones stay") {
  scratch_dir dir;
  const std::size_t rotate = 4096;
  {
    start_journal j(dir.path(), rotate);
    j.record("keep-me", 5);
    for (int i = 0; i < 2000; ++i) {
      const std::string id = "job-" + std::to_string(i);
      j.record(id, 1);
      j.settle(id, 1);  // still live here (assigned, attempt 1): kept
      CHECK(j.recorded(id) == 1u);
      j.settle(id, std::nullopt);  // finished: never asked for again
      CHECK_FALSE(j.recorded(id));
    }
    j.settle("keep-me", 5);
    j.record("last", 2);
    j.settle("last", 3);  // the table is on a later attempt
    CHECK_FALSE(j.recorded("last"));
    CHECK(j.size() == 1);
    // ~2000 lines of 10-12 bytes were written; the file stayed bounded.
    CHECK(file_size(j.path()) <= rotate + 64);
  }
  start_journal again(dir.path(), rotate);
  CHECK(again.recorded("keep-me") == 5u);
  CHECK(again.size() <= rotate / 10 + 2);  // what was appended since the last rewrite, settled or not
}

TEST_CASE("start journal: retain keeps only the records asked for") {
  scratch_dir dir;
  start_journal j(dir.path());
  for (int i = 0; i < 10; ++i) j.record("j" + std::to_string(i), static_cast<std::uint32_t>(i));
  j.retain([](const std::string& id, std::uint32_t attempt) { return id == "j2" || attempt == 7; });
  CHECK(j.size() == 2);
  CHECK(j.recorded("j2") == 2u);
  CHECK(j.recorded("j7") == 7u);
  CHECK_FALSE(j.recorded("j3"));
}

TEST_CASE("start journal: the per-job records of earlier versions are carried in at the first open only") {
  scratch_dir dir;
  const std::string out = dir.path() + "/outputs";
  for (auto [id, content] : std::vector<std::pair<std::string, std::string>>{{"old-1", "3\n"}, {"old-2", "1\n"},
                                                                             {"no-number", "x\n"}}) {
    ::mkdir(out.c_str(), 0755);
    REQUIRE(::mkdir((out + "/" + id).c_str(), 0755) == 0);
    std::ofstream(out + "/" + id + "/started") << content;
  }
  REQUIRE(::mkdir((out + "/no-record").c_str(), 0755) == 0);  // output only: never started by an old version
  {
    start_journal j(out);
    CHECK(j.size() == 2);
    CHECK(j.recorded("old-1") == 3u);
    CHECK(j.recorded("old-2") == 1u);
  }
  // The journal now exists: a started file found later is not read again.
  REQUIRE(::mkdir((out + "/late").c_str(), 0755) == 0);
  std::ofstream(out + "/late/started") << "9\n";
  start_journal again(out);
  CHECK(again.recorded("old-1") == 3u);
  CHECK_FALSE(again.recorded("late"));
}

TEST_CASE("start journal: a directory it cannot use is an error naming it") {
  scratch_dir dir;
  const std::string file = dir.path() + "/not-a-dir";
  std::ofstream(file) << "x";
  CHECK_THROWS_WITH_AS(start_journal(file + "/outputs"), doctest::Contains(file.c_str()), std::runtime_error);
}
