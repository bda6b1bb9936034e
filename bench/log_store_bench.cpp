// Measures segmented_log append+sync throughput at batch sizes 1, 16 and 256
// (200-byte payloads) and, in the same run and directory, the raw rate of
// "write 4 KiB + fdatasync" on a plain file: the ceiling for synced batches.
//
// usage: bench_log_store [dir (default /tmp)] [seconds per case (default 2)]
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "runtime/storage/segmented_log.hpp"

using namespace troupe;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr std::size_t payload_bytes = 200;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

double raw_fdatasync_rate(const std::string& dir, double seconds) {
  const std::string path = dir + "/raw_fdatasync.bin";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    std::perror(path.c_str());
    std::exit(1);
  }
  const std::string block(4096, 'x');
  std::uint64_t ops = 0;
  const auto start = clock_type::now();
  // Append like the log does, so each sync also has to persist a size change.
  while (seconds_since(start) < seconds && ops < 10'000'000) {
    if (::pwrite(fd, block.data(), block.size(), static_cast<off_t>(ops * block.size())) !=
            static_cast<ssize_t>(block.size()) ||
        ::fdatasync(fd) != 0) {
      std::perror("raw write/fdatasync");
      std::exit(1);
    }
    ++ops;
  }
  const double rate = static_cast<double>(ops) / seconds_since(start);
  ::close(fd);
  ::unlink(path.c_str());
  return rate;
}

struct result {
  double entries_per_s;
  double mb_per_s;
  double syncs_per_s;
};

result log_rate(const std::string& dir, std::size_t batch, double seconds) {
  const std::string log_dir = dir + "/log_batch_" + std::to_string(batch);
  std::filesystem::remove_all(log_dir);
  auto log = storage::segmented_log::open(log_dir);
  const std::string payload(payload_bytes, 'p');
  std::vector<raft::entry> es(batch);
  raft::index_t next = 1;
  std::uint64_t syncs = 0, bytes = 0;
  const auto start = clock_type::now();
  while (seconds_since(start) < seconds && syncs < 10'000'000) {
    for (auto& e : es) {
      e = raft::entry{1, next++, raft::entry_type::normal, payload};
      bytes += storage::encoded_record_bytes(e);
    }
    log.append(es);
    log.sync();
    ++syncs;
  }
  const double elapsed = seconds_since(start);
  std::filesystem::remove_all(log_dir);
  return {static_cast<double>(syncs * batch) / elapsed, static_cast<double>(bytes) / elapsed / 1e6,
          static_cast<double>(syncs) / elapsed};
}

}  // namespace

int main(int argc, char** argv) {
  const std::string base = argc > 1 ? argv[1] : "/tmp";
  const double seconds = argc > 2 ? std::atof(argv[2]) : 2.0;
  if (seconds <= 0) {
    std::fprintf(stderr, "seconds per case must be positive\n");
    return 2;
  }
  const std::string dir = base + "/troupe-bench-log-store-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  // Measured before and after the log cases: on a shared machine the spread
  // between the two says how much the figures can be trusted.
  const double raw = raw_fdatasync_rate(dir, seconds);
  std::printf("raw 4 KiB write + fdatasync: %.0f syncs/s (physical limit on syncs)\n", raw);
  std::printf("%-6s %14s %10s %10s %14s\n", "batch", "entries/s", "MB/s", "syncs/s", "syncs vs raw");
  for (std::size_t batch : {1u, 16u, 256u}) {
    const result r = log_rate(dir, batch, seconds);
    std::printf("%-6zu %14.0f %10.2f %10.0f %13.0f%%\n", batch, r.entries_per_s, r.mb_per_s, r.syncs_per_s,
                100.0 * r.syncs_per_s / raw);
  }
  std::printf("raw 4 KiB write + fdatasync, measured again: %.0f syncs/s\n", raw_fdatasync_rate(dir, seconds));
  std::filesystem::remove_all(dir);
  return 0;
}
