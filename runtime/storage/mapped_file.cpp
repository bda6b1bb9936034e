#include "runtime/storage/mapped_file.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>

#include "runtime/storage/posix_file.hpp"
#include "runtime/storage/storage_error.hpp"

namespace troupe::storage {

namespace {

// The live mappings, for the SIGBUS handler: a fixed table it can read
// without locks or allocation. A node maps one snapshot at a time, and keeps
// an older one only while a send to a follower still reads it; a mapping
// that finds the table full works the same, without the message.
constexpr int table_slots = 32;
constexpr std::size_t path_bytes = 512;

struct slot {
  std::atomic<bool> taken{false};
  std::atomic<std::uintptr_t> begin{0};  // 0 while not live
  std::atomic<std::uintptr_t> end{0};
  char path[path_bytes] = {};
};

slot table[table_slots];
struct sigaction previous_action;
std::once_flag handler_installed;

// Async-signal-safe text for the message: no allocation, no stdio.
struct line {
  char text[path_bytes + 256];
  std::size_t len = 0;
  void add(const char* s) {
    for (; *s && len < sizeof text; ++s) text[len++] = *s;
  }
  void add(std::uint64_t n) {
    char digits[20];
    int k = 0;
    do digits[k++] = static_cast<char>('0' + n % 10);
    while ((n /= 10) != 0 && k < 20);
    while (k > 0 && len < sizeof text) text[len++] = digits[--k];
  }
};

extern "C" void on_sigbus(int sig, siginfo_t* info, void* context) {
  const auto at = reinterpret_cast<std::uintptr_t>(info->si_addr);
  for (auto& s : table) {
    const auto begin = s.begin.load(std::memory_order_acquire);
    if (begin == 0 || at < begin || at >= s.end.load(std::memory_order_relaxed)) continue;
    line l;
    l.add("troupe: cannot read ");
    l.add(s.path);
    l.add(" at byte ");
    l.add(at - begin);
    l.add(" (SIGBUS: the disk failed to read that page, or the file was truncated behind the node); stopping\n");
    [[maybe_unused]] auto ignored = ::write(STDERR_FILENO, l.text, l.len);
    break;
  }
  // Whoever handled SIGBUS before us gets it; with the default action
  // restored, the faulting access repeats on return and the signal kills
  // the process as it did without this handler.
  const auto& prev = previous_action;
  if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction) {
    prev.sa_sigaction(sig, info, context);
  } else if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN) {
    prev.sa_handler(sig);
  } else {
    ::sigaction(SIGBUS, &prev, nullptr);
    if (info->si_code <= 0) ::raise(SIGBUS);  // sent by kill(): no access repeats it
  }
}

void install_handler() {
  struct sigaction act {};
  act.sa_sigaction = on_sigbus;
  act.sa_flags = SA_SIGINFO;
  sigemptyset(&act.sa_mask);
  if (::sigaction(SIGBUS, &act, &previous_action) != 0) throw_errno("cannot install a SIGBUS handler for", "mappings");
}

int register_mapping(const std::string& path, const void* addr, std::size_t len) {
  for (int i = 0; i < table_slots; ++i) {
    bool expected = false;
    if (!table[i].taken.compare_exchange_strong(expected, true)) continue;
    const std::size_t n = std::min(path.size(), path_bytes - 1);
    std::memcpy(table[i].path, path.data(), n);
    table[i].path[n] = '\0';
    const auto begin = reinterpret_cast<std::uintptr_t>(addr);
    table[i].end.store(begin + len, std::memory_order_relaxed);
    table[i].begin.store(begin, std::memory_order_release);
    return i;
  }
  return -1;
}

}  // namespace

std::shared_ptr<const mapped_file> mapped_file::map(const std::string& path) {
  std::call_once(handler_installed, install_handler);
  const unique_fd fd = open_file(path, O_RDONLY);
  const auto len = static_cast<std::size_t>(file_size(fd.get(), path));
  if (len == 0) throw storage_error(path + ": file of 0 bytes is too short");
  void* addr = ::mmap(nullptr, len, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (addr == MAP_FAILED) throw_errno("cannot map", path);
  const int slot = register_mapping(path, addr, len);
  return std::shared_ptr<const mapped_file>(new mapped_file(addr, len, slot));
}

mapped_file::~mapped_file() {
  if (slot_ >= 0) table[slot_].begin.store(0, std::memory_order_release);
  ::munmap(addr_, len_);
  if (slot_ >= 0) table[slot_].taken.store(false, std::memory_order_release);
}

}  // namespace troupe::storage
