// The store's schema, as an ordered list of migrations. Migration N takes a
// database at user_version N-1 to N; each runs in its own transaction. Never
// edit a landed migration: add a new one.
#include "libofn/store/internal/migrations.h"

namespace ofn::store::internal {

const std::vector<std::string_view>& Migrations() {
  static const std::vector<std::string_view> kMigrations = {
      // 1: objects, revisions, builds.
      R"sql(
        CREATE TABLE meta (
          key   TEXT PRIMARY KEY,
          value INTEGER NOT NULL
        );
        INSERT INTO meta (key, value) VALUES ('resource_version', 0);
        CREATE TABLE objects (
          kind             TEXT NOT NULL,
          namespace        TEXT NOT NULL,
          name             TEXT NOT NULL,
          api_version      TEXT NOT NULL,
          uid              TEXT NOT NULL UNIQUE,
          generation       INTEGER NOT NULL,
          resource_version INTEGER NOT NULL,
          spec             TEXT NOT NULL,
          status           TEXT NOT NULL,
          labels           TEXT NOT NULL,
          annotations      TEXT NOT NULL,
          finalizers       TEXT NOT NULL,
          creation_time    INTEGER NOT NULL,
          deletion_time    INTEGER NOT NULL DEFAULT 0,
          PRIMARY KEY (kind, namespace, name)
        ) WITHOUT ROWID;
        CREATE TABLE revisions (
          namespace     TEXT NOT NULL,
          function      TEXT NOT NULL,
          name          TEXT NOT NULL,
          number        INTEGER NOT NULL,
          spec          TEXT NOT NULL,
          spec_hash     TEXT NOT NULL,
          status        TEXT NOT NULL,
          creation_time INTEGER NOT NULL,
          PRIMARY KEY (namespace, name)
        ) WITHOUT ROWID;
        CREATE UNIQUE INDEX revisions_by_function ON revisions (namespace, function, number);
        CREATE TABLE builds (
          namespace   TEXT NOT NULL,
          function    TEXT NOT NULL,
          name        TEXT NOT NULL,
          state       TEXT NOT NULL,
          source_hash TEXT NOT NULL,
          image       TEXT NOT NULL,
          status      TEXT NOT NULL,
          started     INTEGER NOT NULL,
          finished    INTEGER NOT NULL,
          PRIMARY KEY (namespace, name)
        ) WITHOUT ROWID;
        CREATE INDEX builds_by_function ON builds (namespace, function, started);
      )sql",
      // 2: positions of event sources (so a restart resumes where it stopped).
      R"sql(
        CREATE TABLE event_offsets (
          source     TEXT PRIMARY KEY,
          "offset"   TEXT NOT NULL
        ) WITHOUT ROWID;
      )sql",
      // 3: objects and revisions as rowid tables. An object's row (its spec
      // and status, about 1-2 KB for a Function) is larger than what a
      // WITHOUT ROWID page keeps in place (about 1 KB of 4 KB), so every
      // row spilled to an overflow page: two pages read and written per
      // object. A rowid table keeps rows of up to about 4 KB in place.
      R"sql(
        CREATE TABLE objects_v3 (
          kind             TEXT NOT NULL,
          namespace        TEXT NOT NULL,
          name             TEXT NOT NULL,
          api_version      TEXT NOT NULL,
          uid              TEXT NOT NULL UNIQUE,
          generation       INTEGER NOT NULL,
          resource_version INTEGER NOT NULL,
          spec             TEXT NOT NULL,
          status           TEXT NOT NULL,
          labels           TEXT NOT NULL,
          annotations      TEXT NOT NULL,
          finalizers       TEXT NOT NULL,
          creation_time    INTEGER NOT NULL,
          deletion_time    INTEGER NOT NULL DEFAULT 0,
          PRIMARY KEY (kind, namespace, name)
        );
        INSERT INTO objects_v3 (kind, namespace, name, api_version, uid, generation, resource_version, spec,
                                status, labels, annotations, finalizers, creation_time, deletion_time)
          SELECT kind, namespace, name, api_version, uid, generation, resource_version, spec, status, labels,
                 annotations, finalizers, creation_time, deletion_time
          FROM objects ORDER BY kind, namespace, name;
        DROP TABLE objects;
        ALTER TABLE objects_v3 RENAME TO objects;
        CREATE TABLE revisions_v3 (
          namespace     TEXT NOT NULL,
          function      TEXT NOT NULL,
          name          TEXT NOT NULL,
          number        INTEGER NOT NULL,
          spec          TEXT NOT NULL,
          spec_hash     TEXT NOT NULL,
          status        TEXT NOT NULL,
          creation_time INTEGER NOT NULL,
          PRIMARY KEY (namespace, name)
        );
        INSERT INTO revisions_v3 (namespace, function, name, number, spec, spec_hash, status, creation_time)
          SELECT namespace, function, name, number, spec, spec_hash, status, creation_time
          FROM revisions ORDER BY namespace, name;
        DROP TABLE revisions;
        ALTER TABLE revisions_v3 RENAME TO revisions;
        CREATE UNIQUE INDEX revisions_by_function ON revisions (namespace, function, number);
      )sql",
  };
  return kMigrations;
}

}  // namespace ofn::store::internal
