// Helper for crash_test: applies objects in a loop and prints the index of
// each apply that returned OK, flushed, so the parent knows what must survive.
//   store_crash_child DB FIRST_INDEX
#include <cstdio>
#include <cstdlib>
#include <string>

#include "libofn/store/store.h"

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  auto store = ofn::store::Store::Open(argv[1]);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", store.status().ToString().c_str());
    return 1;
  }
  for (long i = std::atol(argv[2]);; ++i) {
    ofn::store::Record r;
    r.kind = "Function";
    r.ns = "crash";
    r.name = "obj-" + std::to_string(i);
    r.api_version = "core.openfunction.io/v1beta2";
    r.spec = "{\"i\":" + std::to_string(i) + ",\"pad\":\"" + std::string(static_cast<size_t>(i % 512), 'x') + "\"}";
    r.labels["i"] = std::to_string(i);
    auto st = (*store)->Transact([&](ofn::store::Transaction& t) -> ofn::Status {
      OFN_RETURN_IF_ERROR(t.Apply(r).status());
      // A second write in the same transaction: both or neither survive.
      return t.UpdateStatus(r.kind, r.ns, r.name, "{\"applied\":" + std::to_string(i) + "}").status();
    });
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      return 1;
    }
    std::printf("%ld\n", i);
    std::fflush(stdout);
  }
}
