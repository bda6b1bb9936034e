#include "runtime/common/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace troupe::metrics {
namespace {

bool valid_name(const std::string& n, bool metric) {
  if (n.empty()) return false;
  for (std::size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');
    bool digit = c >= '0' && c <= '9';
    if (!alpha && !(digit && i > 0)) return false;
  }
  return true;
}

// HELP text escapes backslash and newline only (quotes stay as they are).
std::string escape_help(const std::string& h) {
  std::string out;
  for (char c : h) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string render_labels(const labels& l, const std::string& extra_name = {}, const std::string& extra_value = {}) {
  if (l.empty() && extra_name.empty()) return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : l) {
    if (!first) out += ',';
    first = false;
    out += k + "=\"" + escape_label_value(v) + "\"";
  }
  if (!extra_name.empty()) {
    if (!first) out += ',';
    out += extra_name + "=\"" + escape_label_value(extra_value) + "\"";
  }
  return out + "}";
}

const char* type_name(int k) {
  switch (k) {
    case 0: return "counter";
    case 1: return "gauge";
    default: return "histogram";
  }
}

}  // namespace

std::string escape_label_value(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  // The shortest form that reads back as the same double (0.1, not 0.1000000000000000055).
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

histogram::histogram(std::vector<double> bounds) : bounds_(std::move(bounds)), buckets_(bounds_.size() + 1, 0) {
  for (std::size_t i = 1; i < bounds_.size(); ++i)
    if (!(bounds_[i - 1] < bounds_[i])) throw std::invalid_argument("histogram bounds must be strictly increasing");
}

void histogram::observe(double v) {
  // Upper bounds are inclusive ("le"): v lands in the first bucket with v <= bound.
  auto i = static_cast<std::size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin());
  std::lock_guard<std::mutex> g(mu_);
  ++buckets_[i];
  ++count_;
  sum_ += v;
}

histogram::snapshot histogram::read() const {
  std::lock_guard<std::mutex> g(mu_);
  snapshot s;
  s.bounds = bounds_;
  std::uint64_t acc = 0;
  for (auto b : buckets_) s.cumulative.push_back(acc += b);
  s.count = count_;
  s.sum = sum_;
  return s;
}

registry::family& registry::family_of(const std::string& name, const std::string& help, kind k, const labels& l) {
  if (!valid_name(name, true)) throw std::invalid_argument("invalid metric name \"" + name + "\"");
  for (const auto& [ln, _] : l)
    if (!valid_name(ln, false) || ln.rfind("__", 0) == 0 || (k == kind::histogram && ln == "le"))
      throw std::invalid_argument("invalid label name \"" + ln + "\" on metric " + name);
  auto [it, fresh] = families_.try_emplace(name);
  if (fresh) {
    it->second.type = k;
    it->second.help = help;
  } else if (it->second.type != k) {
    throw std::invalid_argument("metric " + name + " is already registered as a " +
                                type_name(static_cast<int>(it->second.type)));
  }
  return it->second;
}

counter& registry::get_counter(const std::string& name, const std::string& help, const labels& l) {
  std::lock_guard<std::mutex> g(mu_);
  auto& slot = family_of(name, help, kind::counter, l).counters[l];
  if (!slot) slot = std::make_unique<counter>();
  return *slot;
}

gauge& registry::get_gauge(const std::string& name, const std::string& help, const labels& l) {
  std::lock_guard<std::mutex> g(mu_);
  auto& slot = family_of(name, help, kind::gauge, l).gauges[l];
  if (!slot) slot = std::make_unique<gauge>();
  return *slot;
}

histogram& registry::get_histogram(const std::string& name, const std::string& help,
                                   const std::vector<double>& bounds, const labels& l) {
  std::lock_guard<std::mutex> g(mu_);
  auto& slot = family_of(name, help, kind::histogram, l).histograms[l];
  if (!slot) slot = std::make_unique<histogram>(bounds);
  return *slot;
}

std::string registry::render() const {
  std::lock_guard<std::mutex> g(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + escape_help(f.help) + "\n";
    out += "# TYPE " + name + " " + type_name(static_cast<int>(f.type)) + "\n";
    for (const auto& [l, c] : f.counters) out += name + render_labels(l) + " " + std::to_string(c->value()) + "\n";
    for (const auto& [l, v] : f.gauges) out += name + render_labels(l) + " " + format_value(v->value()) + "\n";
    for (const auto& [l, h] : f.histograms) {
      auto s = h->read();
      for (std::size_t i = 0; i < s.bounds.size(); ++i)
        out += name + "_bucket" + render_labels(l, "le", format_value(s.bounds[i])) + " " +
               std::to_string(s.cumulative[i]) + "\n";
      out += name + "_bucket" + render_labels(l, "le", "+Inf") + " " + std::to_string(s.cumulative.back()) + "\n";
      out += name + "_sum" + render_labels(l) + " " + format_value(s.sum) + "\n";
      out += name + "_count" + render_labels(l) + " " + std::to_string(s.count) + "\n";
    }
  }
  return out;
}

registry& global() {
  static registry r;
  return r;
}

const std::vector<double>& duration_buckets() {
  static const std::vector<double> b{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
  return b;
}

}  // namespace troupe::metrics
