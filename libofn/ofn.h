// libofn: an embeddable serverless platform library. The umbrella header.
#ifndef LIBOFN_OFN_H_
#define LIBOFN_OFN_H_

#include "libofn/backend/backend.h"
#include "libofn/backend/driver.h"
#include "libofn/backend/registry.h"
#include "libofn/backend/workload.h"
#include "libofn/common/clock.h"
#include "libofn/common/log.h"
#include "libofn/common/status.h"
#include "libofn/platform/platform.h"
#include "libofn/serve/function.h"
#include "libofn/serve/http.h"
#include "libofn/spec/diagnostic.h"
#include "libofn/spec/object.h"
#include "libofn/version.h"

#endif  // LIBOFN_OFN_H_
