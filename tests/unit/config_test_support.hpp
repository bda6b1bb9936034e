// Helpers shared by the config tests: scratch directories with real files,
// argv building, and error capture.
#pragma once

#include "config/config.hpp"

#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace troupe::config::test {

inline std::string source_path(const std::string& relative) {
  return std::string(TROUPE_SOURCE_DIR) + "/" + relative;
}

// A fresh directory under /tmp, removed with everything in it afterwards.
class scratch_dir {
 public:
  scratch_dir() {
    char tmpl[] = "/tmp/troupe-config-test-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~scratch_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

  // Writes `text` to `name` inside the directory, fsynced; returns its path.
  std::string write(const std::string& name, const std::string& text) const {
    const std::string file = *this / name;
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    REQUIRE(::fsync(fd) == 0);
    REQUIRE(::close(fd) == 0);
    return file;
  }

 private:
  std::string path_;
};

// Runs the test body in `dir` so relative data dirs land there.
class working_dir {
 public:
  explicit working_dir(const std::string& dir) : previous_(std::filesystem::current_path()) {
    std::filesystem::current_path(dir);
  }
  ~working_dir() {
    std::error_code ec;
    std::filesystem::current_path(previous_, ec);
  }
  working_dir(const working_dir&) = delete;
  working_dir& operator=(const working_dir&) = delete;

 private:
  std::filesystem::path previous_;
};

// A complete, valid single-file config for node 1 of 3 with its data dir in `dir`.
inline std::string valid_toml(const scratch_dir& dir) {
  return "[node]\n"
         "id = 1\n"
         "data_dir = \"" + (dir / "data") + "\"\n"
         "[listen]\n"
         "grpc = \"127.0.0.1:50051\"\n"
         "http = \"127.0.0.1:8081\"\n"
         "[[members]]\n"
         "id = 1\n"
         "address = \"127.0.0.1:50051\"\n"
         "[[members]]\n"
         "id = 2\n"
         "address = \"127.0.0.1:50052\"\n"
         "[[members]]\n"
         "id = 3\n"
         "address = \"127.0.0.1:50053\"\n";
}

// The config_error message `f` throws; fails the test if it throws nothing.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const config_error& e) {
    return e.what();
  }
  FAIL("expected a config_error, got none");
  return "";
}

// Asserts an error is one line: "<source>: <key>: <problem...>".
inline void check_error(const std::string& error, const std::string& source, const std::string& key,
                        const std::string& problem) {
  INFO("error: " << error);
  CHECK(error.find('\n') == std::string::npos);
  CHECK(error.rfind(source + ": " + key + ": ", 0) == 0);
  CHECK(error.find(problem) != std::string::npos);
}

inline cli_result run_cli(std::vector<std::string> args) {
  args.insert(args.begin(), "troupe-node");
  std::vector<const char*> argv;
  for (const std::string& a : args) argv.push_back(a.c_str());
  return parse_command_line(static_cast<int>(argv.size()), argv.data());
}

}  // namespace troupe::config::test
