#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/exec/output_store.hpp"
#include "proc_probe.hpp"
#include "test_support.hpp"

using namespace troupe::exec;
using troupe::exec::test::slurp;
using troupe::exec::test::make_spec;
using troupe::exec::test::scratch_dir;

TEST_CASE("output store: streams under the cap are stored whole and read back") {
  scratch_dir dir;
  auto spec = make_spec(dir, "job-1", "unused");
  job_result r;
  {
    job_output out(spec);
    out.out().write("hello ");
    out.out().write("world\n");
    out.err().write("oops\n");
    r.result = outcome::completed;
    r.exit_code = 0;
    out.finish(r);
  }
  CHECK(r.stdout_inline == "hello world\n");
  CHECK(r.stderr_inline == "oops\n");
  CHECK(r.stdout_bytes == 12);
  CHECK(r.stderr_bytes == 5);
  CHECK_FALSE(r.truncated);

  stored_output s = read_output(spec.output_dir, "job-1");
  CHECK(s.found);
  CHECK(s.stdout_data == "hello world\n");
  CHECK(s.stderr_data == "oops\n");
  CHECK_FALSE(s.truncated);
  CHECK(s.stdout_bytes == 12);
  std::string meta = slurp(spec.output_dir + "/job-1/meta.json");
  CHECK(meta.find("\"outcome\": \"completed\"") != std::string::npos);
  CHECK(meta.find("\"exit_code\": 0") != std::string::npos);
}

TEST_CASE("output store: the cap cuts what is stored, the inline limit what is returned, sizes stay true") {
  scratch_dir dir;
  auto spec = make_spec(dir, "job-2", "unused");
  spec.output_cap_bytes = 10;
  spec.inline_limit = 4;
  job_result r;
  job_output out(spec);
  out.out().write("0123456");
  out.out().write("789abcdef");  // crosses the cap inside this write
  out.err().write("short");
  out.finish(r);
  CHECK(r.truncated);
  CHECK(r.stdout_bytes == 16);
  CHECK(r.stderr_bytes == 5);
  CHECK(r.stdout_inline == "0123");
  CHECK(r.stderr_inline == "shor");
  stored_output s = read_output(spec.output_dir, "job-2");
  CHECK(s.found);
  CHECK(s.truncated);
  CHECK(s.stdout_data == "0123456789");
  CHECK(s.stdout_bytes == 16);
  CHECK(s.stderr_data == "short");
}

TEST_CASE("output store: unknown or unfinished job output is not found") {
  scratch_dir dir;
  CHECK_FALSE(read_output(dir.path(), "nope").found);
  auto spec = make_spec(dir, "job-3", "unused");
  job_output out(spec);
  out.out().write("partial");
  CHECK_FALSE(read_output(spec.output_dir, "job-3").found);  // no meta.json yet
}

TEST_CASE("output store: a rerun replaces the previous run's output") {
  scratch_dir dir;
  auto spec = make_spec(dir, "job-4", "unused");
  {
    job_result r;
    job_output out(spec);
    out.out().write("first run, long output");
    out.finish(r);
  }
  {
    job_output out(spec);
    CHECK_FALSE(read_output(spec.output_dir, "job-4").found);  // stale meta.json removed
    job_result r;
    out.out().write("second");
    out.finish(r);
  }
  CHECK(read_output(spec.output_dir, "job-4").stdout_data == "second");
}

TEST_CASE("output store: a silent stream costs no file, and a silent rerun empties the previous run's") {
  scratch_dir dir;
  auto spec = make_spec(dir, "job-quiet", "unused");
  const std::string job = spec.output_dir + "/job-quiet";
  struct stat st;
  {
    job_result r;
    job_output out(spec);
    out.err().write("");  // an empty write is no byte either
    out.finish(r);
    CHECK(r.stdout_bytes == 0);
    CHECK(r.stderr_bytes == 0);
  }
  CHECK(::lstat((job + "/stdout").c_str(), &st) != 0);
  CHECK(::lstat((job + "/stderr").c_str(), &st) != 0);
  stored_output s = read_output(spec.output_dir, "job-quiet");
  CHECK(s.found);
  CHECK(s.stdout_data.empty());
  CHECK(s.stderr_data.empty());

  {
    job_result r;
    job_output out(spec);
    out.out().write("loud");
    out.err().write("and wrong");
    out.finish(r);
  }
  CHECK(read_output(spec.output_dir, "job-quiet").stderr_data == "and wrong");
  {  // the next attempt writes nothing, through the group-commit path
    job_result r;
    job_output out(spec);
    CHECK_FALSE(out.finish_unsynced(r));  // all of it (nothing) is in r: nothing to store
    out.publish();                        // a no-op then
    CHECK(r.stderr_bytes == 0);
  }
  // The earlier run's output is gone: its meta.json removed, its streams emptied.
  CHECK_FALSE(read_output(spec.output_dir, "job-quiet").found);
  CHECK(slurp(job + "/stdout").empty());
  CHECK(slurp(job + "/stderr").empty());
}

TEST_CASE("output store: the group-commit path stores only output the result does not carry whole") {
  scratch_dir dir;
  auto spec = make_spec(dir, "job-gc", "unused");
  spec.inline_limit = 3;
  {
    job_result r;
    job_output out(spec);
    out.out().write("abc");  // exactly the inline limit: whole in r
    CHECK_FALSE(out.finish_unsynced(r));
    CHECK(r.stdout_inline == "abc");
  }
  CHECK_FALSE(read_output(spec.output_dir, "job-gc").found);
  {
    job_result r;
    job_output out(spec);
    out.err().write("abcd");  // one byte past it
    CHECK(out.finish_unsynced(r));
    out.publish();
    CHECK(r.stderr_inline == "abc");
  }
  stored_output s = read_output(spec.output_dir, "job-gc");
  CHECK(s.found);
  CHECK(s.stderr_data == "abcd");
  CHECK(s.stdout_data.empty());
}

TEST_CASE("output store: bad job ids and directories are refused with the reason") {
  scratch_dir dir;
  auto spec = make_spec(dir, "../escape", "unused");
  CHECK_THROWS_WITH_AS(job_output{spec}, doctest::Contains("cannot name an output directory"), std::runtime_error);
  spec = make_spec(dir, "ok", "unused");
  spec.output_dir = "/proc/definitely/not/writable";
  // The directory is made with the first byte stored: that is where it fails.
  job_output out{spec};
  CHECK_THROWS_WITH_AS(out.out().write("x"), doctest::Contains("/proc/definitely/not/writable"), std::runtime_error);
}

TEST_CASE("output store: corrupt meta.json is reported, not misread") {
  scratch_dir dir;
  auto spec = make_spec(dir, "job-5", "unused");
  {
    job_result r;
    job_output out(spec);
    out.finish(r);
  }
  std::ofstream(spec.output_dir + "/job-5/meta.json") << "{not json";
  CHECK_THROWS_WITH_AS(read_output(spec.output_dir, "job-5"), doctest::Contains("corrupt"), std::runtime_error);
}

TEST_CASE("output store: a full disk is the job's error, said plainly") {
  output_sink sink;
  sink.open("/dev/full", 1 << 20, 0);  // every write: ENOSPC
  CHECK_THROWS_AS(sink.write("data"), output_full_error);
  CHECK_THROWS_WITH(sink.write("data"), "job output could not be stored: no space left on device (/dev/full)");

  // Through the frame every backend uses: the job fails with that message,
  // and finishing the output afterwards does not replace it.
  scratch_dir dir;
  auto spec = make_spec(dir, "job-full", "unused");
  ::mkdir(spec.output_dir.c_str(), 0755);
  ::mkdir((spec.output_dir + "/job-full").c_str(), 0755);
  REQUIRE(::symlink("/dev/full", (spec.output_dir + "/job-full/stdout").c_str()) == 0);
  job_result r = run_with_output(spec, [](job_output& out, job_result& res) {
    out.out().write("hello");
    res.result = outcome::completed;
  });
  CHECK(r.result == outcome::failed);
  CHECK(r.error == "job output could not be stored: no space left on device (" + spec.output_dir + "/job-full/stdout)");
}

TEST_CASE("output store: an evicted job's output is removed whole; unknown ones are no error") {
  scratch_dir dir;
  auto spec = make_spec(dir, "job-gone", "unused");
  job_result r = run_with_output(spec, [](job_output& out, job_result& res) {
    out.out().write("bytes");
    res.result = outcome::completed;
  });
  REQUIRE(read_output(spec.output_dir, "job-gone").found);
  remove_output(spec.output_dir, "job-gone");
  CHECK_FALSE(read_output(spec.output_dir, "job-gone").found);
  struct stat st;
  CHECK(::lstat((spec.output_dir + "/job-gone").c_str(), &st) != 0);
  remove_output(spec.output_dir, "job-never");
  CHECK_THROWS_WITH(remove_output(spec.output_dir, ".."), doctest::Contains("cannot name an output directory"));
}
