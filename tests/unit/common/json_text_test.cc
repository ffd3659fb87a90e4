// JSON text helpers: quoting, and the canonical-text check the object
// listing relies on to copy stored JSON as it is.
#include "libofn/common/json_text.h"

#include <gtest/gtest.h>

namespace ofn {
namespace {

TEST(JsonTextTest, QuotingEscapesWhatJsonNeeds) {
  EXPECT_EQ(JsonQuote("plain"), "\"plain\"");
  EXPECT_EQ(JsonQuote("a\"b\\c\n\t\x01"), "\"a\\\"b\\\\c\\n\\t\\u0001\"");
  std::string out = "x";
  AppendJsonQuoted(&out, "é");
  EXPECT_EQ(out, "x\"é\"");
}

TEST(JsonTextTest, CanonicalObjectsAreRecognized) {
  for (const char* text : {"{}", R"({"a":1,"b":[true,false,null,"s",{}],"c":{"x":-12,"y":[]}})",
                           R"({"A":0,"B":"é","a":"Z"})", R"({"a":{"a":{"a":{"b":"c"}}}})"}) {
    EXPECT_TRUE(IsCanonicalJsonObject(text)) << text;
  }
}

TEST(JsonTextTest, AnythingWrittenOtherwiseIsNot) {
  for (const char* text : {
           "",                       // nothing
           "[]",                     // not an object
           "{} ",                    // trailing space
           R"({ "a":1})",            // whitespace
           R"({"b":1,"a":2})",       // keys out of order
           R"({"a":1,"a":2})",       // a key twice
           R"({"a":1.5})",           // a fraction: written back it may differ
           R"({"a":1e3})",           // an exponent
           R"({"a":01})",            // a leading zero
           R"({"a":-0})",            // minus zero
           R"({"a":1234567890123456789})",  // beyond 18 digits
           R"({"a":"x\"y"})",        // an escape
           "{\"a\":\"\x01\"}",       // a raw control character
           R"({"a":tru})",           // a broken literal
           R"({"a":[1,]})",          // a trailing comma
           R"({"a":{"b":1})",        // unclosed
           R"({"a":"x)",             // unterminated string
       }) {
    EXPECT_FALSE(IsCanonicalJsonObject(text)) << text;
  }
  std::string deep;
  for (int i = 0; i < 70; ++i) deep += "{\"a\":";
  deep += "1";
  for (int i = 0; i < 70; ++i) deep += "}";
  EXPECT_FALSE(IsCanonicalJsonObject(deep));  // deeper than 64
}

}  // namespace
}  // namespace ofn
