#include "shardd/core/log.h"

#include <mutex>
#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <unordered_map>

namespace shardd::log {
namespace {

// %j: the message as a JSON string literal (quoted and escaped), for JSON lines.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string escaped = nlohmann::json(std::string(msg.payload.data(), msg.payload.size()))
                              .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

struct Registry {
  std::mutex mu;
  std::shared_ptr<spdlog::sinks::sink> sink;  // guarded by mu
  LogConfig config;                            // guarded by mu: the levels in force
  std::unordered_map<std::string, std::shared_ptr<spdlog::logger>> loggers;  // guarded by mu
};

Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: loggers outlive static teardown
  return *r;
}

spdlog::level::level_enum level_of(const std::string& name) {
  return spdlog::level::from_str(name);
}

spdlog::level::level_enum level_for(const LogConfig& c, const std::string& module) {
  auto it = c.levels.find(module);
  return level_of(it != c.levels.end() ? it->second : c.level);
}

// REQUIRES: r.mu held. Loggers are never replaced (references handed out
// stay valid): a new sink is swapped into the existing ones.
spdlog::logger& ensure(Registry& r, const std::string& name) {
  auto it = r.loggers.find(name);
  if (it == r.loggers.end()) {
    if (!r.sink) {
      // Used before init() (unit tests): plain stderr at warn.
      r.sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
      r.config.level = "warn";
    }
    auto logger = std::make_shared<spdlog::logger>(name, r.sink);
    logger->flush_on(spdlog::level::warn);
    logger->set_level(level_for(r.config, name));
    it = r.loggers.emplace(name, std::move(logger)).first;
  }
  return *it->second;
}

}  // namespace

void init(const LogConfig& config) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  r.sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  r.config = config;
  std::unique_ptr<spdlog::pattern_formatter> formatter;
  if (config.format == "json") {
    formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('j').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","module":"%n","tid":%t,"msg":%j})");
  } else {
    formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ [%n] %v");
  }
  r.sink->set_formatter(std::move(formatter));
  for (const auto& name : log_modules()) ensure(r, name);
  for (auto& [name, logger] : r.loggers) {
    logger->sinks() = {r.sink};
    logger->set_level(level_for(config, name));
  }
  spdlog::set_default_logger(r.loggers["core"]);
}

void apply_levels(const LogConfig& config) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  r.config.level = config.level;
  r.config.levels = config.levels;
  for (auto& [name, logger] : r.loggers) logger->set_level(level_for(r.config, name));
}

spdlog::logger& get(std::string_view module) {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  return ensure(r, std::string(module));
}

void flush() {
  Registry& r = registry();
  std::lock_guard lock(r.mu);
  for (auto& [name, logger] : r.loggers) logger->flush();
}

}  // namespace shardd::log
