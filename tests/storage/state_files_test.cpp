#include <doctest/doctest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <utility>

#include "runtime/storage/byte_order.hpp"
#include "runtime/storage/crc32c.hpp"
#include "runtime/storage/mapped_file.hpp"
#include "runtime/storage/state_files.hpp"
#include "test_support.hpp"

using namespace troupe;
using namespace troupe::storage;
using namespace troupe::storage::testing;

namespace {

// Runs body in a child process with its stderr on a pipe and no core file;
// returns the child's wait status and what it wrote to stderr.
std::pair<int, std::string> run_in_child(const std::function<void()>& body) {
  int err[2];
  REQUIRE(::pipe(err) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::dup2(err[1], STDERR_FILENO);
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    // Nothing thrown may reach the test runner's copy in the child.
    try {
      body();
    } catch (...) {
      ::_exit(2);
    }
    ::_exit(0);
  }
  ::close(err[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return {status, out};
}

}  // namespace

TEST_SUITE("state_files") {
  TEST_CASE("hard state: absent is default, saves replace, reload is exact") {
    temp_dir d;
    CHECK(load_hard_state(d.path()) == raft::hard_state{});
    save_hard_state(d.path(), raft::hard_state{3, 2, 17});
    CHECK(load_hard_state(d.path()) == raft::hard_state{3, 2, 17});
    save_hard_state(d.path(), raft::hard_state{4, 0, 0xFFFFFFFFFFFFFFFFull});
    CHECK(load_hard_state(d.path()) == raft::hard_state{4, 0, 0xFFFFFFFFFFFFFFFFull});
    CHECK_FALSE(std::filesystem::exists(hard_state_path(d.path()) + ".tmp"));
  }

  TEST_CASE("hard state: every single-byte corruption and truncation is rejected with the path") {
    temp_dir d;
    save_hard_state(d.path(), raft::hard_state{9, 1, 5});
    const std::string path = hard_state_path(d.path());
    const std::string good = read_file(path);
    for (std::size_t i = 0; i < good.size(); ++i) {
      std::string bad = good;
      bad[i] = static_cast<char>(bad[i] ^ 0x01);
      write_file(path, bad);
      CHECK_THROWS_WITH_AS(load_hard_state(d.path()), doctest::Contains(path.c_str()), storage_error);
    }
    write_file(path, good.substr(0, good.size() - 1));
    CHECK_THROWS_WITH_AS(load_hard_state(d.path()), doctest::Contains("expected 36"), storage_error);
  }

  TEST_CASE("a stale temp file from a crash mid-save does not affect loading or the next save") {
    temp_dir d;
    save_hard_state(d.path(), raft::hard_state{1, 1, 1});
    write_file(hard_state_path(d.path()) + ".tmp", "half-written garbage");
    CHECK(load_hard_state(d.path()) == raft::hard_state{1, 1, 1});
    save_hard_state(d.path(), raft::hard_state{2, 2, 2});
    CHECK(load_hard_state(d.path()) == raft::hard_state{2, 2, 2});
  }

  TEST_CASE("snapshot: absent is nullopt, newest replaces older, fields round trip") {
    temp_dir d;
    CHECK_FALSE(load_snapshot(d.path()).has_value());
    raft::snapshot a{{10, 2, raft::membership::of_voters({1, 2, 3})}, "state-a"};
    save_snapshot(d.path(), a);
    std::string big(1 << 20, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31);
    raft::membership conf;  // a learner and addresses survive too
    conf.put(raft::member{4, true, "10.0.0.4:50051", "10.0.0.4:8081", "10.0.0.4:50061"});
    conf.put(raft::member{5, false, "10.0.0.5:50051", "", ""});
    raft::snapshot b{{500, 7, conf}, big};
    save_snapshot(d.path(), b);
    const auto got = load_snapshot(d.path());
    REQUIRE(got.has_value());
    CHECK(got->meta.index == 500);
    CHECK(got->meta.term == 7);
    CHECK(got->meta.conf == conf);
    CHECK(got->data == big);
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(d.path())) ++files;
    CHECK(files == 1);
  }

  TEST_CASE("snapshot: empty voters and data are fine; corruption names file and offset") {
    temp_dir d;
    save_snapshot(d.path(), raft::snapshot{{1, 1, {}}, ""});
    const auto got = load_snapshot(d.path());
    REQUIRE(got.has_value());
    CHECK(got->meta.conf.empty());
    CHECK(got->data.empty());

    save_snapshot(d.path(), raft::snapshot{{3, 3, raft::membership::of_voters({1, 2})}, "hello snapshot"});
    const std::string path = snapshot_path(d.path());
    std::string bytes = read_file(path);
    bytes[bytes.size() - 8] ^= 0x40;  // inside the data
    write_file(path, bytes);
    const std::string expected = path + ": CRC mismatch at byte offset " + std::to_string(bytes.size() - 4);
    CHECK_THROWS_WITH_AS(load_snapshot(d.path()), doctest::Contains(expected.c_str()), storage_error);
    write_file(path, "TRSN");
    CHECK_THROWS_WITH_AS(load_snapshot(d.path()), doctest::Contains("too short"), storage_error);
  }

  TEST_CASE("decode_snapshot rejects a CRC-valid body whose lengths disagree") {
    std::string enc = encode_snapshot(raft::snapshot{{3, 3, raft::membership::of_voters({1})}, "abc"});
    // Claim a longer configuration but keep the CRC right: structure checks must catch it.
    enc.resize(enc.size() - 4);
    enc[24] = 100;
    std::string with_crc = enc;
    put_u32(with_crc, crc32c(enc));
    CHECK_THROWS_WITH_AS(decode_snapshot(with_crc, "mem"), doctest::Contains("truncated reading configuration"),
                         storage_error);
    // A configuration whose bytes are wrong (CRC right): named with its offset.
    enc = encode_snapshot(raft::snapshot{{3, 3, raft::membership::of_voters({1})}, "abc"});
    enc.resize(enc.size() - 4);
    enc[28] = 'X';  // the configuration's magic
    with_crc = enc;
    put_u32(with_crc, crc32c(enc));
    CHECK_THROWS_WITH_AS(decode_snapshot(with_crc, "mem"), doctest::Contains("bad configuration at byte offset 28"),
                         storage_error);
  }

  TEST_CASE("decode_snapshot still reads version 1 files (voter ids only)") {
    std::string v1("TRSN");
    put_u32(v1, 1);
    put_u64(v1, 9);   // index
    put_u64(v1, 2);   // term
    put_u32(v1, 2);   // voters
    put_u64(v1, 1);
    put_u64(v1, 3);
    put_u64(v1, 3);   // data length
    v1 += "xyz";
    put_u32(v1, crc32c(v1));
    const auto snap = decode_snapshot(v1, "v1");
    CHECK(snap.meta.index == 9);
    CHECK(snap.meta.term == 2);
    CHECK(snap.meta.conf == raft::membership::of_voters({1, 3}));
    CHECK(snap.data == "xyz");
  }

  // Found by state_fuzz: version 1's voters were taken as they came, so a
  // node 0 or a voter listed twice made a configuration that version 2's
  // decoder (and the core) would refuse.
  TEST_CASE("decode_snapshot refuses a version 1 file whose voters include node 0 or one node twice") {
    auto v1_with = [](std::uint64_t a, std::uint64_t b) {
      std::string v1("TRSN");
      put_u32(v1, 1);
      put_u64(v1, 9);
      put_u64(v1, 2);
      put_u32(v1, 2);
      put_u64(v1, a);
      put_u64(v1, b);
      put_u64(v1, 0);
      put_u32(v1, crc32c(v1));
      return v1;
    };
    auto refusal = [](const std::string& bytes) {
      try {
        decode_snapshot(bytes, "v1-file");
      } catch (const storage_error& e) {
        return std::string(e.what());
      }
      return std::string("accepted");
    };
    CHECK(refusal(v1_with(3, 0)) == "v1-file: bad configuration at byte offset 28: a voter with node id 0");
    CHECK(refusal(v1_with(2, 2)) == "v1-file: bad configuration at byte offset 28: voter 2 is listed twice");
    CHECK(decode_snapshot(v1_with(3, 2), "v1-file").meta.conf == raft::membership::of_voters({2, 3}));
  }

  TEST_CASE("atomic_write_file creates parent directories and replaces content") {
    temp_dir d;
    const std::string path = d.path() + "/a/b/out.bin";
    atomic_write_file(path, "first");
    atomic_write_file(path, std::string("se\0cond", 7));
    CHECK(read_file(path) == std::string("se\0cond", 7));
  }

  TEST_CASE("snapshot_file_writer: the data appended a piece at a time, the file is encode_snapshot's bytes") {
    temp_dir d;
    save_snapshot(d.path(), raft::snapshot{{5, 1, raft::membership::of_voters({1})}, "old"});
    std::string big(10007, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + 3);
    const raft::snapshot snap{{900, 4, raft::membership::of_voters({1, 2, 3})}, big};
    snapshot_file_writer w(d.path(), snap.meta);
    const std::string written = snapshot_path(d.path()) + ".900.tmp";
    for (std::size_t at = 0; at < big.size(); at += 4096) {
      w.append(std::string_view(big).substr(at, 4096));
      w.append({});
      // The installed snapshot is untouched until install().
      CHECK(load_snapshot(d.path())->data == "old");
    }
    CHECK(w.data_bytes() == big.size());
    w.install();  // the length and the CRC, known only now
    CHECK_FALSE(std::filesystem::exists(written));
    CHECK(read_file(snapshot_path(d.path())) == encode_snapshot(snap));
    w.install();  // done stays done
    CHECK_THROWS_AS(w.append("more"), std::logic_error);
    const auto got = load_snapshot(d.path());
    REQUIRE(got.has_value());
    CHECK(got->meta.index == 900);
    CHECK(got->meta.conf == snap.meta.conf);
    CHECK(got->data == big);
  }

  TEST_CASE("snapshot_file_writer: a finished file waits beside the current one to be installed or removed") {
    temp_dir d;
    save_snapshot(d.path(), raft::snapshot{{5, 1, {}}, "old"});
    const raft::snapshot next{{9, 2, raft::membership::of_voters({1, 2})}, "next"};
    {
      snapshot_file_writer w(d.path(), next.meta);
      w.append(next.data.view());
      w.finish();
      CHECK_THROWS_AS(w.append("more"), std::logic_error);
    }  // finished: no longer the writer's to remove
    CHECK(read_file(snapshot_path(d.path()) + ".9.tmp") == encode_snapshot(next));
    CHECK(load_snapshot(d.path())->data == "old");
    install_snapshot_file(d.path(), 9);
    CHECK_FALSE(std::filesystem::exists(snapshot_path(d.path()) + ".9.tmp"));
    CHECK(load_snapshot(d.path())->data == "next");
    // One that lost to a newer snapshot is removed; removing it twice is no error.
    {
      snapshot_file_writer w(d.path(), raft::snapshot_meta{7, 1, {}});
      w.append("older");
      w.finish();
    }
    remove_snapshot_file(d.path(), 7);
    remove_snapshot_file(d.path(), 7);
    CHECK_FALSE(std::filesystem::exists(snapshot_path(d.path()) + ".7.tmp"));
    CHECK(load_snapshot(d.path())->data == "next");
    CHECK_THROWS_AS(install_snapshot_file(d.path(), 7), storage_error);
  }

  TEST_CASE("snapshot_file_writer: a snapshot with no data") {
    temp_dir d;
    const raft::snapshot_meta meta{3, 2, raft::membership::of_voters({7})};
    snapshot_file_writer(d.path(), meta).install();
    CHECK(read_file(snapshot_path(d.path())) == encode_snapshot(raft::snapshot{meta, std::string()}));
  }

  TEST_CASE("snapshot_file_writer: a write never installed leaves no file, nor does a crash after the next start") {
    temp_dir d;
    save_snapshot(d.path(), raft::snapshot{{5, 1, {}}, "kept"});
    {
      snapshot_file_writer w(d.path(), raft::snapshot_meta{8, 1, {}});
      w.append(std::string(100, 'x'));
      CHECK(std::filesystem::exists(snapshot_path(d.path()) + ".8.tmp"));
    }  // dropped: a newer snapshot was installed meanwhile, or the node stops
    CHECK_FALSE(std::filesystem::exists(snapshot_path(d.path()) + ".8.tmp"));
    // What a crash leaves: unfinished writes of this version and of older
    // ones. The next start removes them and nothing else.
    write_file(snapshot_path(d.path()) + ".12.tmp", "half");
    write_file(snapshot_path(d.path()) + ".tmp", "half");
    write_file(d.path() + "/snapshots.tmp.keep", "not ours");
    CHECK(remove_unfinished_snapshots(d.path()) == 2);
    CHECK(remove_unfinished_snapshots(d.path()) == 0);
    CHECK(std::filesystem::exists(d.path() + "/snapshots.tmp.keep"));
    CHECK(load_snapshot(d.path())->data == "kept");
    CHECK(remove_unfinished_snapshots(d.path() + "/absent") == 0);
  }

  TEST_CASE("map_snapshot_data: the installed file's data, valid until unmapped even when a newer one replaces it") {
    temp_dir d;
    std::string big(3 * 4096 + 17, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 13 + 1);
    save_snapshot(d.path(), raft::snapshot{{40, 2, raft::membership::of_voters({1, 2})}, big});
    raft::snapshot_bytes mapped = map_snapshot_data(d.path(), 40);
    CHECK(mapped.size() == big.size());
    CHECK(mapped == big);
    // Another index than the file's is the caller's mistake, named.
    CHECK_THROWS_WITH_AS(map_snapshot_data(d.path(), 41), doctest::Contains("index 40, expected 41"), storage_error);
    // A newer snapshot renamed over the file: the mapping still reads the
    // old one, and a copy of the handle keeps it alive.
    save_snapshot(d.path(), raft::snapshot{{50, 2, {}}, "newer"});
    const raft::snapshot_bytes copy = mapped;
    mapped = raft::snapshot_bytes();
    CHECK(copy == big);
    CHECK(map_snapshot_data(d.path(), 50) == "newer");
    // An empty data and a missing or damaged file.
    save_snapshot(d.path(), raft::snapshot{{60, 2, {}}, ""});
    CHECK(map_snapshot_data(d.path(), 60).empty());
    write_file(snapshot_path(d.path()), "TRSX");
    CHECK_THROWS_AS(map_snapshot_data(d.path(), 60), storage_error);
    write_file(snapshot_path(d.path()), "");
    CHECK_THROWS_WITH_AS(map_snapshot_data(d.path(), 60), doctest::Contains("too short"), storage_error);
    CHECK_THROWS_AS(map_snapshot_data(d.path() + "/absent", 60), storage_error);
  }

  TEST_CASE("map_snapshot_data: a page that cannot be read stops the process by SIGBUS with the file and offset named") {
    temp_dir d;
    save_snapshot(d.path(), raft::snapshot{{70, 2, {}}, std::string(4 * 4096, 'x')});
    const std::string path = snapshot_path(d.path());
    const auto data_at = std::filesystem::file_size(path) - 4 - 4 * 4096;  // the header's size
    // The file truncated behind the mapping (what a disk's read error looks
    // like to the process as well): nothing past its first page is left.
    auto [status, err] = run_in_child([&] {
      const raft::snapshot_bytes mapped = map_snapshot_data(d.path(), 70);
      if (::truncate(path.c_str(), 4096) != 0) ::_exit(3);
      volatile char c = mapped.view()[3 * 4096];
      (void)c;
    });
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGBUS);
    CHECK(err.find("cannot read " + path + " at byte " + std::to_string(data_at + 3 * 4096) + " (SIGBUS") !=
          std::string::npos);
    // Another SIGBUS (here one sent by kill) still kills the process, without
    // a message about a file.
    auto [status2, err2] = run_in_child([&] {
      auto mapping = mapped_file::map(path);
      ::kill(::getpid(), SIGBUS);
    });
    REQUIRE(WIFSIGNALED(status2));
    CHECK(WTERMSIG(status2) == SIGBUS);
    CHECK(err2.empty());
  }
}
