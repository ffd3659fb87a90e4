// libFuzzer: an HTTP request (header lines "name: value", a blank line,
// then the body) read as a CloudEvent in binary or structured mode, and the
// event written back.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "libofn/serve/cloudevent.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  ofn::HttpRequest req;
  req.method = "POST";
  while (!in.empty()) {
    size_t nl = in.find('\n');
    std::string_view line = in.substr(0, nl);
    in.remove_prefix(nl == std::string_view::npos ? in.size() : nl + 1);
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    req.headers.Add(std::string(line.substr(0, colon)), std::string(value));
  }
  req.body = std::string(in);
  auto event = ofn::serve::CloudEventFromHttp(req);
  if (event.ok()) (void)ofn::serve::CloudEventToHttp(*event);
  return 0;
}
