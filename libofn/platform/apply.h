// Applying parsed manifests to the store: the first step of the Platform's
// apply path. All objects of one call are written in one transaction, so a
// failure leaves the store as it was.
#ifndef LIBOFN_PLATFORM_APPLY_H_
#define LIBOFN_PLATFORM_APPLY_H_

#include <vector>

#include "libofn/common/status.h"
#include "libofn/spec/object.h"
#include "libofn/store/store.h"

namespace ofn::platform {

// The store record for an object: spec, labels, annotations and finalizers
// from the manifest; status is left to the controllers.
store::Record ToRecord(const spec::Object& object);

// Creates or updates every object, all or nothing. Returns the stored records;
// `unchanged` (optional) says, per object, whether it was stored as it is
// already (no write, no new resourceVersion).
Result<std::vector<store::Record>> ApplyObjects(store::Store& store, const std::vector<spec::Object>& objects,
                                                std::vector<bool>* unchanged = nullptr);

}  // namespace ofn::platform

#endif  // LIBOFN_PLATFORM_APPLY_H_
