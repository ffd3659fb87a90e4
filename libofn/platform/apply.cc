#include "libofn/platform/apply.h"

#include <boost/json.hpp>

#include "libofn/spec/internal/kinds.h"

namespace ofn::platform {

namespace json = boost::json;

store::Record ToRecord(const spec::Object& object) {
  store::Record r;
  r.kind = object.kind();
  r.ns = object.ns();
  r.name = object.name();
  r.api_version = object.api_version();
  r.spec = object.SpecJson();
  const json::value& root = object.data().root;
  if (const json::object* meta = spec::internal::ObjectAt(root.as_object(), {"metadata"})) {
    auto read_map = [&](std::string_view key, std::map<std::string, std::string>* out) {
      if (const json::object* m = spec::internal::ObjectAt(*meta, {key})) {
        for (const auto& kv : *m) {
          if (kv.value().is_string()) (*out)[std::string(kv.key())] = std::string(kv.value().as_string());
        }
      }
    };
    read_map("labels", &r.labels);
    read_map("annotations", &r.annotations);
    if (const json::value* f = meta->if_contains("finalizers"); f && f->is_array()) {
      for (const json::value& s : f->as_array()) {
        if (s.is_string()) r.finalizers.emplace_back(s.as_string());
      }
    }
  }
  return r;
}

Result<std::vector<store::Record>> ApplyObjects(store::Store& store, const std::vector<spec::Object>& objects,
                                                std::vector<bool>* unchanged) {
  std::vector<store::Record> out;
  Status st = store.Transact([&](store::Transaction& txn) -> Status {
    out.clear();
    if (unchanged) unchanged->clear();
    for (const spec::Object& o : objects) {
      store::Record in = ToRecord(o);
      auto before = txn.Get(in.kind, in.ns, in.name);
      OFN_ASSIGN_OR_RETURN(store::Record r, txn.Apply(in));
      if (unchanged) unchanged->push_back(before.ok() && before->resource_version == r.resource_version);
      out.push_back(std::move(r));
    }
    return Status();
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace ofn::platform
