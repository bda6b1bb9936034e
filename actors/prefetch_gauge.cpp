#include "actors/prefetch_gauge.hpp"

#include <algorithm>
#include <cmath>

namespace troupe {

prefetch_gauge::prefetch_gauge(std::uint32_t floor, std::uint32_t slots, std::chrono::milliseconds window,
                               std::uint32_t max, clock::time_point now)
    : floor_(floor), slots_(slots), max_(std::max(floor, max)), window_(window), period_start_(now) {}

void prefetch_gauge::completed(clock::time_point now, clock::duration ran) {
  if (count_++ == 0) period_start_ = now;
  ran_ += std::max(ran, clock::duration::zero());
}

std::uint32_t prefetch_gauge::prefetch(clock::time_point now) {
  if (floor_ == 0) return 0;
  if (now - period_start_ >= rate_period) {
    // slots × window / mean run time; a period with no completion, none.
    const double ran_s = std::max(std::chrono::duration<double>(ran_).count(), 1e-6 * static_cast<double>(count_));
    per_window_ = count_ == 0 ? 0.0
                              : static_cast<double>(slots_) * std::chrono::duration<double>(window_).count() *
                                    static_cast<double>(count_) / ran_s;
    period_start_ = now;
    count_ = 0;
    ran_ = {};
  }
  const double want = std::ceil(per_window_);
  if (want <= floor_) return floor_;
  return want >= max_ ? max_ : static_cast<std::uint32_t>(want);
}

}  // namespace troupe
