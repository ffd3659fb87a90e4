#include "libofn/scale/options.h"

#include <algorithm>
#include <cmath>

namespace ofn::scale {

double ScaleSpec::TotalValue() const {
  return container_concurrency > 0 ? static_cast<double>(container_concurrency) : target;
}

std::chrono::nanoseconds ScaleSpec::PanicWindow() const {
  auto ns = static_cast<int64_t>(std::llround(static_cast<double>(stable_window.count()) *
                                              panic_window_percentage / 100.0));
  return std::chrono::nanoseconds(ns);
}

}  // namespace ofn::scale
