#pragma once

// The service framework: what a game service (account, social, lobby, world,
// ladder, economy) is and what it is given. docs/architecture.md ("Writing a
// service") walks through the account service as the example.
//
// A service is one module under src/services/<name>/ that exposes a
// ServiceDef (<name>::service_def()). The one explicit list of services is
// SHARDD_SERVICES in src/services/CMakeLists.txt, from which the app's list
// is generated; adding a service is its folder plus one word there.
// From the defs, before anything runs, the app builds the configuration
// schema (each def's config sections), the migration list (each def's
// migrations, in list order) and the error table (each def's codes). Then it
// creates each service with a ServiceContext and calls start().

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "shardd/admin/routes.h"
#include "shardd/core/clock.h"
#include "shardd/core/config.h"
#include "shardd/core/error_code.h"
#include "shardd/core/metrics.h"
#include "shardd/core/scheduler.h"
#include "shardd/core/status.h"
#include "shardd/gateway/gateway.h"
#include "shardd/services/directory.h"
#include "shardd/store/migration.h"
#include "shardd/store/store.h"

namespace shardd::services {

// What a service is given. Every reference outlives the service.
//
// Thread-safety: the accessors are safe from any thread; what they return
// states its own rules (config() and scheduler() belong to the control
// thread: use them in start() and reload()).
class ServiceContext {
 public:
  ServiceContext(std::string name, const Config& config, gateway::Gateway& gateway,
                 store::Store& store, boost::asio::io_context& logic, Scheduler& scheduler,
                 metrics::Registry& metrics, admin::Routes& admin, const Clock& clock,
                 Directory& directory)
      : name_(std::move(name)),
        config_(config),
        gateway_(gateway),
        store_(store),
        logic_(logic),
        scheduler_(scheduler),
        metrics_(metrics),
        admin_(admin),
        clock_(clock),
        directory_(directory) {}

  // The module name ("account"): its log module, metrics and migrations.
  const std::string& name() const { return name_; }
  // The running configuration; read a module's own section with its
  // Section::of(). REQUIRES: the control thread (start(), reload()).
  const Config& config() const { return config_; }
  gateway::Gateway& gateway() const { return gateway_; }
  store::Store& store() const { return store_; }
  // The logic pool: make strands on it (Actor, ActorMap do).
  boost::asio::io_context& logic() const { return logic_; }
  // Periodic work. REQUIRES: the control thread (start()).
  Scheduler& scheduler() const { return scheduler_; }
  metrics::Registry& metrics() const { return metrics_; }
  // Operator routes (/admin/...). Routes added when the admin listener is
  // disabled are simply never served.
  admin::Routes& admin() const { return admin_; }
  const Clock& clock() const { return clock_; }
  // The interfaces services provide to each other (directory.h).
  Directory& directory() const { return directory_; }

 private:
  std::string name_;
  const Config& config_;
  gateway::Gateway& gateway_;
  store::Store& store_;
  boost::asio::io_context& logic_;
  Scheduler& scheduler_;
  metrics::Registry& metrics_;
  admin::Routes& admin_;
  const Clock& clock_;
  Directory& directory_;
};

// A running service. Created by its ServiceDef's factory; lives until the
// server stops.
//
// Thread-safety: start(), reload(), stop() are called on the control thread;
// status() from any thread.
class Service {
 public:
  virtual ~Service() = default;
  // Registers ops, pushes, session listeners, admin routes and scheduler
  // jobs. A failure stops the server from starting. REQUIRES: before serving.
  virtual Status start() = 0;
  // SIGHUP applied a new configuration (live keys only; validated).
  virtual void reload(const Config& config) { (void)config; }
  // The service's part of GET /admin/status (null: none).
  virtual nlohmann::json status() const { return nullptr; }
  // The io threads and the logic pool have stopped: join private pools and
  // write what must not be lost (the store still runs work: run_sync).
  // Strand state may be read here: no strand runs any more.
  virtual void stop() {}
};

// The Service of a service whose state lives in one actor `Impl` (made
// with std::make_shared<Impl>(ctx)): forwards start(), reload(), status()
// and stop() to it. Impl provides all four (status(): its part of
// /admin/status as an object, or null).
template <class Impl>
class ActorService final : public Service {
 public:
  explicit ActorService(ServiceContext& ctx) : impl_(std::make_shared<Impl>(ctx)) {}
  Status start() override { return impl_->start(); }
  void reload(const Config& config) override { impl_->reload(config); }
  nlohmann::json status() const override { return impl_->status(); }
  void stop() override { impl_->stop(); }

  // The ServiceDef::create of such a service.
  static std::unique_ptr<Service> create(ServiceContext& ctx) {
    return std::make_unique<ActorService>(ctx);
  }

 private:
  std::shared_ptr<Impl> impl_;
};

// Everything the app needs to know about a service before creating it.
struct ServiceDef {
  std::string name;  // module name: unique, [a-z_]
  // Configuration sections the module owns (each must outlive the process:
  // function-local statics).
  std::vector<const config::SectionBase*> config;
  // The module's schema, versions 1, 2, 3 ... of module `name`.
  std::vector<store::Migration> migrations;
  // Error codes the module adds to the table (documented in docs/protocol.md).
  std::vector<ErrorCode> errors;
  std::function<std::unique_ptr<Service>(ServiceContext& ctx)> create;
};

}  // namespace shardd::services
