#pragma once

// Private to the store module: the numbered schema migrations.

#include <string_view>
#include <vector>

namespace shardd::store {

// One schema change. `sqlite` and `mysql` are trusted DDL scripts (several
// statements allowed); `mysql` empty means the SQLite text works for both.
struct Migration {
  int version;
  std::string_view name;
  std::string_view sqlite;
  std::string_view mysql;
};

// Every migration, ascending by version. Append only: a released migration
// never changes.
const std::vector<Migration>& all_migrations();

}  // namespace shardd::store
