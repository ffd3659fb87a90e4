#include "libofn/scale/options.h"

#include <algorithm>
#include <cmath>

namespace ofn::scale {

double ScaleSpec::TargetValue() const { return std::max(0.01, target * target_utilization); }

std::chrono::nanoseconds ScaleSpec::PanicWindow() const {
  double secs = std::chrono::duration<double>(stable_window).count() * panic_window_percentage / 100.0;
  // At least one metric bucket (a second).
  return std::chrono::seconds(std::max<long long>(1, std::llround(secs)));
}

}  // namespace ofn::scale
