#include "libofn/store/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "libofn/platform/apply.h"
#include "libofn/store/internal/sqlite.h"
#include "libofn/spec/object.h"
#include "tests/unit/test_util.h"

namespace ofn::store {
namespace {

using ofn::testing::TempDir;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Store::Options o;
    o.clock = &clock_;
    auto s = Store::Open(dir_.path() + "/state.db", o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  static Record Fn(const std::string& name, const std::string& spec = R"({"image":"a"})") {
    Record r;
    r.kind = "Function";
    r.ns = "default";
    r.name = name;
    r.api_version = "core.openfunction.io/v1beta2";
    r.spec = spec;
    return r;
  }

  TempDir dir_;
  ManualClock clock_;
  std::unique_ptr<Store> store_;
};

TEST_F(StoreTest, CreateGetList) {
  auto a = store_->Create(Fn("a"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->generation, 1);
  EXPECT_EQ(a->resource_version, 1);
  EXPECT_EQ(a->uid.size(), 36u);
  EXPECT_EQ(a->creation_time, clock_.Now().time_since_epoch().count());
  ASSERT_TRUE(store_->Create(Fn("b")).ok());
  auto dup = store_->Create(Fn("a"));
  EXPECT_EQ(dup.status().code(), StatusCode::kAlreadyExists);
  auto got = store_->Get("Function", "default", "a");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->uid, a->uid);
  auto list = store_->List("Function");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].name, "b");
  EXPECT_EQ(store_->Get("Function", "default", "zz").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->List("Function", "other")->size(), 0u);
}

TEST_F(StoreTest, ListVersionsSaysWhereAndHowNewWithoutContent) {
  Record other = Fn("z");
  other.ns = "other";
  ASSERT_TRUE(store_->Create(other).ok());
  ASSERT_TRUE(store_->Create(Fn("b")).ok());
  Record held = Fn("a");
  held.finalizers = {"ofn.io/cleanup"};
  ASSERT_TRUE(store_->Create(held).ok());
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_TRUE(store_->Delete("Function", "default", "a").ok());  // held: being deleted
  ASSERT_TRUE(store_->UpdateStatus("Function", "default", "b", R"({"x":1})").ok());
  auto list = store_->List("Function");
  auto versions = store_->ListVersions("Function");
  ASSERT_TRUE(list.ok() && versions.ok());
  ASSERT_EQ(versions->size(), list->size());
  for (size_t i = 0; i < list->size(); ++i) {
    EXPECT_EQ((*versions)[i].ns, (*list)[i].ns);
    EXPECT_EQ((*versions)[i].name, (*list)[i].name);
    EXPECT_EQ((*versions)[i].resource_version, (*list)[i].resource_version);
    EXPECT_EQ((*versions)[i].deletion_time, (*list)[i].deletion_time);
  }
  EXPECT_EQ((*versions)[0].name, "a");
  EXPECT_NE((*versions)[0].deletion_time, 0);
  EXPECT_EQ((*versions)[1].resource_version, 5);  // b's status write
  ASSERT_EQ(store_->ListVersions("Function", "other")->size(), 1u);
  EXPECT_TRUE(store_->ListVersions("Gateway")->empty());
}

TEST_F(StoreTest, GenerationBumpsOnSpecChangeOnly) {
  auto a = store_->Create(Fn("a", R"({"image":"a","x":1})"));
  Record r = *a;
  r.spec = R"({"x":1,"image":"a"})";  // same JSON, other order
  auto same = store_->Update(r);
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->generation, 1);
  EXPECT_EQ(same->resource_version, a->resource_version);  // nothing written
  r.labels["team"] = "x";
  r.resource_version = 0;
  auto labelled = store_->Update(r);
  EXPECT_EQ(labelled->generation, 1);
  EXPECT_GT(labelled->resource_version, a->resource_version);
  r.spec = R"({"image":"b"})";
  auto changed = store_->Update(r);
  EXPECT_EQ(changed->generation, 2);
  auto status = store_->UpdateStatus("Function", "default", "a", R"({"serving":{"state":"Running"}})");
  ASSERT_TRUE(status.ok());
  EXPECT_EQ(status->generation, 2);
  EXPECT_EQ(status->spec, R"({"image":"b"})");
  // Update keeps the status.
  r.spec = R"({"image":"c"})";
  auto kept = store_->Update(r);
  EXPECT_EQ(kept->status, R"({"serving":{"state":"Running"}})");
}

TEST_F(StoreTest, StaleResourceVersionConflicts) {
  auto a = store_->Create(Fn("a"));
  Record first = *a, second = *a;
  first.spec = R"({"image":"x"})";
  ASSERT_TRUE(store_->Update(first).ok());
  second.spec = R"({"image":"y"})";
  auto conflict = store_->Update(second);
  EXPECT_EQ(conflict.status().code(), StatusCode::kConflict);
  EXPECT_EQ(store_->Get("Function", "default", "a")->spec, R"({"image":"x"})");
  EXPECT_EQ(store_->UpdateStatus("Function", "default", "a", "{}", a->resource_version).status().code(),
            StatusCode::kConflict);
  EXPECT_EQ(store_->Delete("Function", "default", "a", a->resource_version).code(), StatusCode::kConflict);
}

TEST_F(StoreTest, InvalidJsonIsRejected) {
  EXPECT_EQ(store_->Create(Fn("a", "{not json")).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->List("Function")->size(), 0u);
}

TEST_F(StoreTest, FinalizersHoldDeletion) {
  Record r = Fn("a");
  r.finalizers = {"ofn.io/cleanup"};
  ASSERT_TRUE(store_->Create(r).ok());
  clock_.Advance(std::chrono::seconds(5));
  ASSERT_TRUE(store_->Delete("Function", "default", "a").ok());
  auto held = store_->Get("Function", "default", "a");
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(held->deletion_time, clock_.Now().time_since_epoch().count());
  Record done = *held;
  done.finalizers.clear();
  ASSERT_TRUE(store_->Update(done).ok());
  EXPECT_EQ(store_->Get("Function", "default", "a").status().code(), StatusCode::kNotFound);
}

TEST_F(StoreTest, WatchSeesEveryChangeInOrder) {
  std::vector<std::string> seen;
  int64_t id = store_->Watch("Function", [&](const WatchEvent& ev) {
    seen.push_back(std::string(EventTypeName(ev.type)) + " " + ev.record.name + " " +
                   std::to_string(ev.record.resource_version));
  });
  int other = 0;
  store_->Watch("", [&](const WatchEvent&) { ++other; });
  ASSERT_TRUE(store_->Create(Fn("a")).ok());
  Record gw = Fn("g");
  gw.kind = "Gateway";
  ASSERT_TRUE(store_->Create(gw).ok());
  ASSERT_TRUE(store_->UpdateStatus("Function", "default", "a", R"({"x":1})").ok());
  ASSERT_TRUE(store_->Delete("Function", "default", "a").ok());
  store_->Unwatch(id);
  ASSERT_TRUE(store_->Create(Fn("b")).ok());
  std::vector<std::string> want = {"ADDED a 1", "MODIFIED a 3", "DELETED a 4"};
  EXPECT_EQ(seen, want);
  EXPECT_EQ(other, 5);
}

TEST_F(StoreTest, WatcherMayWriteToTheStore) {
  std::vector<std::string> order;
  store_->Watch("Function", [&](const WatchEvent& ev) {
    order.push_back(ev.record.name);
    if (ev.record.name == "a" && ev.type == EventType::kAdded) {
      ASSERT_TRUE(store_->UpdateStatus("Function", "default", "a", R"({"seen":true})").ok());
    }
  });
  ASSERT_TRUE(store_->Create(Fn("a")).ok());
  EXPECT_EQ(order.size(), 2u);  // ADDED, then the watcher's own MODIFIED
}

TEST_F(StoreTest, TransactionIsAllOrNothing) {
  std::vector<WatchEvent> events;
  store_->Watch("", [&](const WatchEvent& ev) { events.push_back(ev); });
  Status st = store_->Transact([&](Transaction& t) -> Status {
    OFN_RETURN_IF_ERROR(t.Create(Fn("a")).status());
    OFN_RETURN_IF_ERROR(t.Create(Fn("b")).status());
    return t.Create(Fn("a")).status();  // AlreadyExists: rolls everything back
  });
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->List("Function")->size(), 0u);
  EXPECT_TRUE(events.empty());
  EXPECT_EQ(store_->resource_version(), 0);
  ASSERT_TRUE(store_->Transact([&](Transaction& t) -> Status {
    OFN_RETURN_IF_ERROR(t.Create(Fn("a")).status());
    return t.Create(Fn("b")).status();
  }).ok());
  EXPECT_EQ(store_->List("Function")->size(), 2u);
  EXPECT_EQ(events.size(), 2u);
}

TEST_F(StoreTest, RevisionsBuildsAndOffsets) {
  ASSERT_TRUE(store_->Transact([&](Transaction& t) -> Status {
    for (int i = 1; i <= 3; ++i) {
      RevisionRecord r{"default", "hello", "hello-0000" + std::to_string(i), i, R"({"image":"x"})",
                       "h" + std::to_string(i), "{}", 0};
      OFN_RETURN_IF_ERROR(t.PutRevision(r));
    }
    OFN_RETURN_IF_ERROR(t.DeleteRevision("default", "hello-00001"));
    OFN_RETURN_IF_ERROR(t.PutBuild(BuildRecord{"default", "hello", "hello-build-1", "Succeeded", "src",
                                               "img", "{}", 10, 20}));
    OFN_RETURN_IF_ERROR(t.SetOffset("kafka/default/s", "42"));
    OFN_ASSIGN_OR_RETURN(auto revs, t.ListRevisions("default", "hello"));
    EXPECT_EQ(revs.size(), 2u);
    EXPECT_EQ(revs[0].name, "hello-00002");
    OFN_ASSIGN_OR_RETURN(auto rev, t.GetRevision("default", "hello-00003"));
    EXPECT_EQ(rev.spec_hash, "h3");
    EXPECT_EQ(t.GetRevision("default", "hello-00001").status().code(), StatusCode::kNotFound);
    OFN_ASSIGN_OR_RETURN(auto builds, t.ListBuilds("default", "hello"));
    EXPECT_EQ(builds.size(), 1u);
    OFN_ASSIGN_OR_RETURN(std::string off, t.GetOffset("kafka/default/s"));
    EXPECT_EQ(off, "42");
    return Status();
  }).ok());
}

TEST_F(StoreTest, AScanWithoutSpecsHandsOverEachObjectInOrderWithItsOwnFields) {
  Record a = Fn("a", R"({"image":"a-long-image-name-that-does-not-fit-in-place"})");
  a.labels = {{"team", "x"}, {"tier", "web"}};
  a.finalizers = {"keep"};
  ASSERT_TRUE(store_->Create(a).ok());
  ASSERT_TRUE(store_->UpdateStatus("Function", "default", "a", R"({"serving":{"state":"Running"}})").ok());
  ASSERT_TRUE(store_->Create(Fn("b")).ok());
  Record other = Fn("c");
  other.ns = "elsewhere";
  ASSERT_TRUE(store_->Create(other).ok());
  std::vector<Record> seen;
  ASSERT_TRUE(store_->ScanWithoutSpec("Function", "default", [&](const Record& r) { seen.push_back(r); }).ok());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].name, "a");
  EXPECT_EQ(seen[0].spec, "{}");  // not read
  EXPECT_EQ(seen[0].status, R"({"serving":{"state":"Running"}})");
  EXPECT_EQ(seen[0].labels.size(), 2u);
  EXPECT_EQ(seen[0].finalizers, std::vector<std::string>{"keep"});
  // The second row refills the same Record: nothing of the first is left.
  EXPECT_EQ(seen[1].name, "b");
  EXPECT_EQ(seen[1].status, "{}");
  EXPECT_TRUE(seen[1].labels.empty());
  EXPECT_TRUE(seen[1].finalizers.empty());
  EXPECT_EQ(seen[1].uid, store_->Get("Function", "default", "b")->uid);
  std::vector<std::string> everywhere;
  ASSERT_TRUE(store_->ScanWithoutSpec("Function", "", [&](const Record& r) { everywhere.push_back(r.ns + "/" + r.name); })
                  .ok());
  EXPECT_EQ(everywhere, (std::vector<std::string>{"default/a", "default/b", "elsewhere/c"}));
}

TEST_F(StoreTest, ReopenKeepsEverythingAndSchemaIsCurrent) {
  ASSERT_TRUE(store_->Create(Fn("a")).ok());
  EXPECT_EQ(store_->schema_version(), Store::LatestSchemaVersion());
  store_.reset();
  auto again = Store::Open(dir_.path() + "/state.db");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE((*again)->Get("Function", "default", "a").ok());
  EXPECT_EQ((*again)->resource_version(), 1);
  EXPECT_TRUE((*again)->IntegrityCheck().ok());
}

TEST(StoreMigrationTest, OldSchemaIsMigratedWithItsContentAndNewerIsRefused) {
  TempDir dir;
  std::string path = dir.path() + "/old.db";
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  // A version-1 database as the first migration made it (WITHOUT ROWID
  // objects and revisions, no event_offsets), with an object whose row is
  // larger than a WITHOUT ROWID page keeps in place, and its revision.
  const std::string big(3000, 'x');
  const std::string v1 =
      "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
      "INSERT INTO meta VALUES ('resource_version', 7);"
      "CREATE TABLE objects (kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT "
      "NULL, api_version TEXT NOT NULL, uid TEXT NOT NULL UNIQUE, generation INTEGER NOT "
      "NULL, resource_version INTEGER NOT NULL, spec TEXT NOT NULL, status TEXT NOT NULL, "
      "labels TEXT NOT NULL, annotations TEXT NOT NULL, finalizers TEXT NOT NULL, "
      "creation_time INTEGER NOT NULL, deletion_time INTEGER NOT NULL DEFAULT 0, PRIMARY "
      "KEY (kind, namespace, name)) WITHOUT ROWID;"
      "CREATE TABLE revisions (namespace TEXT NOT NULL, function TEXT NOT NULL, name TEXT NOT NULL, "
      "number INTEGER NOT NULL, spec TEXT NOT NULL, spec_hash TEXT NOT NULL, status TEXT NOT NULL, "
      "creation_time INTEGER NOT NULL, PRIMARY KEY (namespace, name)) WITHOUT ROWID;"
      "CREATE UNIQUE INDEX revisions_by_function ON revisions (namespace, function, number);"
      "CREATE TABLE builds (namespace TEXT NOT NULL, function TEXT NOT NULL, name TEXT NOT NULL, "
      "state TEXT NOT NULL, source_hash TEXT NOT NULL, image TEXT NOT NULL, status TEXT NOT NULL, "
      "started INTEGER NOT NULL, finished INTEGER NOT NULL, PRIMARY KEY (namespace, name)) WITHOUT ROWID;"
      "CREATE INDEX builds_by_function ON builds (namespace, function, started);"
      "INSERT INTO objects VALUES ('Function', 'default', 'a', 'core.openfunction.io/v1beta2', 'u-1', 2, 7, "
      "'{\"image\":\"" + big + "\"}', '{\"serving\":{\"state\":\"Running\"}}', '{\"team\":\"x\"}', "
      "'{}', '[\"f\"]', 11, 0);"
      "INSERT INTO revisions VALUES ('default', 'a', 'a-00001', 1, '{\"image\":\"" + big + "\"}', 'h1', '{}', 12);"
      "PRAGMA user_version = 1;";
  ASSERT_EQ(sqlite3_exec(db, v1.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  sqlite3_close(db);
  {
    auto s = Store::Open(path);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    EXPECT_EQ((*s)->schema_version(), Store::LatestSchemaVersion());
    EXPECT_TRUE((*s)->Transact([](Transaction& t) { return t.SetOffset("x", "1"); }).ok());
    auto a = (*s)->Get("Function", "default", "a");
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(a->uid, "u-1");
    EXPECT_EQ(a->generation, 2);
    EXPECT_EQ(a->resource_version, 7);
    EXPECT_EQ(a->spec, "{\"image\":\"" + big + "\"}");
    EXPECT_EQ(a->status, "{\"serving\":{\"state\":\"Running\"}}");
    EXPECT_EQ(a->labels, (std::map<std::string, std::string>{{"team", "x"}}));
    EXPECT_EQ(a->finalizers, std::vector<std::string>{"f"});
    EXPECT_EQ(a->creation_time, 11);
    std::vector<Record> scanned;
    ASSERT_TRUE((*s)->ScanWithoutSpec("Function", "default", [&](const Record& r) { scanned.push_back(r); }).ok());
    ASSERT_EQ(scanned.size(), 1u);
    EXPECT_EQ(scanned[0].spec, "{}");
    EXPECT_EQ(scanned[0].status, a->status);
    auto revs = (*s)->ListRevisions("default", "a");
    ASSERT_TRUE(revs.ok());
    ASSERT_EQ(revs->size(), 1u);
    EXPECT_EQ((*revs)[0].name, "a-00001");
    EXPECT_EQ((*revs)[0].spec_hash, "h1");
    // The next write continues the old counter.
    Record b;
    b.kind = "Function";
    b.ns = "default";
    b.name = "b";
    b.api_version = "core.openfunction.io/v1beta2";
    ASSERT_TRUE((*s)->Create(b).ok());
    EXPECT_EQ((*s)->resource_version(), 8);
    EXPECT_TRUE((*s)->IntegrityCheck().ok());
  }
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  // Objects and revisions are rowid tables now (their rows stay in place).
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_schema WHERE name IN ('objects', 'revisions')", -1, &st,
                               nullptr),
            SQLITE_OK);
  int tables = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    ++tables;
    const std::string sql = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    EXPECT_EQ(sql.find("WITHOUT ROWID"), std::string::npos) << sql;
  }
  sqlite3_finalize(st);
  EXPECT_EQ(tables, 2);
  // The revisions' index by number came along.
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT tbl_name FROM sqlite_schema WHERE name = 'revisions_by_function'", -1,
                               &st, nullptr),
            SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "revisions");
  sqlite3_finalize(st);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto newer = Store::Open(path);
  EXPECT_EQ(newer.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(StoreTest, ApplyObjectsIsAllOrNothing) {
  auto good = spec::ParseManifests(
      "apiVersion: core.openfunction.io/v1beta2\nkind: Function\nmetadata:\n  name: a\n"
      "  labels: {team: x}\nspec: {image: img, serving: {}}\n",
      "a.yaml");
  ASSERT_TRUE(good.ok());
  auto applied = platform::ApplyObjects(*store_, good.objects);
  ASSERT_TRUE(applied.ok());
  EXPECT_EQ((*applied)[0].labels.at("team"), "x");
  EXPECT_NE((*applied)[0].spec.find("\"port\":8080"), std::string::npos);
  int64_t rv = store_->resource_version();
  // A batch whose second object cannot be written changes nothing.
  std::vector<spec::Object> batch = good.objects;
  batch.push_back(good.objects[0]);
  Status st = store_->Transact([&](Transaction& t) -> Status {
    for (const auto& o : batch) OFN_RETURN_IF_ERROR(t.Create(platform::ToRecord(o)).status());
    return Status();
  });
  EXPECT_EQ(st.code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->resource_version(), rv);
}

// Statements are kept per connection and SQL text; one whose kept copy is
// still stepping is prepared afresh, and each sees its own bindings.
TEST(StatementTest, TheSameSqlTwiceAtOnceAndAgainAfter) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(":memory:", &db), SQLITE_OK);
  ASSERT_TRUE(internal::Exec(db, "CREATE TABLE t (k INTEGER); INSERT INTO t VALUES (1), (2), (3)").ok());
  const std::string sql = "SELECT k FROM t WHERE k >= ? ORDER BY k";
  {
    internal::Statement outer(db, sql);
    outer.Bind(1, int64_t{2});
    ASSERT_TRUE(outer.Step());
    EXPECT_EQ(outer.Int(0), 2);
    internal::Statement inner(db, sql);  // while outer is stepping
    inner.Bind(1, int64_t{1});
    ASSERT_TRUE(inner.Step());
    EXPECT_EQ(inner.Int(0), 1);
    ASSERT_TRUE(outer.Step());
    EXPECT_EQ(outer.Int(0), 3);
    EXPECT_FALSE(outer.Step());
  }
  for (int round = 0; round < 2; ++round) {  // the kept one, reset and unbound
    internal::Statement again(db, sql);
    again.Bind(1, int64_t{3});
    ASSERT_TRUE(again.Step());
    EXPECT_EQ(again.Int(0), 3);
    EXPECT_FALSE(again.Step());
    EXPECT_TRUE(again.status().ok());
  }
  internal::ForgetStatements(db);
  EXPECT_EQ(sqlite3_close(db), SQLITE_OK);  // nothing left unfinalized
}

}  // namespace
}  // namespace ofn::store
