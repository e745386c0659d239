#include "store/migrations.h"

namespace shardd::store {

// Conventions: integer ids are BIGINT, money is BIGINT minor units, text keys
// are VARCHAR with an explicit length (MySQL indexes need one), timestamps are
// BIGINT Unix milliseconds (same in both dialects), JSON/MessagePack payloads
// are BLOB (SQLite) / LONGBLOB (MySQL). MySQL tables are InnoDB utf8mb4.
const std::vector<Migration>& all_migrations() {
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
      {2, "accounts and login tokens",
       R"sql(
CREATE TABLE accounts (
  id               INTEGER      PRIMARY KEY AUTOINCREMENT,
  username         VARCHAR(24)  NOT NULL,
  username_lc      VARCHAR(24)  NOT NULL UNIQUE,
  pw_hash          VARCHAR(255) NOT NULL,
  created_ms       BIGINT       NOT NULL,
  last_login_ms    BIGINT,
  last_zone        VARCHAR(32),
  banned_until_ms  BIGINT,
  ban_reason       VARCHAR(255)
);
CREATE TABLE auth_tokens (
  token_hash  CHAR(64)  NOT NULL PRIMARY KEY,
  account_id  BIGINT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
  created_ms  BIGINT    NOT NULL,
  expires_ms  BIGINT    NOT NULL,
  revoked     INTEGER   NOT NULL DEFAULT 0
);
CREATE INDEX auth_tokens_account ON auth_tokens (account_id);
)sql",
       R"sql(
CREATE TABLE accounts (
  id               BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
  username         VARCHAR(24)  NOT NULL,
  username_lc      VARCHAR(24)  NOT NULL,
  pw_hash          VARCHAR(255) NOT NULL,
  created_ms       BIGINT       NOT NULL,
  last_login_ms    BIGINT,
  last_zone        VARCHAR(32),
  banned_until_ms  BIGINT,
  ban_reason       VARCHAR(255),
  UNIQUE KEY accounts_username_lc (username_lc)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE auth_tokens (
  token_hash  CHAR(64)  NOT NULL PRIMARY KEY,
  account_id  BIGINT    NOT NULL,
  created_ms  BIGINT    NOT NULL,
  expires_ms  BIGINT    NOT NULL,
  revoked     INT       NOT NULL DEFAULT 0,
  KEY auth_tokens_account (account_id),
  CONSTRAINT auth_tokens_account_fk FOREIGN KEY (account_id) REFERENCES accounts (id)
    ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
)sql"},
      {3, "display names, account deletion",
       R"sql(
ALTER TABLE accounts ADD COLUMN display_name VARCHAR(24);
ALTER TABLE accounts ADD COLUMN display_name_lc VARCHAR(24);
ALTER TABLE accounts ADD COLUMN display_name_changed_ms BIGINT;
ALTER TABLE accounts ADD COLUMN deleted_ms BIGINT;
UPDATE accounts SET display_name = username, display_name_lc = username_lc;
CREATE UNIQUE INDEX accounts_display_name_lc ON accounts (display_name_lc);
CREATE INDEX accounts_banned_until ON accounts (banned_until_ms);
)sql",
       ""},
  };
  return list;
}

}  // namespace shardd::store
