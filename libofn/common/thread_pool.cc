#include "libofn/common/thread_pool.h"

#include "libofn/common/log.h"

namespace ofn {

struct ThreadPool::State {
  std::string name;
  std::mutex mu;
  std::condition_variable cv;
  std::condition_variable idle;
  std::deque<std::function<void()>> tasks;
  bool stopping = false;
  size_t busy = 0;
  size_t alive = 0;
};

ThreadPool::ThreadPool(std::string name, int threads) : state_(std::make_shared<State>()) {
  state_->name = std::move(name);
  state_->alive = static_cast<size_t>(std::max(1, threads));
  for (int i = 0; i < std::max(1, threads); ++i) {
    // Threads hold the state, so a detached one never touches a dead pool.
    threads_.emplace_back([s = state_] {
      std::unique_lock<std::mutex> lock(s->mu);
      for (;;) {
        s->cv.wait(lock, [&] { return s->stopping || !s->tasks.empty(); });
        if (s->tasks.empty()) break;
        std::function<void()> task = std::move(s->tasks.front());
        s->tasks.pop_front();
        ++s->busy;
        lock.unlock();
        task();
        task = nullptr;
        lock.lock();
        --s->busy;
      }
      --s->alive;
      s->idle.notify_all();
    });
  }
}

ThreadPool::~ThreadPool() { Join(std::chrono::seconds(1)); }

void ThreadPool::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!state_->stopping) {
      state_->tasks.push_back(std::move(task));
      task = nullptr;
    }
  }
  if (task) {
    task();  // after Join began: run here, so no completion is ever lost
    return;
  }
  state_->cv.notify_one();
}

void ThreadPool::Join(std::chrono::milliseconds deadline) {
  if (threads_.empty()) return;
  {
    std::unique_lock<std::mutex> lock(state_->mu);
    state_->stopping = true;
    state_->cv.notify_all();
    if (!state_->idle.wait_for(lock, deadline, [&] { return state_->alive == 0; })) {
      OFN_LOG(kWarning) << state_->name << ": " << state_->busy
                        << " task(s) still running at shutdown; leaving them behind";
      for (std::thread& t : threads_) t.detach();
      threads_.clear();
      return;
    }
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

size_t ThreadPool::busy() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->busy;
}

}  // namespace ofn
