// ThreadPool: a fixed set of threads running posted tasks in order of
// posting. Join() waits for what was posted; a task still running past the
// join deadline is left behind (its thread is detached) rather than block
// the caller forever. Thread-safe.
#ifndef LIBOFN_COMMON_THREAD_POOL_H_
#define LIBOFN_COMMON_THREAD_POOL_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace ofn {

class ThreadPool {
 public:
  ThreadPool(std::string name, int threads);
  ~ThreadPool();  // Join(1 s)

  // After Join began, runs the task on the caller's thread.
  void Post(std::function<void()> task);
  // Runs what is queued, then stops the threads; waits up to `deadline` for
  // running tasks.
  void Join(std::chrono::milliseconds deadline);
  size_t busy() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::vector<std::thread> threads_;
};

}  // namespace ofn

#endif  // LIBOFN_COMMON_THREAD_POOL_H_
