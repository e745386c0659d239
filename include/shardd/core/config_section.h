#pragma once

// Declared configuration sections.
//
// Every configuration key is declared once, next to the struct that holds it:
// its TOML name, type, default (the struct member's initializer), range,
// whether SIGHUP applies it live, and one line of documentation. From those
// declarations come the loader's checks (`check-config`, SIGHUP), `--set`,
// the rendering of the effective configuration, the reload diff, and the key
// table of docs/operations.md (`shardd config-keys`).
//
// Core declares its own sections (server, ws, limits, store, ...); a module
// (a service) declares the sections it owns and lists them in its
// ServiceDef, so core never knows a service's settings:
//
//   struct ChatConfig { uint32_t max_len = 500; bool filter = true; };
//   const config::Section<ChatConfig>& chat_section() {
//     static const auto s = config::Section<ChatConfig>("chat", "Chat channels")
//         .uint("max_len", &ChatConfig::max_len, 1, 4000, config::kLive, "longest message")
//         .flag("filter", &ChatConfig::filter, config::kLive, "profanity filter on");
//     return s;
//   }
//   ... const ChatConfig& c = chat_section().of(config);
//
// Thread-safety: a Section is immutable once built; of() is safe from any
// thread on a Config that is not being modified.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace shardd {

struct Config;

struct ConfigError {
  std::string key;     // dotted key, or "" for file-level problems
  std::string reason;  // human readable, names the expected type or range
};

namespace config {

enum class Kind : uint8_t {
  kBool,
  kUint,        // uint32_t
  kDouble,
  kString,      // std::string
  kStringList,  // std::vector<std::string>
  kStringMap,   // std::map<std::string, std::string>
  kTableList,   // std::vector<E>, each element a table declared by another Section
};

enum Reload : uint8_t { kRestart = 0, kLive = 1 };

class SectionBase;

// One declared key. `ref` maps the section's object to the member.
struct Key {
  std::string name;  // leaf name; "" for a section that is itself an array of tables
  Kind kind = Kind::kBool;
  double lo = 0;  // kUint/kDouble: value range; kString: length; lists/maps/tables: max entries in hi
  double hi = 0;
  std::vector<std::string> choices;      // kString (and kStringMap values): allowed values
  std::vector<std::string> map_keys;     // kStringMap: allowed keys (empty: any)
  bool live = false;
  bool secret = false;  // hidden by check-config and the reload log
  std::string doc;
  std::string range_doc;    // overrides the generated range column of the docs table
  std::string default_doc;  // overrides the generated default column
  std::function<void*(void*)> ref;
  std::function<void(void* to, const void* from)> assign;  // copies the member
  // kTableList: the element's declaration and type-erased vector access.
  const SectionBase* element = nullptr;
  std::function<size_t(const void*)> list_size;
  std::function<const void*(const void*, size_t)> list_at;
  std::function<void*(void*)> list_append;  // appends a default element, returns it
  std::function<void(void*)> list_clear;
};

// A section's checks add errors through this (key relative to the section,
// or "" for the section itself).
class Errors {
 public:
  Errors(std::string prefix, std::vector<ConfigError>* out) : prefix_(std::move(prefix)), out_(out) {}
  void add(const std::string& key, std::string reason) {
    std::string full = key.empty()                         ? prefix_
                       : prefix_.empty() || key.front() == '[' ? prefix_ + key
                                                               : prefix_ + "." + key;
    out_->push_back({std::move(full), std::move(reason)});
  }
  bool empty() const { return out_->empty(); }

 private:
  std::string prefix_;
  std::vector<ConfigError>* out_;
};

class SectionBase {
 public:
  SectionBase(std::string name, std::string doc) : name_(std::move(name)), doc_(std::move(doc)) {}
  virtual ~SectionBase() = default;
  SectionBase(const SectionBase&) = default;
  SectionBase& operator=(const SectionBase&) = delete;

  // The TOML table name ("auth"), or the array-of-tables name ("zones").
  const std::string& name() const { return name_; }
  const std::string& doc() const { return doc_; }
  const std::vector<Key>& keys() const { return keys_; }
  // "server.port"-style full name of a key.
  std::string full_key(const Key& k) const {
    return k.name.empty() ? name_ : name_.empty() ? k.name : name_ + "." + k.name;
  }

  // A new object holding the defaults.
  virtual std::shared_ptr<void> make() const = 0;
  // A copy of `obj`.
  virtual std::shared_ptr<void> clone(const void* obj) const = 0;
  // Cross-key checks after every key of the section was read (only when
  // the keys themselves were valid). `prefix` names the object in errors.
  virtual void check(const void* obj, Errors& errors) const = 0;
  // Fills in derived defaults after a successful load (e.g. the default zone).
  virtual void finish(void* obj) const = 0;

 protected:
  std::string name_;
  std::string doc_;
  std::vector<Key> keys_;
};

template <class T>
class Section final : public SectionBase {
 public:
  using Check = std::function<void(const T&, Errors&)>;

  Section(std::string name, std::string doc) : SectionBase(std::move(name), std::move(doc)) {}

  Section& flag(std::string key, bool T::*m, Reload r, std::string doc) {
    return add(std::move(key), Kind::kBool, m, 0, 0, r, std::move(doc));
  }
  Section& uint(std::string key, uint32_t T::*m, double lo, double hi, Reload r, std::string doc) {
    return add(std::move(key), Kind::kUint, m, lo, hi, r, std::move(doc));
  }
  Section& number(std::string key, double T::*m, double lo, double hi, Reload r,
                  std::string doc) {
    return add(std::move(key), Kind::kDouble, m, lo, hi, r, std::move(doc));
  }
  // A string of min_len..max_len bytes.
  Section& text(std::string key, std::string T::*m, double min_len, double max_len, Reload r,
                std::string doc) {
    return add(std::move(key), Kind::kString, m, min_len, max_len, r, std::move(doc));
  }
  Section& one_of(std::string key, std::string T::*m, std::vector<std::string> choices, Reload r,
                  std::string doc) {
    add(std::move(key), Kind::kString, m, 0, 0, r, std::move(doc));
    keys_.back().choices = std::move(choices);
    return *this;
  }
  Section& list(std::string key, std::vector<std::string> T::*m, double max_entries, Reload r,
                std::string doc) {
    return add(std::move(key), Kind::kStringList, m, 0, max_entries, r, std::move(doc));
  }
  // A table of name = value, names from `keys` (empty: any), values from `values`.
  Section& map(std::string key, std::map<std::string, std::string> T::*m,
               std::vector<std::string> keys, std::vector<std::string> values, Reload r,
               std::string doc) {
    add(std::move(key), Kind::kStringMap, m, 0, 1024, r, std::move(doc));
    keys_.back().map_keys = std::move(keys);
    keys_.back().choices = std::move(values);
    return *this;
  }
  // [[key]] tables, each declared by `element` (which must outlive this
  // section). `key` "" makes the section itself the array: [[<section>]].
  template <class E>
  Section& tables(std::string key, std::vector<E> T::*m, const Section<E>& element,
                  double max_entries, Reload r, std::string doc) {
    add(std::move(key), Kind::kTableList, m, 0, max_entries, r, std::move(doc));
    Key& k = keys_.back();
    k.element = &element;
    k.list_size = [m](const void* o) { return (static_cast<const T*>(o)->*m).size(); };
    k.list_at = [m](const void* o, size_t i) -> const void* {
      return &(static_cast<const T*>(o)->*m)[i];
    };
    k.list_append = [m](void* o) -> void* { return &(static_cast<T*>(o)->*m).emplace_back(); };
    k.list_clear = [m](void* o) { (static_cast<T*>(o)->*m).clear(); };
    return *this;
  }
  // Marks the last key secret (never printed).
  Section& secret() {
    keys_.back().secret = true;
    return *this;
  }
  // Replaces the generated range text of the last key in the docs table.
  Section& range_doc(std::string text) {
    keys_.back().range_doc = std::move(text);
    return *this;
  }
  // Replaces the generated default text of the last key in the docs table.
  Section& default_doc(std::string text) {
    keys_.back().default_doc = std::move(text);
    return *this;
  }
  Section& check(Check fn) {
    checks_.push_back(std::move(fn));
    return *this;
  }
  Section& finish_with(std::function<void(T&)> fn) {
    finishers_.push_back(std::move(fn));
    return *this;
  }

  // The loaded values of this section in `config` (the defaults if the
  // configuration was loaded without this section declared).
  const T& of(const Config& config) const;

  std::shared_ptr<void> make() const override { return std::make_shared<T>(); }
  std::shared_ptr<void> clone(const void* obj) const override {
    return std::make_shared<T>(*static_cast<const T*>(obj));
  }
  void check(const void* obj, Errors& errors) const override {
    for (const auto& fn : checks_) fn(*static_cast<const T*>(obj), errors);
  }
  void finish(void* obj) const override {
    for (const auto& fn : finishers_) fn(*static_cast<T*>(obj));
  }

 private:
  template <class M>
  Section& add(std::string key, Kind kind, M T::*m, double lo, double hi, Reload r,
               std::string doc) {
    Key k;
    k.name = std::move(key);
    k.kind = kind;
    k.lo = lo;
    k.hi = hi;
    k.live = r == kLive;
    k.doc = std::move(doc);
    k.ref = [m](void* o) -> void* { return &(static_cast<T*>(o)->*m); };
    k.assign = [m](void* to, const void* from) {
      static_cast<T*>(to)->*m = static_cast<const T*>(from)->*m;
    };
    keys_.push_back(std::move(k));
    return *this;
  }

  std::vector<Check> checks_;
  std::vector<std::function<void(T&)>> finishers_;
};

// The values of the sections modules declared, by section name. Values are
// immutable once loaded and shared between copies of a Config.
class ModuleValues {
 public:
  struct Entry {
    const SectionBase* section = nullptr;
    std::shared_ptr<void> value;
  };
  const void* find(const std::string& name) const {
    auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : it->second.value.get();
  }
  const std::map<std::string, Entry>& entries() const { return entries_; }
  std::map<std::string, Entry>& mutable_entries() { return entries_; }

 private:
  std::map<std::string, Entry> entries_;
};

// Which sections a configuration is read against: core's, plus the ones
// modules declare (from the app's list of services).
class Schema {
 public:
  // Core's sections only.
  Schema();
  // REQUIRES: `section` outlives the Schema and every Config loaded with it;
  // its name is not taken. Returns false (and adds nothing) on a clash.
  bool add(const SectionBase& section);
  const std::vector<const SectionBase*>& module_sections() const { return modules_; }
  // Module (service) names: valid log.levels keys besides core's.
  void add_module(std::string name);
  const std::vector<std::string>& module_names() const { return module_names_; }

 private:
  std::vector<const SectionBase*> modules_;
  std::vector<std::string> module_names_;
};

// Markdown rows "| `key` | type | default | range | live | doc |" for every
// key of `schema`, in declaration order (docs/operations.md, `shardd
// config-keys`).
std::string describe_markdown(const Schema& schema);

}  // namespace config
}  // namespace shardd
