#include "migrations.h"

namespace shardd::chat {

// The chat module's schema (module "chat"). Message ids come from the
// service (increasing per channel), not from the database, so a batch of
// messages is written in one statement per row without a round trip for
// its id. `channel` is the storage key: "world", "zone:<id>", "c:<name>",
// "w:<low id>:<high id>" for the whispers between two accounts, "system".
// Append only.
const std::vector<store::Migration>& migrations() {
  static const std::vector<store::Migration> list = {
      {1, "chat messages, offline whispers, channels, mutes, audit",
       R"sql(
CREATE TABLE chat_messages (
  id           BIGINT       NOT NULL PRIMARY KEY,
  channel      VARCHAR(64)  NOT NULL,
  sender_id    BIGINT       NOT NULL,
  sender_name  VARCHAR(64)  NOT NULL,
  recipient_id BIGINT       NOT NULL DEFAULT 0,
  body         TEXT         NOT NULL,
  ts           BIGINT       NOT NULL,
  deleted      INTEGER      NOT NULL DEFAULT 0
);
CREATE INDEX chat_messages_channel ON chat_messages (channel, id);
CREATE INDEX chat_messages_ts ON chat_messages (ts);
CREATE TABLE chat_offline (
  recipient_id BIGINT  NOT NULL,
  message_id   BIGINT  NOT NULL,
  ts           BIGINT  NOT NULL,
  PRIMARY KEY (recipient_id, message_id)
);
CREATE TABLE chat_joined (
  account_id  BIGINT       NOT NULL,
  channel     VARCHAR(32)  NOT NULL,
  joined_ms   BIGINT       NOT NULL,
  PRIMARY KEY (account_id, channel)
);
CREATE TABLE chat_mutes (
  account_id  BIGINT        NOT NULL,
  channel     VARCHAR(64)   NOT NULL,
  until_ms    BIGINT        NOT NULL,
  reason      VARCHAR(255)  NOT NULL,
  PRIMARY KEY (account_id, channel)
);
CREATE TABLE chat_frozen (
  channel    VARCHAR(64)  NOT NULL PRIMARY KEY,
  since_ms   BIGINT       NOT NULL
);
CREATE TABLE chat_audit (
  id      INTEGER       PRIMARY KEY AUTOINCREMENT,
  ts      BIGINT        NOT NULL,
  action  VARCHAR(32)   NOT NULL,
  target  VARCHAR(128)  NOT NULL,
  detail  TEXT          NOT NULL
);
)sql",
       R"sql(
CREATE TABLE chat_messages (
  id           BIGINT       NOT NULL PRIMARY KEY,
  channel      VARCHAR(64)  NOT NULL,
  sender_id    BIGINT       NOT NULL,
  sender_name  VARCHAR(64)  NOT NULL,
  recipient_id BIGINT       NOT NULL DEFAULT 0,
  body         TEXT         NOT NULL,
  ts           BIGINT       NOT NULL,
  deleted      INT          NOT NULL DEFAULT 0,
  KEY chat_messages_channel (channel, id),
  KEY chat_messages_ts (ts)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE chat_offline (
  recipient_id BIGINT  NOT NULL,
  message_id   BIGINT  NOT NULL,
  ts           BIGINT  NOT NULL,
  PRIMARY KEY (recipient_id, message_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE chat_joined (
  account_id  BIGINT       NOT NULL,
  channel     VARCHAR(32)  NOT NULL,
  joined_ms   BIGINT       NOT NULL,
  PRIMARY KEY (account_id, channel)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE chat_mutes (
  account_id  BIGINT        NOT NULL,
  channel     VARCHAR(64)   NOT NULL,
  until_ms    BIGINT        NOT NULL,
  reason      VARCHAR(255)  NOT NULL,
  PRIMARY KEY (account_id, channel)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE chat_frozen (
  channel    VARCHAR(64)  NOT NULL PRIMARY KEY,
  since_ms   BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE chat_audit (
  id      BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ts      BIGINT        NOT NULL,
  action  VARCHAR(32)   NOT NULL,
  target  VARCHAR(128)  NOT NULL,
  detail  TEXT          NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
)sql"},
  };
  return list;
}

}  // namespace shardd::chat
