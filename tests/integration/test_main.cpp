// doctest main for the integration suite, plus a listener that counts failed
// assertions so a cluster fixture knows to print its nodes' logs. When every
// test case that ran skipped itself (note_skipped_test, e.g. the docker suite
// without its daemon), the exit code is 77, which ctest reports as skipped.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <atomic>

#include "tests/integration/cluster.hpp"

namespace troupe::integration {
namespace {
std::atomic<std::size_t> failures{0};
std::atomic<std::size_t> started{0};
std::atomic<std::size_t> skipped{0};

struct failure_counter : doctest::IReporter {
  explicit failure_counter(const doctest::ContextOptions&) {}
  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_start(const doctest::TestCaseData&) override { ++started; }
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_end(const doctest::CurrentTestCaseStats&) override {}
  void test_case_exception(const doctest::TestCaseException&) override { ++failures; }
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData& a) override {
    if (a.m_failed) ++failures;
  }
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}
};
}  // namespace

std::size_t failed_assertions() { return failures.load(); }
void note_skipped_test() { ++skipped; }

}  // namespace troupe::integration

DOCTEST_REGISTER_LISTENER("failure_counter", 1, troupe::integration::failure_counter);

int main(int argc, char** argv) {
  doctest::Context context(argc, argv);
  int rc = context.run();
  if (context.shouldExit()) return rc;
  using troupe::integration::skipped;
  using troupe::integration::started;
  if (rc == 0 && skipped.load() > 0 && skipped.load() == started.load()) return 77;
  return rc;
}
