#include "migrations.h"

namespace shardd::social {

// The social module's schema (module "social"). Rows refer to accounts by id;
// accounts are never removed (account.delete anonymizes the row), so the
// references stay valid. A friendship is two rows, one per direction, so each
// side's list is one index range. Append only.
const std::vector<store::Migration>& migrations() {
  static const std::vector<store::Migration> list = {
      {1, "friends, friend requests, blocks, last seen",
       R"sql(
CREATE TABLE social_friends (
  account_id  BIGINT  NOT NULL REFERENCES accounts (id),
  friend_id   BIGINT  NOT NULL REFERENCES accounts (id),
  since_ms    BIGINT  NOT NULL,
  PRIMARY KEY (account_id, friend_id)
);
CREATE TABLE social_friend_requests (
  from_id     BIGINT  NOT NULL REFERENCES accounts (id),
  to_id       BIGINT  NOT NULL REFERENCES accounts (id),
  created_ms  BIGINT  NOT NULL,
  PRIMARY KEY (from_id, to_id)
);
CREATE INDEX social_friend_requests_to ON social_friend_requests (to_id);
CREATE TABLE social_blocks (
  account_id  BIGINT  NOT NULL REFERENCES accounts (id),
  blocked_id  BIGINT  NOT NULL REFERENCES accounts (id),
  created_ms  BIGINT  NOT NULL,
  PRIMARY KEY (account_id, blocked_id)
);
CREATE INDEX social_blocks_blocked ON social_blocks (blocked_id);
CREATE TABLE social_last_seen (
  account_id  BIGINT  NOT NULL PRIMARY KEY REFERENCES accounts (id),
  seen_ms     BIGINT  NOT NULL
);
)sql",
       R"sql(
CREATE TABLE social_friends (
  account_id  BIGINT  NOT NULL,
  friend_id   BIGINT  NOT NULL,
  since_ms    BIGINT  NOT NULL,
  PRIMARY KEY (account_id, friend_id),
  CONSTRAINT social_friends_a FOREIGN KEY (account_id) REFERENCES accounts (id),
  CONSTRAINT social_friends_f FOREIGN KEY (friend_id) REFERENCES accounts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE social_friend_requests (
  from_id     BIGINT  NOT NULL,
  to_id       BIGINT  NOT NULL,
  created_ms  BIGINT  NOT NULL,
  PRIMARY KEY (from_id, to_id),
  KEY social_friend_requests_to (to_id),
  CONSTRAINT social_requests_from FOREIGN KEY (from_id) REFERENCES accounts (id),
  CONSTRAINT social_requests_to FOREIGN KEY (to_id) REFERENCES accounts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE social_blocks (
  account_id  BIGINT  NOT NULL,
  blocked_id  BIGINT  NOT NULL,
  created_ms  BIGINT  NOT NULL,
  PRIMARY KEY (account_id, blocked_id),
  KEY social_blocks_blocked (blocked_id),
  CONSTRAINT social_blocks_a FOREIGN KEY (account_id) REFERENCES accounts (id),
  CONSTRAINT social_blocks_b FOREIGN KEY (blocked_id) REFERENCES accounts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE social_last_seen (
  account_id  BIGINT  NOT NULL PRIMARY KEY,
  seen_ms     BIGINT  NOT NULL,
  CONSTRAINT social_last_seen_a FOREIGN KEY (account_id) REFERENCES accounts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
)sql"},
      {2, "guilds",
       R"sql(
CREATE TABLE social_guilds (
  id          INTEGER       PRIMARY KEY AUTOINCREMENT,
  name        VARCHAR(64)   NOT NULL,
  name_key    VARCHAR(128)  NOT NULL UNIQUE,
  tag         VARCHAR(8)    NOT NULL,
  tag_key     VARCHAR(8)    NOT NULL UNIQUE,
  motd        TEXT          NOT NULL,
  created_ms  BIGINT        NOT NULL
);
CREATE TABLE social_guild_members (
  account_id  BIGINT       NOT NULL PRIMARY KEY REFERENCES accounts (id),
  guild_id    BIGINT       NOT NULL REFERENCES social_guilds (id),
  role        VARCHAR(16)  NOT NULL,
  joined_ms   BIGINT       NOT NULL
);
CREATE INDEX social_guild_members_guild ON social_guild_members (guild_id, joined_ms);
CREATE TABLE social_guild_pending (
  guild_id    BIGINT       NOT NULL REFERENCES social_guilds (id),
  account_id  BIGINT       NOT NULL REFERENCES accounts (id),
  kind        VARCHAR(8)   NOT NULL,
  created_ms  BIGINT       NOT NULL,
  PRIMARY KEY (guild_id, account_id, kind)
);
CREATE INDEX social_guild_pending_account ON social_guild_pending (account_id);
)sql",
       R"sql(
CREATE TABLE social_guilds (
  id          BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name        VARCHAR(64)   NOT NULL,
  name_key    VARCHAR(128)  NOT NULL,
  tag         VARCHAR(8)    NOT NULL,
  tag_key     VARCHAR(8)    NOT NULL,
  motd        TEXT          NOT NULL,
  created_ms  BIGINT        NOT NULL,
  UNIQUE KEY social_guilds_name (name_key),
  UNIQUE KEY social_guilds_tag (tag_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE social_guild_members (
  account_id  BIGINT       NOT NULL PRIMARY KEY,
  guild_id    BIGINT       NOT NULL,
  role        VARCHAR(16)  NOT NULL,
  joined_ms   BIGINT       NOT NULL,
  KEY social_guild_members_guild (guild_id, joined_ms),
  CONSTRAINT social_guild_members_a FOREIGN KEY (account_id) REFERENCES accounts (id),
  CONSTRAINT social_guild_members_g FOREIGN KEY (guild_id) REFERENCES social_guilds (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE social_guild_pending (
  guild_id    BIGINT       NOT NULL,
  account_id  BIGINT       NOT NULL,
  kind        VARCHAR(8)   NOT NULL,
  created_ms  BIGINT       NOT NULL,
  PRIMARY KEY (guild_id, account_id, kind),
  KEY social_guild_pending_account (account_id),
  CONSTRAINT social_guild_pending_g FOREIGN KEY (guild_id) REFERENCES social_guilds (id),
  CONSTRAINT social_guild_pending_a FOREIGN KEY (account_id) REFERENCES accounts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
)sql"},
  };
  return list;
}

}  // namespace shardd::social
