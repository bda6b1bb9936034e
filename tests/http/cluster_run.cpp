// cluster_run: starts a 3-node cluster on free loopback ports, runs one
// command against it, stops the command and every node by pid.
//
//   cluster_run [--require-file PATH]... [--require-cmd NAME]... [--admin-token TOKEN] -- COMMAND ARGS...
//
// The command gets TROUPE_HTTP_URLS (space-separated base URLs, node 1 first)
// and TROUPE_LEADER_URL; with --admin-token the nodes require bearer tokens,
// TOKEN is an admin one, and the command gets it as TROUPE_ADMIN_TOKEN. A missing --require-file or --require-cmd is a loud
// skip (exit 77); the command is killed after 240 s.
#include <curl/curl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "local_cluster.hpp"

namespace {

bool on_path(const std::string& cmd) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "");
  std::string dir;
  while (std::getline(ss, dir, ':'))
    if (!dir.empty() && ::access((dir + "/" + cmd).c_str(), X_OK) == 0) return true;
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace troupe::http_test;
  std::vector<std::string> command;
  std::string admin_token;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--require-file" && i + 1 < argc) {
      std::string f = argv[++i];
      if (::access(f.c_str(), X_OK) != 0) {
        std::cout << "SKIP: " << f << " is not installed (apt-get install -y chromium); the dashboard test did NOT run\n";
        return 77;
      }
    } else if (a == "--require-cmd" && i + 1 < argc) {
      std::string c = argv[++i];
      if (!on_path(c)) {
        std::cout << "SKIP: " << c << " is not on PATH (apt-get install -y nodejs npm); the dashboard test did NOT run\n";
        return 77;
      }
    } else if (a == "--admin-token" && i + 1 < argc) {
      admin_token = argv[++i];
    } else if (a == "--") {
      command.assign(argv + i + 1, argv + argc);
      break;
    } else {
      std::cerr << "cluster_run: unknown argument \"" << a << "\"\n";
      return 2;
    }
  }
  if (command.empty()) {
    std::cerr << "cluster_run: no command after --\n";
    return 2;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  int rc = 1;
  try {
    cluster_options opts;
    if (!admin_token.empty()) {
      opts.extra_toml = "[[auth.tokens]]\nname = \"dashboard\"\ntoken = \"" + admin_token + "\"\nrole = \"admin\"\n";
      ::setenv("TROUPE_ADMIN_TOKEN", admin_token.c_str(), 1);
    }
    local_cluster c(TROUPE_NODE_BINARY, 3, opts);
    auto leader = c.wait_for_leader(std::chrono::milliseconds(20000));
    std::string urls;
    for (auto& n : c.nodes()) urls += (urls.empty() ? "" : " ") + n.http_base();
    ::setenv("TROUPE_HTTP_URLS", urls.c_str(), 1);
    ::setenv("TROUPE_LEADER_URL", c.node(leader).http_base().c_str(), 1);
    std::cerr << "cluster_run: cluster in " << c.dir() << ", leader " << c.node(leader).http_base() << "\n";
    pid_t pid = ::fork();
    if (pid == 0) {
      std::vector<char*> args;
      for (auto& s : command) args.push_back(s.data());
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      std::perror("cluster_run: exec");
      ::_exit(127);
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
    int status = 0;
    while (true) {
      pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        std::cerr << "cluster_run: command timed out after 240 s; killing it\n";
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        rc = 1;
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (rc != 0)
      for (auto& n : c.nodes()) std::cerr << "---- node " << n.id << " log tail:\n" << c.log_tail(n.id, 2000);
  } catch (const std::exception& e) {
    std::cerr << "cluster_run: " << e.what() << "\n";
    rc = 1;
  }
  curl_global_cleanup();
  return rc;
}
