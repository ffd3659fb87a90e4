// Crash safety: a child applying objects in a loop is SIGKILLed at random
// moments, 20 times; after each kill the store opens, passes
// integrity_check, and every apply the child reported done is there.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <random>
#include <string>

#include "libofn/store/store.h"
#include "tests/unit/test_util.h"

namespace {

std::string g_child;

TEST(StoreCrashTest, KilledWriterLosesNothingItReported) {
  ASSERT_FALSE(g_child.empty()) << "pass --child=PATH";
  ofn::testing::TempDir dir;
  std::string db = dir.path() + "/state.db";
  std::mt19937 rng(20261122);  // fixed seed: the same kill points every run
  long next = 0;
  for (int round = 0; round < 20; ++round) {
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      close(fds[1]);
      std::string first = std::to_string(next);
      execl(g_child.c_str(), g_child.c_str(), db.c_str(), first.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(fds[1]);
    FILE* out = fdopen(fds[0], "r");
    // Kill after a random number of acknowledged applies, then a random
    // number of microseconds more, so the kill lands anywhere in a write.
    int acks_before_kill = std::uniform_int_distribution<int>(1, 60)(rng);
    int spin_us = std::uniform_int_distribution<int>(0, 3000)(rng);
    long last_acked = next - 1;
    char line[64];
    int acks = 0;
    while (acks < acks_before_kill && std::fgets(line, sizeof line, out)) {
      last_acked = std::atol(line);
      ++acks;
    }
    ASSERT_EQ(acks, acks_before_kill) << "child stopped early";
    auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(spin_us);
    while (std::chrono::steady_clock::now() < until) {
    }
    kill(pid, SIGKILL);
    // Acks written before the kill still count.
    while (std::fgets(line, sizeof line, out)) last_acked = std::atol(line);
    fclose(out);
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    ASSERT_TRUE(WIFSIGNALED(wstatus)) << "round " << round;

    auto store = ofn::store::Store::Open(db);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->IntegrityCheck().ok()) << "round " << round;
    auto list = (*store)->List("Function", "crash");
    ASSERT_TRUE(list.ok());
    for (long i = 0; i <= last_acked; ++i) {
      auto r = (*store)->Get("Function", "crash", "obj-" + std::to_string(i));
      ASSERT_TRUE(r.ok()) << "round " << round << ": acknowledged obj-" << i << " lost";
      EXPECT_EQ(r->status, "{\"applied\":" + std::to_string(i) + "}");
    }
    // Nothing half-written: every object present has its status too.
    for (const auto& r : *list) EXPECT_NE(r.status, "{}") << r.name;
    next = static_cast<long>(list->size());
    EXPECT_GE(next, last_acked + 1);
  }
  EXPECT_GT(next, 20);
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--child=", 0) == 0) g_child = a.substr(8);
  }
  return RUN_ALL_TESTS();
}
