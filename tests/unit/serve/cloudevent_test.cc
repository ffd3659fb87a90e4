// CloudEvents 1.0.2 as the spec's MUST and MUST NOT statements say, each case
// naming the section of the core spec (core), the JSON event format (json)
// or the HTTP protocol binding (http) it checks.
#include "libofn/serve/cloudevent.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ofn::serve {
namespace {

HttpRequest Structured(const std::string& body, const std::string& content_type = "application/cloudevents+json") {
  HttpRequest r;
  r.method = "POST";
  r.headers.Set("Content-Type", content_type);
  r.body = body;
  return r;
}

HttpRequest Binary(std::vector<std::pair<std::string, std::string>> headers, const std::string& body = "") {
  HttpRequest r;
  r.method = "POST";
  for (auto& [k, v] : headers) r.headers.Add(k, v);
  r.body = body;
  return r;
}

const char kBase[] = R"("specversion":"1.0","id":"1","source":"/s","type":"t")";

std::string Event(const std::string& more) { return std::string("{") + kBase + (more.empty() ? "" : "," + more) + "}"; }

std::vector<std::pair<std::string, std::string>> BinaryBase(std::vector<std::pair<std::string, std::string>> more) {
  std::vector<std::pair<std::string, std::string>> h{
      {"ce-specversion", "1.0"}, {"ce-id", "1"}, {"ce-source", "/s"}, {"ce-type", "t"}};
  for (auto& kv : more) h.push_back(std::move(kv));
  return h;
}

TEST(CloudEventTest, AcceptedEventsReachTheFunctionAsTheSpecSays) {
  struct Case {
    const char* section;
    HttpRequest request;
    std::function<void(const CloudEvent&)> check;
  } cases[] = {
      {"json 3.1: data_base64 is decoded for the receiver", Structured(Event(R"("data_base64":"aGVsbG8=")")),
       [](const CloudEvent& e) { EXPECT_EQ(e.data, "hello"); }},
      {"json 3.1: JSON data keeps its JSON text; a string keeps its quotes",
       Structured(Event(R"("datacontenttype":"application/json","data":"123")")),
       [](const CloudEvent& e) { EXPECT_EQ(e.data, "\"123\""); }},
      {"json 3.1: a number is its JSON text", Structured(Event(R"("data":123)")), [](const CloudEvent& e) {
         EXPECT_EQ(e.data, "123");
         EXPECT_EQ(e.datacontenttype, "application/json");  // core 3.1.1: unspecified means JSON
       }},
      {"json 3.1: a string with a non-JSON type is its own text",
       Structured(Event(R"("datacontenttype":"text/plain","data":"hello world")")),
       [](const CloudEvent& e) { EXPECT_EQ(e.data, "hello world"); }},
      {"json 3.1: a +json type is JSON", Structured(Event(R"("datacontenttype":"application/cloudevents-x+json","data":"x")")),
       [](const CloudEvent& e) { EXPECT_EQ(e.data, "\"x\""); }},
      {"json 2.2: null means the attribute is not set", Structured(Event(R"("subject":null,"time":null)")),
       [](const CloudEvent& e) {
         EXPECT_EQ(e.subject, "");
         EXPECT_EQ(e.time, "");
       }},
      {"core 2.x: extension values are strings, booleans or integers (kept as text)",
       Structured(Event(R"("flag":true,"count":42,"name":"x")")),
       [](const CloudEvent& e) {
         EXPECT_EQ(e.extensions.at("flag"), "true");
         EXPECT_EQ(e.extensions.at("count"), "42");
         EXPECT_EQ(e.extensions.at("name"), "x");
       }},
      {"core 3.1.4: names over 20 characters are a SHOULD NOT, not refused",
       Structured(Event(R"("averyveryverylongextensionname":"v")")),
       [](const CloudEvent& e) { EXPECT_EQ(e.extensions.at("averyveryverylongextensionname"), "v"); }},
      {"core 3.1.1: time is an RFC 3339 timestamp, offsets and fractions allowed",
       Structured(Event(R"("time":"2018-04-05T17:31:00.123+02:00")")),
       [](const CloudEvent& e) { EXPECT_EQ(e.time, "2018-04-05T17:31:00.123+02:00"); }},
      {"http 3.1 / RFC 7231: media types are case-insensitive, parameters allowed",
       Structured(Event(""), "Application/CloudEvents+JSON; charset=utf-8"),
       [](const CloudEvent& e) { EXPECT_EQ(e.id, "1"); }},
      {"http 3.1.3.2: header values are percent-decoded",
       Binary(BinaryBase({{"ce-subject", "Euro%20%E2%82%AC"}})),
       [](const CloudEvent& e) { EXPECT_EQ(e.subject, "Euro \xE2\x82\xAC"); }},
      {"http 3.1.3.2: a quoted-string value is un-quoted first",
       Binary(BinaryBase({{"ce-subject", "\"a \\\"quoted\\\" %41\""}})),
       [](const CloudEvent& e) { EXPECT_EQ(e.subject, "a \"quoted\" A"); }},
      {"http 3.1.3.1: header names are case-insensitive", Binary(BinaryBase({{"CE-MyExt", "v"}})),
       [](const CloudEvent& e) { EXPECT_EQ(e.extensions.at("myext"), "v"); }},
      {"http 3.1.1: datacontenttype is Content-Type; the body is the data as sent",
       Binary(BinaryBase({{"Content-Type", "application/json"}}), "hello world"),
       [](const CloudEvent& e) {
         EXPECT_EQ(e.datacontenttype, "application/json");
         EXPECT_EQ(e.data, "hello world");
         EXPECT_TRUE(e.extensions.empty());
       }},
      {"http 3.1.1: a ce-datacontenttype header is no extension", Binary(BinaryBase({{"ce-datacontenttype", "text/plain"}})),
       [](const CloudEvent& e) {
         EXPECT_EQ(e.datacontenttype, "text/plain");
         EXPECT_EQ(e.extensions.count("datacontenttype"), 0u);
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.section);
    Result<CloudEvent> e = CloudEventFromHttp(c.request);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    c.check(*e);
  }
}

TEST(CloudEventTest, RefusedEventsSayWhichAttributeAndWhy) {
  struct Case {
    const char* section;
    HttpRequest request;
    const char* error;
    int status;
  } cases[] = {
      {"json 3.1: data and data_base64 are exclusive", Structured(Event(R"("data":1,"data_base64":"AA==")")),
       "\"data\" and \"data_base64\" cannot both be set", 400},
      {"json 3.1: data_base64 is base64", Structured(Event(R"("data_base64":"not base64!")")), "\"data_base64\"", 400},
      {"core 3.1: id is a non-empty string", Structured(R"({"specversion":"1.0","id":42,"source":"/s","type":"t"})"), "attribute \"id\": must be a string",
       400},
      {"json 2.2: a null required attribute is missing", Structured(R"({"specversion":"1.0","id":null,"source":"/s","type":"t"})"),
       "required attribute \"id\" is missing", 400},
      {"core 3.1: specversion 1.0", Structured(R"({"specversion":"0.3","id":"1","source":"/s","type":"t"})"),
       "specversion \"0.3\" is not supported", 400},
      {"core 3.1.4: names are lower-case a-z and 0-9", Structured(Event(R"("MyExt":"v")")), "attribute \"MyExt\"", 400},
      {"core 3.1.4: no other characters", Structured(Event(R"("my_ext":"v")")), "attribute \"my_ext\"", 400},
      {"core 2.x: objects are no attribute type", Structured(Event(R"("ext":{"a":1})")),
       "must be a string, a boolean or an integer", 400},
      {"core 2.x: Integer is 32-bit", Structured(Event(R"("big":3000000000)")), "outside the 32-bit integers", 400},
      {"core 3.1.1: time is a timestamp", Structured(Event(R"("time":"yesterday")")), "not an RFC 3339 timestamp", 400},
      {"core 3.1.1: dataschema is a URI", Structured(Event(R"("dataschema":"relative/path")")), "not an absolute URI",
       400},
      {"http 3.1.3.2: the decoded value is UTF-8", Binary(BinaryBase({{"ce-subject", "%FF"}})), "not valid UTF-8", 400},
      {"http 3.1.3.2: percent-encoding is %XX", Binary(BinaryBase({{"ce-subject", "100%"}})), "percent-encoded", 400},
      {"core 3.1.4: header attribute names too", Binary(BinaryBase({{"ce-my_ext", "v"}})), "header \"ce-my_ext\"", 400},
      {"core 3.1: source is required", Binary({{"ce-specversion", "1.0"}, {"ce-id", "1"}, {"ce-type", "t"}}),
       "required attribute \"source\" is missing", 400},
      {"http 3.1.3: one value per attribute", Binary(BinaryBase({{"ce-id", "2"}})), "given twice", 400},
      {"http 3.3: batched mode is refused, saying so", Structured("[]", "application/cloudevents-batch+json"),
       "batched CloudEvents", 415},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.section);
    Result<CloudEvent> e = CloudEventFromHttp(c.request);
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.status().message().find(c.error), std::string::npos) << e.status().message();
    EXPECT_EQ(CloudEventErrorStatus(e.status()), c.status);
  }
}

TEST(CloudEventTest, HeaderValuesAreEncodedAsTheBindingSaysAndRoundTrip) {
  EXPECT_EQ(EncodeCloudEventHeader("Euro \xE2\x82\xAC"), "Euro%20%E2%82%AC");
  EXPECT_EQ(EncodeCloudEventHeader("a\"b%c"), "a%22b%25c");
  CloudEvent e;
  e.id = "id 1";
  e.source = "/s";
  e.type = "t";
  e.subject = "\xC3\xA4 \"q\" 100%";
  e.extensions["ext"] = "line\tbreak";
  e.datacontenttype = "text/plain";
  e.data = "payload";
  Result<CloudEvent> back = CloudEventFromHttp(CloudEventToHttp(e));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->id, e.id);
  EXPECT_EQ(back->subject, e.subject);
  EXPECT_EQ(back->extensions.at("ext"), "line\tbreak");
  EXPECT_EQ(back->data, "payload");
}

}  // namespace
}  // namespace ofn::serve
