#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "runtime/exec/cancel_token.hpp"

using troupe::exec::cancel_token;

TEST_CASE("cancel_token: callbacks run once, on cancel, in registration order") {
  cancel_token t;
  std::string order;
  t.on_cancel([&] { order += "a"; });
  t.on_cancel([&] { order += "b"; });
  CHECK_FALSE(t.cancelled());
  CHECK(order.empty());
  t.cancel();
  CHECK(t.cancelled());
  CHECK(order == "ab");
  t.cancel();
  CHECK(order == "ab");
}

TEST_CASE("cancel_token: a callback registered after cancel runs at once") {
  cancel_token t;
  t.cancel();
  int runs = 0;
  t.on_cancel([&] { ++runs; });
  CHECK(runs == 1);
}

TEST_CASE("cancel_token: concurrent cancel and on_cancel never lose or repeat a callback") {
  for (int round = 0; round < 200; ++round) {
    cancel_token t;
    std::atomic<int> runs{0};
    std::thread canceller([&] { t.cancel(); });
    for (int i = 0; i < 10; ++i) t.on_cancel([&] { runs.fetch_add(1); });
    canceller.join();
    CHECK(runs.load() == 10);
  }
}
