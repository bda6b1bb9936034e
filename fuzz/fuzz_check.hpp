// Shared by the fuzz harnesses. Each harness is a plain function
// (targets.hpp); the libFuzzer build (-DTROUPE_LIBFUZZER, clang) wraps it as
// LLVMFuzzerTestOneInput, and the g++ replay test (tests/fuzz) calls it on the
// checked-in corpora and regression inputs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace troupe::fuzz {

// A broken contract: say which and abort, which libFuzzer reports as a crash
// (saving the input) and the replay test as a failure.
[[noreturn]] inline void contract_broken(const char* target, const std::string& why) {
  std::fprintf(stderr, "%s: contract broken: %s\n", target, why.c_str());
  std::fflush(stderr);
  std::abort();
}

inline void require(bool ok, const char* target, const std::string& why) {
  if (!ok) contract_broken(target, why);
}

}  // namespace troupe::fuzz

#ifdef TROUPE_LIBFUZZER
#define TROUPE_FUZZ_ENTRY(fn)                                                      \
  extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) { \
    fn(data, size);                                                                \
    return 0;                                                                      \
  }
#else
#define TROUPE_FUZZ_ENTRY(fn)
#endif
