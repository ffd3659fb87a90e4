#include "libofn/gateway/weighted.h"

#include <algorithm>
#include <iterator>
#include <utility>

namespace ofn::gateway {

WeightedSlots::WeightedSlots(const std::vector<int>& weights, Counter counter) {
  int64_t total = 0;
  for (int w : weights) total += std::max(0, w);
  if (total <= 0) return;
  std::vector<int> count(weights.size());
  std::vector<std::pair<double, size_t>> rest;
  int used = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    double exact = 100.0 * std::max(0, weights[i]) / static_cast<double>(total);
    count[i] = static_cast<int>(exact);
    used += count[i];
    rest.emplace_back(exact - count[i], i);
  }
  std::stable_sort(rest.begin(), rest.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (size_t k = 0; used < 100 && k < rest.size(); ++k, ++used) ++count[rest[k].second];
  size_t holders = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (count[i] > 0) {
      ++holders;
      only_ = static_cast<int>(i);
    }
  }
  if (holders <= 1) return;  // every slot would hold `only_`
  only_ = -1;
  slots_ = std::make_unique<int[]>(100);
  std::fill(slots_.get(), slots_.get() + 100, -1);
  counter_ = counter ? std::move(counter) : std::make_shared<std::atomic<uint64_t>>(0);
  int pos = 0;
  for (size_t i = 0; i < weights.size(); ++i) {
    for (int c = 0; c < count[i] && pos < 100; ++c) slots_[pos++] = static_cast<int>(i);
  }
}

int WeightedSlots::Pick() const {
  if (!slots_) return only_;
  // 37 is coprime with 100: the sequence visits every slot once per 100.
  uint64_t n = counter_->fetch_add(1, std::memory_order_relaxed);
  return slots_[(n * 37) % 100];
}

}  // namespace ofn::gateway
