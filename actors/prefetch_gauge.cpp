#include "actors/prefetch_gauge.hpp"

#include <algorithm>
#include <cmath>

namespace troupe {

prefetch_gauge::prefetch_gauge(std::uint32_t floor, std::chrono::milliseconds window, std::uint32_t max,
                               clock::time_point now)
    : floor_(floor), max_(std::max(floor, max)), window_(window), period_start_(now) {}

std::uint32_t prefetch_gauge::prefetch(clock::time_point now) {
  if (floor_ == 0) return 0;
  const auto period = now - period_start_;
  if (period >= rate_period) {
    per_window_ = static_cast<double>(count_) * std::chrono::duration<double>(window_).count() /
                  std::chrono::duration<double>(period).count();
    period_start_ = now;
    count_ = 0;
  }
  const double want = std::ceil(per_window_);
  if (want <= floor_) return floor_;
  return want >= max_ ? max_ : static_cast<std::uint32_t>(want);
}

}  // namespace troupe
