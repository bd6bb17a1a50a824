// Log-linear latency histogram (HDR-style: 32 linear sub-buckets per power of two, ~3% precision) in microseconds.
#pragma once
#include <algorithm>
#include <bit>
#include <cstdint>
#include <vector>

namespace bench {

class histogram {
 public:
  histogram() : counts_(64 + 40 * 32, 0) {}
  void record(double ms) {
    const auto us = static_cast<uint64_t>(std::max(0.0, ms * 1000.0));
    ++counts_[index(us)];
    ++total_;
    max_us_ = std::max(max_us_, us);
  }
  void merge(const histogram& o) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    total_ += o.total_;
    max_us_ = std::max(max_us_, o.max_us_);
  }
  uint64_t count() const { return total_; }
  double max_ms() const { return static_cast<double>(max_us_) / 1000.0; }
  // The value at quantile p (0..100), as the middle of its bucket, never above the largest recorded.
  double percentile_ms(double p) const {
    if (total_ == 0) return 0;
    const auto want = std::max<uint64_t>(1, static_cast<uint64_t>(p / 100.0 * static_cast<double>(total_) + 0.999999));
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= want) return std::min(middle(i), static_cast<double>(max_us_)) / 1000.0;
    }
    return max_ms();
  }

 private:
  static size_t index(uint64_t us) {
    if (us < 64) return us;
    const int shift = std::bit_width(us) - 6;  // us >> shift is in [32, 63]
    const size_t i = 64 + static_cast<size_t>(shift - 1) * 32 + ((us >> shift) - 32);
    return std::min<size_t>(i, 64 + 40 * 32 - 1);
  }
  static double middle(size_t i) {
    if (i < 64) return static_cast<double>(i);
    const size_t shift = (i - 64) / 32 + 1, sub = (i - 64) % 32 + 32;
    return (static_cast<double>(sub) + 0.5) * static_cast<double>(uint64_t{1} << shift);
  }
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0, max_us_ = 0;
};

}  // namespace bench
