#include "libofn/common/log.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace ofn {
namespace {

class LogTest : public ::testing::Test {
 protected:
  void TearDown() override { SetLogOptions(LogOptions{}); }
  std::vector<std::string> lines_;
  void Capture(LogLevel level, bool json) {
    LogOptions o;
    o.level = level;
    o.json = json;
    o.sink = [this](std::string_view l) { lines_.emplace_back(l); };
    SetLogOptions(o);
  }
};

TEST_F(LogTest, LevelFilters) {
  Capture(LogLevel::kWarning, false);
  OFN_LOG(kInfo) << "hidden";
  OFN_LOG(kError) << "shown " << 42;
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_NE(lines_[0].find(" error log_test.cc:"), std::string::npos);
  EXPECT_NE(lines_[0].find("] shown 42"), std::string::npos);
}

TEST_F(LogTest, JsonModeWritesOneObjectPerLine) {
  Capture(LogLevel::kDebug, true);
  OFN_LOG(kDebug) << "quote \" and\nnewline";
  ASSERT_EQ(lines_.size(), 1u);
  boost::json::value v = boost::json::parse(lines_[0]);
  EXPECT_EQ(v.at("level"), "debug");
  EXPECT_EQ(v.at("msg"), "quote \" and\nnewline");
  EXPECT_EQ(v.at("file"), "log_test.cc");
}

TEST_F(LogTest, ParseLevel) {
  LogLevel l;
  EXPECT_TRUE(ParseLogLevel("warn", &l));
  EXPECT_EQ(l, LogLevel::kWarning);
  EXPECT_FALSE(ParseLogLevel("loud", &l));
}

}  // namespace
}  // namespace ofn
