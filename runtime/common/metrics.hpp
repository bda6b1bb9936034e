// metrics: a small thread-safe registry of counters, gauges and histograms,
// rendered in the Prometheus text exposition format 0.0.4 for GET /metrics.
//
// A metric family is a name, a help text and a type; each distinct label set
// is one series. Series are created on first use and live as long as the
// registry, so callers may keep the returned reference and update it without
// a lookup. Updates are lock-free (counters, gauges) or take a per-series
// mutex (histograms); rendering takes the registry lock only to walk the map.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace troupe::metrics {

// Label name -> value, kept sorted so equal sets name the same series.
using labels = std::map<std::string, std::string>;

class counter {
 public:
  void inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class histogram {
 public:
  // bounds: the finite upper bounds of the buckets, strictly increasing;
  // the +Inf bucket is implicit.
  explicit histogram(std::vector<double> bounds);
  void observe(double v);
  struct snapshot {
    std::vector<double> bounds;
    std::vector<std::uint64_t> cumulative;  // one per bound, then +Inf
    std::uint64_t count = 0;
    double sum = 0;
  };
  snapshot read() const;

 private:
  mutable std::mutex mu_;
  std::vector<double> bounds_;
  std::vector<std::uint64_t> buckets_;  // not cumulative; last is +Inf
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

// Throws std::invalid_argument when a name is not a valid Prometheus metric
// or label name, or when a family is re-registered with another type.
class registry {
 public:
  counter& get_counter(const std::string& name, const std::string& help, const labels& l = {});
  gauge& get_gauge(const std::string& name, const std::string& help, const labels& l = {});
  histogram& get_histogram(const std::string& name, const std::string& help, const std::vector<double>& bounds,
                           const labels& l = {});

  // Every family in name order, every series in label order.
  std::string render() const;

 private:
  enum class kind { counter, gauge, histogram };
  struct family {
    kind type;
    std::string help;
    std::map<labels, std::unique_ptr<counter>> counters;
    std::map<labels, std::unique_ptr<gauge>> gauges;
    std::map<labels, std::unique_ptr<histogram>> histograms;
  };
  family& family_of(const std::string& name, const std::string& help, kind k, const labels& l);

  mutable std::mutex mu_;
  std::map<std::string, family> families_;
};

// The process-wide registry the node's components report into.
registry& global();

// Default buckets for durations in seconds (10 ms .. 10 min).
const std::vector<double>& duration_buckets();

// Text format helpers, exposed for tests.
std::string escape_label_value(const std::string& v);
std::string format_value(double v);

}  // namespace troupe::metrics
