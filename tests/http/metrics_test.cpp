// Unit tests of the metrics registry and its Prometheus text rendering.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <stdexcept>
#include <thread>
#include <vector>

#include "runtime/common/metrics.hpp"

using namespace troupe::metrics;

TEST_CASE("counters render with sorted, escaped labels and HELP/TYPE once per family") {
  registry r;
  r.get_counter("reqs_total", "Requests\nby code", {{"method", "GET"}, {"code", "200"}}).inc(3);
  r.get_counter("reqs_total", "ignored", {{"code", "404"}, {"method", "GET"}}).inc();
  r.get_counter("odd_total", "Odd", {{"v", "a\"b\\c\nd"}}).inc();
  auto text = r.render();
  CHECK(text ==
        "# HELP odd_total Odd\n"
        "# TYPE odd_total counter\n"
        "odd_total{v=\"a\\\"b\\\\c\\nd\"} 1\n"
        "# HELP reqs_total Requests\\nby code\n"
        "# TYPE reqs_total counter\n"
        "reqs_total{code=\"200\",method=\"GET\"} 3\n"
        "reqs_total{code=\"404\",method=\"GET\"} 1\n");
}

TEST_CASE("the same name and labels give the same series") {
  registry r;
  auto& a = r.get_counter("x_total", "x", {{"k", "v"}});
  auto& b = r.get_counter("x_total", "x", {{"k", "v"}});
  CHECK(&a == &b);
  a.inc();
  b.inc(4);
  CHECK(a.value() == 5);
}

TEST_CASE("gauges keep the last value and print integers without a fraction") {
  registry r;
  r.get_gauge("term", "t").set(7);
  r.get_gauge("ratio", "r").set(0.25);
  auto text = r.render();
  CHECK(text.find("term 7\n") != std::string::npos);
  CHECK(text.find("ratio 0.25\n") != std::string::npos);
  CHECK(format_value(0.1) == "0.1");
  CHECK(format_value(1e20) == "1e+20");
}

TEST_CASE("histograms: inclusive upper bounds, cumulative buckets, +Inf, sum and count") {
  registry r;
  auto& h = r.get_histogram("run_seconds", "run time", {0.5, 1, 2.5});
  for (double v : {0.1, 0.5, 0.7, 2.5, 9.0}) h.observe(v);
  auto text = r.render();
  CHECK(text ==
        "# HELP run_seconds run time\n"
        "# TYPE run_seconds histogram\n"
        "run_seconds_bucket{le=\"0.5\"} 2\n"
        "run_seconds_bucket{le=\"1\"} 3\n"
        "run_seconds_bucket{le=\"2.5\"} 4\n"
        "run_seconds_bucket{le=\"+Inf\"} 5\n"
        "run_seconds_sum 12.8\n"
        "run_seconds_count 5\n");
}

TEST_CASE("bad names, reserved labels and type clashes are refused") {
  registry r;
  CHECK_THROWS_AS(r.get_counter("1abc", "x"), std::invalid_argument);
  CHECK_THROWS_AS(r.get_counter("a-b", "x"), std::invalid_argument);
  CHECK_THROWS_AS(r.get_counter("ok_total", "x", {{"__name", "v"}}), std::invalid_argument);
  CHECK_THROWS_AS(r.get_histogram("h", "x", {1, 2}, {{"le", "1"}}), std::invalid_argument);
  CHECK_THROWS_AS(r.get_histogram("h2", "x", {2, 1}), std::invalid_argument);
  r.get_counter("shared", "x");
  CHECK_THROWS_AS(r.get_gauge("shared", "x"), std::invalid_argument);
}

TEST_CASE("concurrent increments are all counted") {
  registry r;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&r, t] {
      for (int i = 0; i < 10000; ++i) {
        r.get_counter("c_total", "c", {{"t", std::to_string(t % 2)}}).inc();
        r.get_histogram("h", "h", {1}).observe(0.5);
      }
    });
  for (auto& th : threads) th.join();
  CHECK(r.get_counter("c_total", "c", {{"t", "0"}}).value() == 20000);
  CHECK(r.get_counter("c_total", "c", {{"t", "1"}}).value() == 20000);
  CHECK(r.get_histogram("h", "h", {1}).read().count == 40000);
}
