// Store: durable state of a Platform, in SQLite (WAL mode).
//
// Objects are keyed by (kind, namespace, name) and carry Kubernetes-style
// metadata: uid, generation (bumped only when the spec changes), a store-wide
// resourceVersion (bumped on every write), labels, annotations, finalizers and
// a deletion timestamp. Writes with a stale resourceVersion fail with
// Conflict. Watchers get every change in commit order. Tables for revisions,
// builds and event offsets live beside the objects.
//
// Thread-safe: one Store may be used from any number of threads.
#ifndef LIBOFN_STORE_STORE_H_
#define LIBOFN_STORE_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "libofn/common/clock.h"
#include "libofn/common/status.h"

namespace ofn::store {

// One stored object. JSON fields hold JSON text.
struct Record {
  std::string kind;
  std::string ns;  // empty for cluster-scoped kinds
  std::string name;
  std::string api_version;
  std::string uid;                 // set by the store on create
  int64_t generation = 0;          // 1 on create; +1 on each spec change
  int64_t resource_version = 0;    // the store's counter at the last write
  std::string spec = "{}";
  std::string status = "{}";
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::vector<std::string> finalizers;
  int64_t creation_time = 0;  // unix nanoseconds, from the store's Clock
  int64_t deletion_time = 0;  // unix nanoseconds; 0 while not being deleted
};

// Where an object is and how new it is: what a caller that keeps what it
// made of each object needs to see what changed (Store::ListVersions).
struct ObjectVersion {
  std::string ns, name;
  int64_t resource_version = 0;
  int64_t deletion_time = 0;
};

enum class EventType { kAdded, kModified, kDeleted };
std::string_view EventTypeName(EventType t);

struct WatchEvent {
  EventType type;
  Record record;  // for kDeleted, the last state, with the deleting resourceVersion
};

// An immutable revision of a Function's serving part.
struct RevisionRecord {
  std::string ns;
  std::string function;
  std::string name;       // "<function>-00001"
  int64_t number = 0;     // 1, 2, ...
  std::string spec = "{}";
  std::string spec_hash;
  std::string status = "{}";
  int64_t creation_time = 0;
};

struct BuildRecord {
  std::string ns;
  std::string function;
  std::string name;
  std::string state;        // Building, Succeeded, Failed, ...
  std::string source_hash;  // what was built
  std::string image;        // what it produced
  std::string status = "{}";
  int64_t started = 0;
  int64_t finished = 0;
};

class Store;

// The operations of one transaction. Valid only inside Store::Transact.
class Transaction {
 public:
  Result<Record> Get(std::string_view kind, std::string_view ns, std::string_view name);
  Result<std::vector<Record>> List(std::string_view kind, std::string_view ns = {});
  // Fails with AlreadyExists when the object exists.
  Result<Record> Create(const Record& r);
  // Replaces labels, annotations, finalizers and spec; keeps status. When
  // r.resource_version is not 0 it must equal the stored one (else Conflict).
  Result<Record> Update(const Record& r);
  // Create or Update.
  Result<Record> Apply(const Record& r);
  Result<Record> UpdateStatus(std::string_view kind, std::string_view ns, std::string_view name,
                              std::string_view status_json, int64_t expected_rv = 0);
  // Without finalizers the object goes; with finalizers it gets a deletion
  // time and stays until an Update removes the last finalizer.
  Status Delete(std::string_view kind, std::string_view ns, std::string_view name,
                int64_t expected_rv = 0);

  Status PutRevision(const RevisionRecord& r);
  Result<RevisionRecord> GetRevision(std::string_view ns, std::string_view name);
  Result<std::vector<RevisionRecord>> ListRevisions(std::string_view ns, std::string_view function);
  Status DeleteRevision(std::string_view ns, std::string_view name);

  Status PutBuild(const BuildRecord& b);
  // A Function's builds, oldest first; `function` empty: every build of
  // the namespace; `ns` empty too: every build.
  Result<std::vector<BuildRecord>> ListBuilds(std::string_view ns, std::string_view function);
  Status DeleteBuild(std::string_view ns, std::string_view name);

  Status SetOffset(std::string_view source, std::string_view offset);
  Result<std::string> GetOffset(std::string_view source);

 private:
  friend class Store;
  explicit Transaction(Store* store) : store_(store) {}
  Store* store_;
};

class Store {
 public:
  struct Options {
    Clock* clock = nullptr;  // default: Clock::System(); must outlive the Store
    // FULL survives power loss; NORMAL survives a crash of the process only.
    bool synchronous_full = true;
  };

  // Opens (creating if needed) the database at `path` and migrates it to the
  // current schema. Fails with FailedPrecondition on a newer schema.
  static Result<std::unique_ptr<Store>> Open(const std::string& path, const Options& options);
  static Result<std::unique_ptr<Store>> Open(const std::string& path) { return Open(path, Options()); }
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Runs `fn` in one transaction: everything it did commits when it returns OK
  // and is rolled back otherwise. Watch events go out after the commit.
  Status Transact(const std::function<Status(Transaction&)>& fn);

  // A Function's revisions, oldest (lowest number) first.
  Result<std::vector<RevisionRecord>> ListRevisions(std::string_view ns, std::string_view function);
  // Builds as Transaction::ListBuilds lists them.
  Result<std::vector<BuildRecord>> ListBuilds(std::string_view ns, std::string_view function);

  // Single-operation shortcuts (each is its own transaction).
  Result<Record> Get(std::string_view kind, std::string_view ns, std::string_view name);
  Result<std::vector<Record>> List(std::string_view kind, std::string_view ns = {});
  // The same objects, in the same order, handed to `visit` one at a time
  // (the same Record, refilled: what a summary needs without a list of
  // them), each with its spec left "{}" (not read). `visit` runs under the
  // store's lock: it must not call the store.
  Status ScanWithoutSpec(std::string_view kind, std::string_view ns, const std::function<void(const Record&)>& visit);
  // The same objects, in the same order, without their content.
  Result<std::vector<ObjectVersion>> ListVersions(std::string_view kind, std::string_view ns = {});
  Result<Record> Create(const Record& r);
  Result<Record> Update(const Record& r);
  Result<Record> Apply(const Record& r);
  Result<Record> UpdateStatus(std::string_view kind, std::string_view ns, std::string_view name,
                              std::string_view status_json, int64_t expected_rv = 0);
  Status Delete(std::string_view kind, std::string_view ns, std::string_view name,
                int64_t expected_rv = 0);

  using WatchFn = std::function<void(const WatchEvent&)>;
  // Calls `fn` for every later change of `kind` (empty: every kind), in
  // commit order, on the committing thread. `fn` may call the Store. Returns
  // an id for Unwatch.
  int64_t Watch(std::string kind, WatchFn fn);
  void Unwatch(int64_t id);

  int64_t resource_version();  // the last committed resourceVersion
  int schema_version();
  static int LatestSchemaVersion();
  // PRAGMA integrity_check; OK when it reports "ok".
  Status IntegrityCheck();

 private:
  friend class Transaction;
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ofn::store

#endif  // LIBOFN_STORE_STORE_H_
