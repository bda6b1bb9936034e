// Crash-test helper: appends bursts of entries to the log in <dir> and after
// each sync() prints "synced <index> <term>" (flushed), meaning entries up to
// <index> are durable and <index> has <term>. Within a burst it sometimes
// overwrites its own unsynced entries with a higher term (a Raft conflict) and
// after syncs sometimes compacts old segments, so a SIGKILL can land in any
// of those operations. Stops by itself after a bounded time or entry count.
//
// usage: storage_crash_writer <dir> <seed> <segment_bytes>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <random>
#include <string>

#include "runtime/storage/segmented_log.hpp"
#include "crash_workload.hpp"

using namespace troupe;
using namespace troupe::storage;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <dir> <seed> <segment_bytes>\n", argv[0]);
    return 2;
  }
  try {
    const std::string dir = argv[1];
    std::mt19937_64 rng(std::strtoull(argv[2], nullptr, 10));
    auto log = segmented_log::open(dir, log_options{std::strtoull(argv[3], nullptr, 10)});
    if (log.recovery().truncated || !log.recovery().removed_empty_segments.empty())
      std::fprintf(stderr, "crash_writer: recovery: %s\n", log.recovery().describe().c_str());
    raft::term_t term = log.empty() ? 1 : *log.term_at(log.last_index()) + 1;

    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    for (int burst = 0; burst < 100000 && std::chrono::steady_clock::now() < deadline; ++burst) {
      const raft::index_t synced = log.last_index();
      const int batches = 1 + static_cast<int>(rng() % 8);
      for (int b = 0; b < batches; ++b) {
        raft::index_t from = log.last_index() + 1;
        const raft::index_t unsynced = log.last_index() - synced;
        if (unsynced > 0 && rng() % 4 == 0) {
          from = synced + 1 + rng() % unsynced;  // conflict inside this burst only
          ++term;
        }
        std::vector<raft::entry> es;
        const std::size_t n = 1 + rng() % 40;
        for (std::size_t i = 0; i < n; ++i) es.push_back(crash_workload::entry_for(from + i, term));
        log.append(es);
      }
      log.sync();
      std::printf("synced %llu %llu\n", static_cast<unsigned long long>(log.last_index()),
                  static_cast<unsigned long long>(*log.term_at(log.last_index())));
      std::fflush(stdout);
      if (rng() % 16 == 0 && log.last_index() > 300) log.compact_prefix(log.last_index() - 300);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "crash_writer: %s\n", e.what());
    return 1;
  }
}
