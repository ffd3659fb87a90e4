// Fifo<T>: a queue over one vector, for the small per-revision windows the
// scalers and pools keep by the thousand. Unlike std::deque (which
// allocates a block and its map as soon as it is made, ~600 bytes), an
// empty Fifo holds no memory; the front is dropped by moving a head index
// and compacting once the dropped part is half of it (amortized O(1)).
// Iterators are the vector's and are invalidated by any change.
#ifndef LIBOFN_COMMON_FIFO_H_
#define LIBOFN_COMMON_FIFO_H_

#include <cstddef>
#include <utility>
#include <vector>

namespace ofn {

template <typename T>
class Fifo {
 public:
  using iterator = typename std::vector<T>::iterator;
  using const_iterator = typename std::vector<T>::const_iterator;

  bool empty() const { return head_ == v_.size(); }
  size_t size() const { return v_.size() - head_; }
  T& front() { return v_[head_]; }
  const T& front() const { return v_[head_]; }
  T& back() { return v_.back(); }
  const T& back() const { return v_.back(); }
  iterator begin() { return v_.begin() + static_cast<std::ptrdiff_t>(head_); }
  iterator end() { return v_.end(); }
  const_iterator begin() const { return v_.begin() + static_cast<std::ptrdiff_t>(head_); }
  const_iterator end() const { return v_.end(); }

  void push_back(T value) { v_.push_back(std::move(value)); }
  template <typename... Args>
  T& emplace_back(Args&&... args) {
    return v_.emplace_back(std::forward<Args>(args)...);
  }
  iterator insert(iterator at, T value) { return v_.insert(at, std::move(value)); }
  iterator erase(iterator at) { return v_.erase(at); }
  template <typename Pred>
  void erase_if(Pred pred) {
    Compact();
    std::erase_if(v_, pred);
  }
  void pop_front() {
    v_[head_] = T();  // let go of what it holds now
    if (++head_ == v_.size()) {
      clear();
    } else if (head_ >= 32 && head_ * 2 >= v_.size()) {
      Compact();
    }
  }
  // Empties it and gives its memory back.
  void clear() {
    std::vector<T>().swap(v_);
    head_ = 0;
  }
  void swap(Fifo& other) noexcept {
    v_.swap(other.v_);
    std::swap(head_, other.head_);
  }

 private:
  void Compact() {
    v_.erase(v_.begin(), v_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
  std::vector<T> v_;
  size_t head_ = 0;
};

}  // namespace ofn

#endif  // LIBOFN_COMMON_FIFO_H_
