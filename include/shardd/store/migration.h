#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace shardd::store {

// One schema change of one module. Modules number their own migrations
// 1, 2, 3 ... independently; the store records each as (module, version) in
// `schema_versions`, so several services add tables without sharing one
// sequence. `sqlite` and `mysql` are trusted DDL scripts (several statements
// allowed); `mysql` empty means the SQLite text works for both.
//
// Append only: a released migration never changes. Modules are migrated in
// the order the app lists them (the store's own first), each module's
// versions ascending, so a module may reference the tables of modules
// listed before it.
struct Migration {
  int version;
  std::string_view name;
  std::string_view sqlite;
  std::string_view mysql;
};

struct ModuleMigrations {
  std::string module;
  std::vector<Migration> migrations;
};

}  // namespace shardd::store
