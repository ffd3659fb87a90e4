#include "libofn/common/status.h"

#include <gtest/gtest.h>

namespace ofn {
namespace {

Result<int> Half(int x) {
  if (x % 2) return InvalidArgumentError("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  OFN_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

Status Check(int x) {
  OFN_RETURN_IF_ERROR(Half(x).status());
  return Status();
}

TEST(StatusTest, OkAndErrors) {
  EXPECT_TRUE(Status().ok());
  EXPECT_EQ(Status().ToString(), "OK");
  Status s = ConflictError("stale");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kConflict);
  EXPECT_EQ(s.ToString(), "Conflict: stale");
  EXPECT_EQ(s, ConflictError("stale"));
  EXPECT_FALSE(s == NotFoundError("stale"));
}

TEST(StatusTest, ResultAndMacros) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().message(), "odd: 3");
  EXPECT_EQ(Quarter(7).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Check(4).ok());
  EXPECT_FALSE(Check(5).ok());
}

}  // namespace
}  // namespace ofn
