// Builder: runs the builds of Functions with spec.build, one at a time on
// its own thread, and keeps their records in the store (builds table):
// Building -> Succeeded | Failed, with the commit, the strategy, the
// artefact and the log. The reconciler asks it on every pass what a
// Function's build stands at (Ensure), and serves the newest successful
// artefact. Thread-safe.
#ifndef LIBOFN_BUILD_BUILDER_H_
#define LIBOFN_BUILD_BUILDER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "libofn/build/options.h"
#include "libofn/build/source.h"
#include "libofn/build/strategy.h"
#include "libofn/common/clock.h"
#include "libofn/common/status.h"

namespace ofn::store {
class Store;
}

namespace ofn::build {

// What a Function asks to have built.
struct BuildRequest {
  std::string ns, function;
  // Changes whenever what is asked for changes (spec.build, the function
  // container's command): a new key starts a new build.
  std::string key;
  SourceSpec source;  // credentials already resolved
  std::map<std::string, std::string> env;  // spec.build.env
  std::string builder, dockerfile, shipwright_strategy;
  std::vector<std::string> serving_command;
  std::chrono::milliseconds timeout{0};  // 0: BuildOptions::timeout
  int successful_history = 0;  // successfulBuildsHistoryLimit (records kept besides the one served)
  int failed_history = 1;      // failedBuildsHistoryLimit
  // The revision controller (annotation openfunction.io/revision-controller:
  // enable, params type: source): the remote's commit of `source.revision`
  // is polled every `poll_interval` of the platform clock, and a new
  // commit is built (and so rolled out). 0: not watched.
  std::chrono::milliseconds poll_interval{0};
  std::string watch_error;  // why the annotations do not parse ("" = fine)
  // The Function runs on containerd (ofn.io/backend: containerd): a bundle
  // becomes an OCI image on `run_image` (spec.build.shipwright.params
  // RUN_IMAGE, as buildpacks name the image an app runs on; "" = an empty
  // rootfs).
  bool image = false;
  std::string run_image;
  // spec.image and the docker config of spec.imageCredentials' Secret: an
  // image a build made is pushed there when the Function names credentials
  // (OpenFunction pushes with them).
  std::string push_to, push_credentials;
  // srcRepo.bundleContainer.image: the source is the files of this image
  // (under sourceSubPath), pulled with `image_credentials`.
  std::string bundle_image, image_credentials;
};

// What the image stage asks of the containerd backend: `layers` (host
// directory -> directory in the image) on `base`, with the bundle's start
// command, env and working directory (already in the image's paths), stored
// in containerd as `name`. Returns the name the revision runs.
struct ImageInput {
  // An OCI image archive a Dockerfile build made: imported as `name` (the
  // fields below are then unused).
  std::string archive;
  std::vector<std::pair<std::string, std::string>> layers;
  std::string base;
  std::vector<std::string> command;
  std::vector<std::pair<std::string, std::string>> env;
  std::string working_dir;
  std::string name;
  // Also pushed to this reference ("" = not), with these registry
  // credentials (a docker config JSON; "" = the platform's).
  std::string push_to, push_credentials;
};
using ImageMaker = std::function<Result<std::string>(const ImageInput&)>;

// Images as sources (the containerd backend): `resolve` pulls an image
// (with a docker config's credentials) and returns its manifest digest;
// `extract` writes the files under a sub-path of an image containerd has
// into a directory and returns the digest.
struct ImageSource {
  std::function<Result<std::string>(const std::string& image, const std::string& docker_config)> resolve;
  std::function<Result<std::string>(const std::string& image, const std::string& sub_path, const std::string& dest)>
      extract;
};

// The revision controller's view of one Function's source.
struct SourceWatch {
  bool enabled = false;
  std::chrono::milliseconds interval{0};
  std::string error;        // the params' problem, or the last poll's failure
  std::string last_commit;  // what the last successful poll saw
  uint64_t polls = 0, failures = 0;  // consecutive failures
  Clock::TimePoint last_poll{}, next_poll{};
};

// A finished build's product, as the revision that serves it records it.
struct BuildOutput {
  std::string build;   // the build's name
  std::string commit;
  std::string strategy;
  Artifact artifact;
  std::string image;  // for containerd: the image made of the bundle
};

// What a Function's build stands at.
struct BuildView {
  std::string name;   // its newest build ("" when none yet)
  std::string state;  // "", "Building", "Succeeded", "Failed"
  std::string reason, message;
  std::string duration;  // "12.3s" once finished
  std::string commit;
  // The newest successful build (what serves), if any.
  std::optional<BuildOutput> serving;
};

class Builder {
 public:
  // `store` and `clock` must outlive the Builder; `changed` is called (on
  // the build thread) whenever a build record changed.
  // `ticker`: a thread calls Poll() every second (else the host does).
  Builder(store::Store* store, Clock* clock, BuildOptions options, std::function<void()> changed,
          bool ticker = false);
  ~Builder();  // cancels the running build and joins
  Builder(const Builder&) = delete;
  Builder& operator=(const Builder&) = delete;

  // Starts a build when the Function's newest build was asked with another
  // key (or none was, or it was cut short by a restart); returns where its
  // build stands.
  BuildView Ensure(const BuildRequest& request);
  // Builds the Function again from its last request: `force` skips the
  // cache (ofn rebuild); else an unchanged commit reuses the last artefact
  // (the revision controller's poll). NotFound when it has no request.
  Status Rebuild(const std::string& ns, const std::string& function, bool force, const std::string& why);
  // A Function is gone: its queued build is dropped, a running one
  // cancelled, and its build records, artefacts and logs removed (on the
  // build thread, after whatever runs).
  void Forget(const std::string& ns, const std::string& function);
  // The log of a build ("" name: the Function's newest).
  Result<std::string> Log(const std::string& ns, const std::string& function, const std::string& build) const;
  // Waits until no build runs or waits (tests). False on timeout.
  bool Idle(std::chrono::milliseconds timeout);
  // The revision controller: queues a poll of every watched source that is
  // due on the platform clock (polls run on the build thread). The
  // Builder's own ticker calls it every second when it has one.
  void Poll();
  SourceWatch WatchOf(const std::string& ns, const std::string& function) const;

  // Where bundles become images (the containerd backend); unset: a
  // Function that runs on containerd fails to build, saying so.
  void SetImageMaker(ImageMaker maker);
  // Where image sources come from (the containerd backend); unset: a
  // bundleContainer source or an image watch fails, saying so.
  void SetImageSource(ImageSource source);
  // The revision controller's `type: image`: the digest `image` resolves
  // to is polled every `interval` (0: not watched); WatchOf's last_commit
  // is the newest digest. Called on every reconcile pass.
  void WatchImage(const std::string& ns, const std::string& function, const std::string& image,
                  const std::string& docker_config, std::chrono::milliseconds interval, const std::string& error);

 private:
  struct Job {
    BuildRequest request;
    bool force = false;
    std::string why;
    bool poll = false;  // the revision controller's: build only a new commit
    bool image_poll = false;  // type image: only resolve the digest
  };
  struct FunctionBuilds {
    std::optional<BuildRequest> last;
    bool queued = false;
    SourceWatch watch;
    std::string watch_image, watch_credentials;  // type image
  };
  // An image watch's poll: the digest now, into the watch.
  void PollImage(const Job& job);
  // A poll job: false when the remote's commit is the one built last (or
  // the poll failed): nothing to build.
  bool PollSource(Job* job);
  // The source with mirrors applied and, when the Function gives none, the
  // credentials of the credentials file.
  SourceSpec Resolved(const SourceSpec& spec) const;
  void Loop();
  void Run(const Job& job);
  void Prune(const BuildRequest& request);
  // Removes every build record, artefact and log of a Function.
  void RemoveBuilds(const std::string& ns, const std::string& function);
  std::string Key(const std::string& ns, const std::string& function) const { return ns + "/" + function; }

  store::Store* store_;
  Clock* clock_;
  BuildOptions options_;
  std::function<void()> changed_;
  ImageMaker image_maker_;  // under mu_
  ImageSource image_source_;  // under mu_

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  std::map<std::string, FunctionBuilds> functions_;
  std::set<std::string> forgotten_;  // "ns/function" whose builds are to be removed
  std::string running_;  // "ns/function" of the running build
  // The running job is a build asked for (not a revision controller's
  // poll): until its record exists, the Function's newest record is an
  // older one, and the build counts as waiting.
  bool running_asked_ = false;
  std::atomic<bool> cancel_{false};
  std::atomic<bool> stopping_{false};  // the Builder is going: a cut build is Interrupted
  bool stop_ = false;
  std::thread thread_;
  std::thread ticker_;
};

// Parses a build record's artefact (its status JSON's "output").
std::optional<BuildOutput> OutputOfRecord(const std::string& name, const std::string& status_json);
// The JSON a revision spec carries for a build output ("buildOutput").
std::string OutputJson(const BuildOutput& out);

}  // namespace ofn::build

#endif  // LIBOFN_BUILD_BUILDER_H_
