#include "migrations.h"

namespace shardd::account {

// The account module's schema (module "account" in schema_versions). Same
// conventions as the store's: BIGINT ids and Unix-millisecond timestamps,
// VARCHAR keys with explicit lengths, InnoDB utf8mb4 on MySQL.
// Append only: a released migration never changes.
const std::vector<store::Migration>& migrations() {
  static const std::vector<store::Migration> list = {
      {1, "accounts and login tokens",
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
      {2, "display names, account deletion",
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

}  // namespace shardd::account
