#include "migrations.h"

namespace shardd::store {

// Conventions: integer ids are BIGINT, money is BIGINT minor units, text keys
// are VARCHAR with an explicit length (MySQL indexes need one), timestamps are
// BIGINT Unix milliseconds (same in both dialects), JSON/MessagePack payloads
// are BLOB (SQLite) / LONGBLOB (MySQL). MySQL tables are InnoDB utf8mb4.
const std::vector<Migration>& store_migrations() {
  static const std::vector<Migration> list = {
      {1, "idempotency keys and storage objects",
       R"sql(
CREATE TABLE idempotency_keys (
  scope       VARCHAR(64)  NOT NULL,
  idem_key    VARCHAR(128) NOT NULL,
  result      BLOB         NOT NULL,
  created_ms  BIGINT       NOT NULL,
  PRIMARY KEY (scope, idem_key)
);
CREATE TABLE storage_objects (
  collection  VARCHAR(64)  NOT NULL,
  obj_key     VARCHAR(128) NOT NULL,
  owner_id    BIGINT       NOT NULL,
  value       BLOB         NOT NULL,
  version     BIGINT       NOT NULL,
  updated_ms  BIGINT       NOT NULL,
  PRIMARY KEY (collection, obj_key, owner_id)
);
CREATE INDEX storage_objects_owner ON storage_objects (owner_id);
)sql",
       R"sql(
CREATE TABLE idempotency_keys (
  scope       VARCHAR(64)  NOT NULL,
  idem_key    VARCHAR(128) NOT NULL,
  result      LONGBLOB     NOT NULL,
  created_ms  BIGINT       NOT NULL,
  PRIMARY KEY (scope, idem_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE storage_objects (
  collection  VARCHAR(64)  NOT NULL,
  obj_key     VARCHAR(128) NOT NULL,
  owner_id    BIGINT       NOT NULL,
  value       LONGBLOB     NOT NULL,
  version     BIGINT       NOT NULL,
  updated_ms  BIGINT       NOT NULL,
  PRIMARY KEY (collection, obj_key, owner_id),
  KEY storage_objects_owner (owner_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
)sql"},
  };
  return list;
}

}  // namespace shardd::store
