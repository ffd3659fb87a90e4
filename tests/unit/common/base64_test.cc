#include "libofn/common/base64.h"

#include <gtest/gtest.h>

namespace ofn {
namespace {

TEST(Base64Test, RoundTripsTheRfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, coded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), coded);
    Result<std::string> d = Base64Decode(coded);
    ASSERT_TRUE(d.ok()) << coded;
    EXPECT_EQ(*d, plain);
  }
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  EXPECT_EQ(*Base64Decode(Base64Encode(bytes)), bytes);
}

TEST(Base64Test, RejectsWhatGoWouldRejectNamingTheOffset) {
  const std::pair<const char*, const char*> bad[] = {
      {"Zg", "multiple of 4"},  {"Zm9v\n", "multiple of 4"},   {"Zm9!", "offset 3"}, {"Z===", "offset 1"},
      {"=m9v", "offset 0"},     {"Zg==Zm9v", "offset 2"},       {"Zm=v", "offset 2"},
  };
  for (const auto& [text, message] : bad) {
    Result<std::string> d = Base64Decode(text);
    ASSERT_FALSE(d.ok()) << text;
    EXPECT_NE(d.status().message().find(message), std::string::npos) << text << ": " << d.status().message();
  }
}

}  // namespace
}  // namespace ofn
