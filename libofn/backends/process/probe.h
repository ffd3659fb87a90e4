// Readiness and liveness probes of a process instance, on raw loopback
// sockets: a TCP connect, or an HTTP GET whose status is in [200, 400).
#ifndef LIBOFN_BACKENDS_PROCESS_PROBE_H_
#define LIBOFN_BACKENDS_PROCESS_PROBE_H_

#include "libofn/backend/workload.h"

namespace ofn::process {

// One probe of 127.0.0.1:port, within probe.timeout. Blocks.
bool RunProbe(const backend::Probe& probe, int port);

}  // namespace ofn::process

#endif  // LIBOFN_BACKENDS_PROCESS_PROBE_H_
