#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "chat_config.h"
#include "chat_repo.h"
#include "migrations.h"
#include "shardd/core/log.h"
#include "shardd/core/utf8.h"
#include "shardd/services/account.h"
#include "shardd/services/actor.h"
#include "shardd/services/actor_map.h"
#include "shardd/services/chat.h"
#include "shardd/services/fanout.h"
#include "shardd/services/social.h"
#include "text.h"
#include "word_filter.h"

namespace shardd::chat {

namespace asio = boost::asio;
using json = nlohmann::json;
using account::Presence;
using gateway::Request;
using store::DbErr;
using store::DbStatus;
using store::StoreContext;

namespace {

spdlog::logger& lg() {
  static spdlog::logger& l = log::get("chat");
  return l;
}

constexpr size_t kMaxBatch = 256;      // messages per database write
constexpr size_t kMaxLogJobs = 10000;  // history reads waiting behind writes
constexpr size_t kIdemKept = 64;       // idempotency keys remembered per account
constexpr int64_t kPurgeBatch = 5000;  // messages deleted per retention step
constexpr auto kRetryWrite = std::chrono::seconds(1);

// The flood classes: each has its own token bucket per account.
enum class Class : uint8_t { kWorld, kZone, kCustom, kWhisper, kParty };
constexpr size_t kClasses = 5;

const char* const kReserved[] = {"world", "zone", "whisper", "system", "party", "guild", "room"};

bool reserved(const std::string& name) {
  return std::any_of(std::begin(kReserved), std::end(kReserved),
                     [&](const char* r) { return name == r; });
}

// A custom channel name: 1-24 of a-z 0-9 _ - (given in any ASCII case).
bool custom_name(const std::string& in, std::string* out) {
  if (in.empty() || in.size() > 24) return false;
  out->clear();
  for (char c : in) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
    out->push_back(c);
  }
  return !reserved(*out);
}

std::string whisper_key(int64_t a, int64_t b) {
  return "w:" + std::to_string(std::min(a, b)) + ":" + std::to_string(std::max(a, b));
}

// What clients see as the channel of a storage key.
std::string label_of(const std::string& key) {
  if (key.rfind("zone:", 0) == 0) return "zone";
  if (key.rfind("c:", 0) == 0) return key.substr(2);
  if (key.rfind("w:", 0) == 0) return "whisper";
  if (key.rfind("party:", 0) == 0) return "party";
  if (key.rfind("guild:", 0) == 0) return "guild";
  return key;  // world, system
}

json message_json(const StoredMessage& m) {
  json d = {{"id", m.id},
            {"channel", label_of(m.channel)},
            {"from", {{"id", m.sender_id}, {"name", m.sender_name}}},
            {"text", m.body},
            {"ts", m.ts}};
  if (m.recipient_id) d["to"] = m.recipient_id;
  if (m.channel.rfind("zone:", 0) == 0) d["zone"] = m.channel.substr(5);
  if (m.sender_id == 0) d["system"] = true;
  return d;
}

// A token bucket on the steady clock: `burst` tokens, refilled at `per_min`.
struct Bucket {
  double tokens = -1;  // < 0: untouched (full)
  Clock::Steady at{};
  // 0 if a token was taken, else the milliseconds until one is there.
  int64_t take(uint32_t per_min, uint32_t burst, Clock::Steady now) {
    double rate = per_min / 60000.0;  // tokens per ms
    if (tokens < 0) {
      tokens = burst;
    } else {
      double ms = std::chrono::duration<double, std::milli>(now - at).count();
      tokens = std::min<double>(burst, tokens + ms * rate);
    }
    at = now;
    if (tokens >= 1) {
      tokens -= 1;
      return 0;
    }
    return static_cast<int64_t>((1 - tokens) / rate) + 1;
  }
};

}  // namespace

// ---------------------------------------------------------------- the log

// Every chat write and history read, one at a time in order, batching
// messages: a message is delivered first and written with the others of its
// batch (at least every chat.flush_ms, at most kMaxBatch at once); a history
// read first pushes the batch being gathered, so it sees every message sent
// before it. A failed batch is tried again (kRetryWrite) and stays counted in
// unsaved() meanwhile, so senders get UNAVAILABLE at chat.max_unsaved
// instead of memory growing while the database is away.
class ChatLog final : public services::Actor<ChatLog> {
 public:
  using Work = std::function<DbStatus(StoreContext&)>;
  using Done = std::function<void(DbStatus)>;

  ChatLog(services::ServiceContext& ctx, const ChatConfig& cfg)
      : Actor(ctx),
        flush_timer_(strand()),
        retry_timer_(strand()),
        flush_ms_(cfg.flush_ms),
        window_(cfg.history_window),
        unsaved_gauge_(ctx.metrics().gauge("shardd_chat_unsaved",
                                           "Chat messages delivered and not yet written.")),
        written_(ctx.metrics().counter("shardd_chat_written_total",
                                       "Chat messages written to the database.")),
        write_failures_(ctx.metrics().counter("shardd_chat_write_failures_total",
                                              "Chat message batches that failed to write "
                                              "(tried again).")) {}

  int64_t unsaved() const { return unsaved_.load(std::memory_order_relaxed); }
  // Counts a message the caller is about to append (before delivery, so the
  // bound holds for messages on their way). Thread-safe.
  void reserve() { unsaved_gauge_.set(unsaved_.fetch_add(1) + 1); }
  // Takes back a reserve() whose message was not sent. Thread-safe.
  void unreserve() { unsaved_gauge_.set(unsaved_.fetch_sub(1) - 1); }
  // Appends a reserved message to the next batch. Thread-safe.
  void append(StoredMessage m) {
    post([this, m = std::move(m)]() mutable {
      batch_.push_back(std::move(m));
      if (batch_.size() >= kMaxBatch) {
        push_batch();
      } else if (batch_.size() == 1) {
        flush_timer_.expires_after(std::chrono::milliseconds(flush_ms_));
        flush_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
          if (!ec) self->push_batch();
        });
      }
    });
  }
  // Runs `work` after everything appended or queued before, then `done` on
  // `ex`. UNAVAILABLE at once when kMaxLogJobs are waiting. Thread-safe.
  template <class D>
  void run(Work work, asio::any_io_executor ex, D done) {
    post([this, work = std::move(work), ex = std::move(ex),
          done = std::make_shared<D>(std::move(done))]() mutable {
      if (jobs_.size() >= kMaxLogJobs) {
        return asio::post(
            ex, [done] { (*done)(DbStatus(DbErr::kUnavailable, "chat log busy", 1000)); });
      }
      push_batch();
      jobs_.push_back({std::move(work),
                       [ex, done](DbStatus st) {
                         asio::post(
                             ex, [done, st = std::move(st)]() mutable { (*done)(std::move(st)); });
                       },
                       0, nullptr});
      if (jobs_.size() == 1 && !retrying_) next();
    });
  }
  void reload(const ChatConfig& cfg) {
    post([this, flush = cfg.flush_ms, window = cfg.history_window] {
      flush_ms_ = flush;
      window_ = window;
    });
  }
  size_t window() const { return window_; }  // strand

  // At shutdown, after the logic pool stopped: writes every message not yet
  // known to be written (the batch being gathered, and queued or in-flight
  // batches: writing one twice is harmless), and drops the windows they
  // touched. REQUIRES: no strand runs (Service::stop()).
  void final_flush() {
    std::vector<StoredMessage> all(batch_.begin(), batch_.end());
    for (const auto& job : jobs_) {
      if (job.batch) all.insert(all.end(), job.batch->begin(), job.batch->end());
    }
    // The queued jobs' completions hold the service (keep_alive): dropping
    // them breaks that cycle, so everything is freed at exit.
    jobs_.clear();
    batch_.clear();
    if (all.empty()) return;
    DbStatus st =
        ctx().store().run_sync([&all](StoreContext& sc) { return ChatRepo::insert(sc, all, 0); });
    if (st.ok()) {
      lg().info("chat: {} messages written at shutdown", all.size());
    } else {
      lg().error("chat: {} messages not written at shutdown: {}", all.size(), st.to_string());
    }
  }

 private:
  struct Job {
    Work work;
    Done done;
    size_t messages;  // a batch: messages to count as written
    std::shared_ptr<const std::vector<StoredMessage>> batch;  // a batch: its messages
  };

  void push_batch() {
    flush_timer_.cancel();
    if (batch_.empty()) return;
    auto batch = std::make_shared<std::vector<StoredMessage>>(std::move(batch_));
    batch_.clear();
    size_t n = batch->size();
    size_t window = window_;
    jobs_.push_back(
        {[batch, window](StoreContext& ctx) { return ChatRepo::insert(ctx, *batch, window); },
         nullptr, n, batch});
    if (jobs_.size() == 1 && !retrying_) next();
  }

  void next() {
    store(jobs_.front().work, [this](DbStatus st) {
      Job& job = jobs_.front();
      if (job.messages > 0 && !st.ok()) {
        // Keep the batch at the head and try again: nothing written is lost
        // while the database is away (the unsaved bound stops new messages).
        write_failures_.inc();
        lg().warn("writing {} chat messages failed ({}); retrying", job.messages, st.to_string());
        retrying_ = true;
        retry_timer_.expires_after(kRetryWrite);
        retry_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
          if (ec) return;
          self->retrying_ = false;
          self->next();
        });
        return;
      }
      if (job.messages > 0) {
        written_.inc(job.messages);
        unsaved_gauge_.set(unsaved_.fetch_sub(static_cast<int64_t>(job.messages)) -
                           static_cast<int64_t>(job.messages));
      }
      Done done = std::move(job.done);
      jobs_.pop_front();
      if (jobs_.empty() && !batch_.empty() && batch_.size() >= kMaxBatch / 4) push_batch();
      if (!jobs_.empty()) next();
      if (done) done(std::move(st));
    });
  }

  asio::steady_timer flush_timer_;
  asio::steady_timer retry_timer_;
  uint32_t flush_ms_;
  size_t window_;
  std::vector<StoredMessage> batch_;
  std::deque<Job> jobs_;
  bool retrying_ = false;
  std::atomic<int64_t> unsaved_{0};
  metrics::Gauge& unsaved_gauge_;
  metrics::Counter& written_;
  metrics::Counter& write_failures_;
};

// ---------------------------------------------------------------- channels

// One live channel (world, a zone, a custom channel) on its own strand: its
// members and the fan-out. Messages are numbered and delivered here, so the
// order every member sees is the order of the ids.
struct Channel {
  std::string key;
  std::unordered_map<int64_t, std::weak_ptr<gateway::Session>> members;
};
using Channels = services::ActorMap<std::string, Channel>;

// ---------------------------------------------------------------- the service

// The chat service's core, on one strand: who is online (from the account
// service's presence) with their zone, custom channels, mutes, flood state
// and recent idempotency keys; frozen channels; the word filter. Requests
// are checked here (mutes, frozen, text, flood) and then sent to the
// channel's strand, which numbers and delivers them.
class Impl final : public services::Actor<Impl>,
                   public account::PresenceListener,
                   public social::GroupListener {
 public:
  explicit Impl(services::ServiceContext& ctx)
      : Actor(ctx),
        cfg_(chat_section().of(ctx.config())),
        clock_(ctx.clock()),
        log_(std::make_shared<ChatLog>(ctx, cfg_)),
        channels_(ctx.logic(), cfg_.max_channels,
                  [](const std::string& key) {
                    return Channel{key, {}};
                  }),
        filter_(WordFilter::build({})),
        channels_gauge_(ctx.metrics().gauge("shardd_chat_channels", "Live chat channels.")),
        sent_(ctx.metrics().counter("shardd_chat_messages_total", "Chat messages accepted.")),
        delivered_(ctx.metrics().counter("shardd_chat_deliveries_total",
                                         "chat.msg pushes handed to sessions.")),
        masked_(ctx.metrics().counter("shardd_chat_masked_total",
                                      "Chat messages with words masked by the filter.")),
        offline_stored_(ctx.metrics().counter("shardd_chat_offline_whispers_total",
                                              "Whispers stored for offline players.")) {
    for (const char* r :
         {"rate", "repeated", "muted", "text", "frozen", "blocked", "full", "unavailable"}) {
      refused_[r] = &ctx.metrics().counter("shardd_chat_refused_total",
                                           "Chat messages refused, by reason.", {{"reason", r}});
    }
  }

  Status start() {
    auto accounts = ctx().directory().find<account::Accounts>();
    if (!accounts) return Status::Internal("needs the account service (list it first)");
    accounts->subscribe(shared_from_this());
    auto groups = ctx().directory().find<social::Groups>();
    if (!groups) return Status::Internal("needs the social service (list it first)");
    groups->subscribe(shared_from_this());
    if (Status st = load_words(cfg_); !st.ok()) return st;
    // Ids: above every stored one and at least the clock in ms x 1024, so
    // they keep increasing across restarts.
    int64_t max_id = 0;
    std::vector<std::string> frozen;
    DbStatus st = ctx().store().run_sync([&](StoreContext& sc) {
      DbStatus s = ChatRepo::max_id(sc, &max_id);
      if (s.ok()) s = ChatRepo::frozen(sc, &frozen);
      return s;
    });
    if (!st.ok()) {
      // The database is down at start: it comes back later (the store
      // retries); ids still start above anything this clock produced.
      lg().warn("chat: stored state not read at start ({}); no channel is frozen", st.to_string());
    }
    next_id_.store(std::max(max_id + 1, clock_.now_ms() * 1024));
    frozen_.insert(frozen.begin(), frozen.end());

    auto& gw = ctx().gateway();
    msg_op_ = &gw.push_op("chat.msg");
    deleted_op_ = &gw.push_op("chat.deleted");
    muted_op_ = &gw.push_op("chat.muted");
    const args::Field channel = args::str("channel", 1, 32);
    const args::Field to = args::optional(args::integer("to", 1, INT64_MAX));
    Status rs = route_all({
        {"chat.send",
         &Impl::on_send,
         {channel, to, args::str("text", 1, 4000), args::optional(args::str("idem", 1, 64))}},
        {"chat.history",
         &Impl::on_history,
         {channel, to, args::optional(args::integer("before", 1, INT64_MAX)),
          args::optional(args::integer("limit", 1, 50))}},
        {"chat.join", &Impl::on_join, {channel}},
        {"chat.leave", &Impl::on_leave, {channel}},
        {"chat.channels", &Impl::on_channels},
    });
    if (!rs.ok()) return rs;
    add_admin_routes(ctx().admin());
    ctx().scheduler().every_async("chat_retention", std::chrono::hours(1),
                                  [self = shared_from_this()](Scheduler::Done done) {
                                    self->post([impl = self.get(), done = std::move(done)] {
                                      impl->purge([done](DbStatus result, uint64_t) {
                                        done(result.ok() ? Status::Ok() : result.to_status());
                                      });
                                    });
                                  });
    return Status::Ok();
  }

  void reload(const Config& c) {
    ChatConfig fresh = chat_section().of(c);
    if (Status st = load_words(fresh); !st.ok()) {
      lg().error("reload: word list not applied: {}", st.message());
    }
    log_->reload(fresh);
    post([this, fresh] { cfg_ = fresh; });
  }

  // GET /admin/status: "chat".
  json status() const {
    return {{"chat", {{"channels", channels_.size()}, {"unsaved", log_->unsaved()}}}};
  }

  void stop() { log_->final_flush(); }

  // account::PresenceListener (the account service's strand)
  void on_presence(const Presence& p) override {
    post([this, p] { apply_presence(p); });
  }

  // social::GroupListener (the social service's strand)
  void on_group(const social::GroupChange& c) override {
    post([this, c] {
      auto& of = c.group.rfind("guild:", 0) == 0 ? guild_of_ : party_of_;
      auto it = speakers_.find(c.account_id);
      if (c.kind == social::GroupChange::Kind::kJoined) {
        of[c.account_id] = c.group;
        if (it != speakers_.end()) add_member(c.group, c.account_id, it->second.session);
      } else {
        auto p = of.find(c.account_id);
        if (p != of.end() && p->second == c.group) of.erase(p);
        remove_member(c.group, c.account_id);
      }
    });
  }

 private:
  struct Speaker {
    int64_t id = 0;
    std::string name;
    std::string username;
    std::string zone;
    std::weak_ptr<gateway::Session> session;
    int64_t created_ms = 0;
    std::vector<std::string> custom;  // joined custom channel names
    std::unordered_map<std::string, std::pair<int64_t, std::string>>
        mutes;  // channel -> until, why
    int64_t flood_muted_until = 0;
    std::array<Bucket, kClasses> buckets;
    std::string last_text;
    uint32_t repeats = 0;
    Clock::Steady last_text_at{};
    std::deque<Clock::Steady> strikes;
    std::deque<std::pair<std::string, json>> idem;  // key -> answer
    uint64_t generation = 0;
  };

  // ---- word list

  Status load_words(const ChatConfig& c) {
    std::vector<std::string> words;
    if (!c.wordlist_file.empty()) {
      Status st = WordFilter::load(c.wordlist_file, &words);
      if (!st.ok()) return st;
    }
    auto f = WordFilter::build(words);
    lg().info("chat: {} words in the filter ({})", f->size(),
              c.wordlist_file.empty() ? "no list" : c.wordlist_file);
    std::lock_guard lock(filter_mu_);
    filter_ = std::move(f);
    return Status::Ok();
  }
  std::shared_ptr<const WordFilter> filter() const {
    std::lock_guard lock(filter_mu_);
    return filter_;
  }

  // ---- membership (channel strands)

  void add_member(const std::string& key, int64_t id, std::weak_ptr<gateway::Session> s) {
    channels_.post_or_create(key, [this, key, id, s = std::move(s)](Channel* ch, auto) {
      if (!ch) {
        lg().warn(
            "chat: account {} left out of {}: the channel limit (chat.max_channels) is reached", id,
            label_of(key));
        return;
      }
      ch->members[id] = s;
      channels_gauge_.set(static_cast<int64_t>(channels_.size()));
    });
  }
  void remove_member(const std::string& key, int64_t id) {
    channels_.post(key, [this, id](Channel* ch, Channels::EntryPtr e) {
      if (!ch) return;
      ch->members.erase(id);
      if (ch->members.empty()) channels_.retire(*e);
      channels_gauge_.set(static_cast<int64_t>(channels_.size()));
    });
  }

  // ---- presence (core strand)

  void apply_presence(const Presence& p) {
    switch (p.kind) {
      case Presence::Kind::kOnline: {
        auto [it, fresh] = speakers_.try_emplace(p.account_id);
        Speaker& s = it->second;
        s.id = p.account_id;
        s.name = p.name;
        s.username = p.username;
        s.session = p.session;
        s.created_ms = p.created_ms;
        // (Re)joins: a new login replaces the session everywhere.
        add_member("world", s.id, s.session);
        if (!p.zone.empty()) {
          s.zone = p.zone;
          add_member("zone:" + s.zone, s.id, s.session);
        }
        for (const auto& c : s.custom) add_member("c:" + c, s.id, s.session);
        for (auto* of : {&party_of_, &guild_of_}) {
          if (auto g = of->find(s.id); g != of->end()) add_member(g->second, s.id, s.session);
        }
        if (fresh) {
          s.generation = ++generation_;
          // A flood mute outlives a logout (it is not stored: it ends by
          // chat.flood_mute_s, or at a restart).
          if (auto fm = flood_muted_.find(s.id); fm != flood_muted_.end()) {
            s.flood_muted_until = fm->second;
            flood_muted_.erase(fm);
          }
          load_speaker(s.id, s.generation);
        }
        return;
      }
      case Presence::Kind::kZone: {
        auto it = speakers_.find(p.account_id);
        if (it == speakers_.end() || it->second.zone == p.zone) return;
        if (!it->second.zone.empty()) remove_member("zone:" + it->second.zone, p.account_id);
        it->second.zone = p.zone;
        add_member("zone:" + p.zone, p.account_id, it->second.session);
        return;
      }
      case Presence::Kind::kName: {
        auto it = speakers_.find(p.account_id);
        if (it != speakers_.end()) it->second.name = p.name;
        return;
      }
      case Presence::Kind::kOffline: {
        auto it = speakers_.find(p.account_id);
        if (it == speakers_.end()) return;
        remove_member("world", p.account_id);
        if (!it->second.zone.empty()) remove_member("zone:" + it->second.zone, p.account_id);
        for (const auto& c : it->second.custom) remove_member("c:" + c, p.account_id);
        for (auto* of : {&party_of_, &guild_of_}) {
          // Still in the party or guild, not listening.
          if (auto g = of->find(p.account_id); g != of->end())
            remove_member(g->second, p.account_id);
        }
        keep_flood_mute(it->second);
        speakers_.erase(it);
        return;
      }
    }
  }

  // An account going offline while muted for flooding keeps the mute until
  // it ends. Entries of mutes that ended are dropped here, so the map holds
  // at most the accounts muted within the last chat.flood_mute_s. (strand)
  void keep_flood_mute(const Speaker& s) {
    int64_t now = clock_.now_ms();
    if (s.flood_muted_until <= now) return;
    std::erase_if(flood_muted_, [now](const auto& e) { return e.second <= now; });
    flood_muted_[s.id] = s.flood_muted_until;
  }

  // At login: the account's mutes and custom channels, and its waiting
  // whispers (delivered in order, marked offline).
  void load_speaker(int64_t id, uint64_t gen) {
    struct Loaded {
      std::vector<Mute> mutes;
      std::vector<std::string> joined;
      std::vector<StoredMessage> offline;
    };
    auto loaded = std::make_shared<Loaded>();
    int64_t now = clock_.now_ms();
    log_->run(
        [id, now, loaded](StoreContext& ctx) {
          DbStatus st = ChatRepo::mutes(ctx, id, now, &loaded->mutes);
          if (st.ok()) st = ChatRepo::joined(ctx, id, &loaded->joined);
          if (st.ok()) st = ChatRepo::offline(ctx, id, &loaded->offline);
          return st;
        },
        strand(), keep_alive([this, id, gen, loaded](DbStatus st) {
          auto it = speakers_.find(id);
          if (!st.ok()) {
            lg().warn("chat: account {}: channels and mutes not loaded: {}", id, st.to_string());
          }
          if (it == speakers_.end() || it->second.generation != gen) return;  // gone meanwhile
          Speaker& s = it->second;
          for (const auto& m : loaded->mutes) s.mutes[m.channel] = {m.until_ms, m.reason};
          for (const auto& c : loaded->joined) {
            if (std::find(s.custom.begin(), s.custom.end(), c) == s.custom.end()) {
              s.custom.push_back(c);
              add_member("c:" + c, id, s.session);
            }
          }
          auto session = s.session.lock();
          if (!session || loaded->offline.empty()) return;
          // Numbered pushes: a drop from here on is covered by sys.resume,
          // so the queue can let them go.
          for (const auto& m : loaded->offline) {
            json d = message_json(m);
            d["offline"] = true;
            session->post_push(*msg_op_, std::move(d));
          }
          int64_t upto = loaded->offline.back().id;
          log_->run([id, upto](StoreContext& ctx) { return ChatRepo::drop_offline(ctx, id, upto); },
                    strand(),
                    [id](DbStatus cleared) {
                      if (!cleared.ok()) {
                        lg().warn("chat: account {}: shown whispers not cleared: {}", id,
                                  cleared.to_string());
                      }
                    });
        }));
  }

  // ---- chat.send

  bool moderator(const Speaker& s) const {
    return std::any_of(cfg_.moderators.begin(), cfg_.moderators.end(), [&](const std::string& m) {
      if (m.size() != s.username.size()) return false;
      for (size_t i = 0; i < m.size(); ++i) {
        char c = m[i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != s.username[i]) return false;
      }
      return true;
    });
  }

  void refuse(Request& req, const char* reason, ErrorCode code, const std::string& msg,
              const json* extra = nullptr) {
    refused_.at(reason)->inc();  // fixed after construction: safe from any strand
    lg().info("{} by account {} refused ({}): {}", req.op(), req.account_id(), reason, msg);
    req.fail(code, msg, extra);
  }

  // A refused message counts as a strike; enough strikes within the window
  // mute the account (flooding). True when this strike muted it.
  bool strike(Speaker& s, Clock::Steady now) {
    s.strikes.push_back(now);
    auto window = std::chrono::seconds(cfg_.flood_window_s);
    while (!s.strikes.empty() && now - s.strikes.front() > window) s.strikes.pop_front();
    if (s.strikes.size() >= cfg_.flood_strikes) {
      s.strikes.clear();
      s.flood_muted_until = clock_.now_ms() + int64_t{cfg_.flood_mute_s} * 1000;
      lg().info("account {} muted for flooding until {}", s.id, s.flood_muted_until);
      if (auto session = s.session.lock()) {
        session->post_push(
            *muted_op_,
            {{"channel", nullptr}, {"until_ms", s.flood_muted_until}, {"reason", "flooding"}});
      }
      return true;
    }
    return false;
  }

  void refuse_flooding(Request& req, const Speaker& s) {
    json extra = {{"until_ms", s.flood_muted_until}, {"reason", "flooding"}};
    refuse(req, "muted", kMuted, "muted for flooding", &extra);
  }

  // The mute in force for `label` (a channel as players name it), if any.
  bool muted(Speaker& s, const std::string& label, int64_t now, int64_t* until, std::string* why) {
    if (s.flood_muted_until > now) {
      *until = s.flood_muted_until;
      *why = "flooding";
      return true;
    }
    for (const std::string& k : {std::string(), label}) {
      auto it = s.mutes.find(k);
      if (it == s.mutes.end()) continue;
      if (it->second.first <= now) {
        s.mutes.erase(it);
        continue;
      }
      *until = it->second.first;
      *why = it->second.second;
      return true;
    }
    int64_t young = int64_t{cfg_.new_account_world_mute_min} * 60000;
    if (label == "world" && young > 0 && s.created_ms + young > now) {
      *until = s.created_ms + young;
      *why = "new_account";
      return true;
    }
    return false;
  }

  void on_send(Request req) {
    auto it = speakers_.find(req.account_id());
    if (it == speakers_.end()) return req.fail(ErrorCode::kUnauthorized, "log in first");
    Speaker& s = it->second;
    std::string idem = args::str_or(req.d(), "idem", "");
    if (!idem.empty()) {
      for (const auto& [k, answer] : s.idem) {
        if (k == idem) return req.ok(answer);  // a retry of a message already sent
      }
    }
    // Which channel.
    std::string channel = args::str(req.d(), "channel");
    std::string key;
    std::string label = channel;
    Class cls = Class::kCustom;
    int64_t to = args::int_or(req.d(), "to", 0);
    uint32_t per_min = cfg_.custom_per_min;
    uint32_t burst = cfg_.custom_burst;
    if (channel == "world") {
      key = "world";
      cls = Class::kWorld;
      per_min = cfg_.world_per_min;
      burst = cfg_.world_burst;
    } else if (channel == "zone") {
      if (s.zone.empty()) return req.fail(ErrorCode::kNotFound, "you are in no zone");
      key = "zone:" + s.zone;
      cls = Class::kZone;
      per_min = cfg_.zone_per_min;
      burst = cfg_.zone_burst;
    } else if (channel == "whisper") {
      if (to == 0) return req.fail(ErrorCode::kBadRequest, "to: a whisper needs a recipient");
      if (to == s.id) return req.fail(ErrorCode::kBadRequest, "to: that is your own account");
      key = whisper_key(s.id, to);
      cls = Class::kWhisper;
      per_min = cfg_.whisper_per_min;
      burst = cfg_.whisper_burst;
    } else if (channel == "system") {
      return req.fail(ErrorCode::kForbidden, "only the server speaks in system");
    } else if (channel == "party") {
      auto party = party_of_.find(s.id);
      if (party == party_of_.end()) return req.fail(ErrorCode::kNotFound, "you are in no party");
      key = party->second;
      cls = Class::kParty;
      per_min = cfg_.party_per_min;
      burst = cfg_.party_burst;
    } else if (channel == "guild") {
      auto guild = guild_of_.find(s.id);
      if (guild == guild_of_.end()) return req.fail(ErrorCode::kNotFound, "you are in no guild");
      key = guild->second;
      cls = Class::kParty;
      per_min = cfg_.party_per_min;
      burst = cfg_.party_burst;
    } else if (channel == "room") {
      return req.fail(ErrorCode::kNotFound, "you are in no room");
    } else {
      std::string name;
      if (!custom_name(channel, &name)) {
        return req.fail(ErrorCode::kBadRequest, "channel: no such channel name");
      }
      if (std::find(s.custom.begin(), s.custom.end(), name) == s.custom.end()) {
        return req.fail(ErrorCode::kForbidden, "join '" + name + "' first (chat.join)");
      }
      key = "c:" + name;
      label = name;
    }
    int64_t now = clock_.now_ms();
    int64_t until = 0;
    std::string why;
    if (muted(s, label, now, &until, &why)) {
      json extra = {{"until_ms", until}, {"reason", why}};
      return refuse(req, "muted", kMuted, "you are muted in " + label, &extra);
    }
    if ((frozen_.count(key) || (cls == Class::kZone && frozen_.count("zone"))) && !moderator(s)) {
      return refuse(req, "frozen", kChannelFrozen, label + " is frozen: only moderators speak");
    }
    // Text rules, then the filter.
    std::string text;
    TextVerdict v = clean_text(args::str(req.d(), "text"), cfg_.max_chars, &text);
    if (v != TextVerdict::kOk) {
      json extra = {{"reason", verdict_name(v)}};
      if (v == TextVerdict::kTooLong) extra["max_chars"] = cfg_.max_chars;
      return refuse(req, "text", kTextRejected,
                    v == TextVerdict::kTooLong
                        ? "text longer than " + std::to_string(cfg_.max_chars) + " characters"
                    : v == TextVerdict::kEmpty ? "nothing to send"
                                               : "text may not look like a server message",
                    &extra);
    }
    if (cfg_.profanity != "off") {
      auto f = filter();
      auto hits = f->find(text);
      if (!hits.empty()) {
        if (cfg_.profanity == "reject") {
          json extra = {{"reason", "profanity"}};
          return refuse(req, "text", kTextRejected, "the text has words that are not allowed",
                        &extra);
        }
        text = f->mask(text, hits);
        masked_.inc();
      }
    }
    // Flood: the channel class's bucket, then the repeat rule.
    auto steady = clock_.steady();
    int64_t wait = s.buckets[static_cast<size_t>(cls)].take(per_min, burst, steady);
    if (wait > 0) {
      if (strike(s, steady)) return refuse_flooding(req, s);
      json extra = {{"retry_after_ms", wait}, {"reason", "rate"}};
      return refuse(req, "rate", ErrorCode::kRateLimited, "too many messages to " + label, &extra);
    }
    auto repeat_window = std::chrono::seconds(cfg_.repeat_window_s);
    if (text == s.last_text && steady - s.last_text_at <= repeat_window) {
      if (s.repeats >= cfg_.repeat_limit) {
        if (strike(s, steady)) return refuse_flooding(req, s);
        int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(
                           repeat_window - (steady - s.last_text_at))
                           .count() +
                       1;
        json extra = {{"retry_after_ms", left}, {"reason", "repeated"}};
        return refuse(req, "repeated", ErrorCode::kRateLimited, "the same message again", &extra);
      }
      ++s.repeats;
    } else {
      s.last_text = text;
      s.repeats = 1;
    }
    s.last_text_at = steady;
    if (log_->unsaved() >= cfg_.max_unsaved) {
      json extra = {{"retry_after_ms", 1000}};
      return refuse(req, "unavailable", ErrorCode::kUnavailable, "chat is busy, retry shortly",
                    &extra);
    }
    StoredMessage m{0, key, s.id, s.name, cls == Class::kWhisper ? to : 0, std::move(text), now};
    if (cls == Class::kWhisper) return whisper(std::move(req), std::move(m), std::move(idem));
    deliver(std::move(req), std::move(m), std::move(idem));
  }

  // Remembers the answer to an idempotency key (core strand).
  void remember(int64_t account, const std::string& idem, const json& answer) {
    if (idem.empty()) return;
    auto it = speakers_.find(account);
    if (it == speakers_.end()) return;
    auto& q = it->second.idem;
    q.emplace_back(idem, answer);
    if (q.size() > kIdemKept) q.pop_front();
  }

  // To a channel: numbered and delivered on its strand, then written.
  void deliver(Request req, StoredMessage m, std::string idem) {
    log_->reserve();
    std::string key = m.channel;
    auto self = shared_from_this();
    channels_.post(key, [this, self, req = std::move(req), m = std::move(m),
                         idem = std::move(idem)](Channel* ch, auto) mutable {
      if (!ch) {  // it could not be opened when the sender joined it (chat.max_channels)
        log_->unreserve();
        json extra = {{"limit", cfg_max_channels_}};
        return refuse(req, "full", ErrorCode::kFull,
                      label_of(m.channel) + " is not open: too many channels exist", &extra);
      }
      if (!ch->members.count(m.sender_id)) {
        log_->unreserve();
        return req.fail(ErrorCode::kForbidden, "you are not in " + label_of(m.channel));
      }
      m.id = next_id_.fetch_add(1);
      m.ts = clock_.now_ms();
      services::Fanout out(*msg_op_, std::make_shared<const gateway::SharedBody>(message_json(m)));
      for (const auto& [id, weak] : ch->members) out.add(weak.lock());
      delivered_.inc(out.size());
      out.send();
      sent_.inc();
      json answer = {{"id", m.id}, {"ts", m.ts}};
      req.ok(answer);
      if (!idem.empty()) {
        post([this, account = m.sender_id, idem = std::move(idem), answer] {
          remember(account, idem, answer);
        });
      }
      log_->append(std::move(m));
    });
  }

  // To one account: a block check, then to both sessions if the recipient
  // is online, else stored (durably) for their next login.
  void whisper(Request req, StoredMessage m, std::string idem) {
    if (m.id == 0) m.id = next_id_.fetch_add(1);
    auto rit = speakers_.find(m.recipient_id);
    bool online = rit != speakers_.end();
    uint32_t max_offline = cfg_.max_offline_whispers;
    size_t window = cfg_.history_window;
    struct Out {
      bool exists = true;
      bool blocked = false;
      bool full = false;
    };
    auto out = std::make_shared<Out>();
    auto work = [m, online, max_offline, window, out](StoreContext& ctx) {
      if (!online) {
        std::optional<account::AccountRef> a;
        DbStatus st = account::find_account_by_id(ctx, m.recipient_id, &a);
        if (!st.ok()) return st;
        out->exists = a && !a->deleted;
        if (!out->exists) return st;
      }
      DbStatus st = social::find_block(ctx, m.recipient_id, m.sender_id, &out->blocked);
      if (!st.ok() || out->blocked || online) return st;
      return ChatRepo::store_offline(ctx, m, max_offline, window, &out->full);
    };
    log_->run(work, strand(),
              keep_alive([this, req = std::move(req), m = std::move(m), idem = std::move(idem),
                          online, out](DbStatus st) mutable {
                if (!st.ok()) {
                  refused_.at("unavailable")->inc();
                  return services::fail_storage(req, st, lg());
                }
                if (!out->exists) {
                  return req.fail(ErrorCode::kNotFound,
                                  "no account " + std::to_string(m.recipient_id));
                }
                if (out->blocked) {
                  return refuse(req, "blocked", social::kBlocked,
                                "this player does not accept your whispers");
                }
                if (out->full) {
                  json extra = {{"limit", cfg_.max_offline_whispers}};
                  return refuse(req, "full", ErrorCode::kFull,
                                "this player has too many whispers waiting", &extra);
                }
                auto rit2 = speakers_.find(m.recipient_id);
                if (online && rit2 == speakers_.end()) {
                  // Went offline during the check: keep it for them.
                  return whisper(std::move(req), std::move(m), std::move(idem));
                }
                json answer = {{"id", m.id}, {"ts", m.ts}};
                sent_.inc();
                if (!online) {
                  offline_stored_.inc();
                  answer["offline"] = true;
                } else {
                  json d = message_json(m);
                  services::Fanout fan(*msg_op_, std::make_shared<const gateway::SharedBody>(d));
                  fan.add(rit2->second.session.lock());
                  if (auto me = speakers_.find(m.sender_id); me != speakers_.end()) {
                    fan.add(me->second.session.lock());
                  }
                  delivered_.inc(fan.size());
                  fan.send();
                  log_->reserve();
                  log_->append(m);
                }
                remember(m.sender_id, idem, answer);
                req.ok(answer);
              }));
  }

  // ---- chat.history

  // The storage key of a channel the caller may read, or "" after failing req.
  std::string readable_key(Request& req, const Speaker& s) {
    std::string channel = args::str(req.d(), "channel");
    if (channel == "world" || channel == "system") return channel;
    if (channel == "zone") {
      if (s.zone.empty()) {
        req.fail(ErrorCode::kNotFound, "you are in no zone");
        return "";
      }
      return "zone:" + s.zone;
    }
    if (channel == "whisper") {
      int64_t to = args::int_or(req.d(), "to", 0);
      if (to == 0 || to == s.id) {
        req.fail(ErrorCode::kBadRequest, "to: the other account of the conversation");
        return "";
      }
      return whisper_key(s.id, to);
    }
    if (channel == "party") {
      auto party = party_of_.find(s.id);
      if (party == party_of_.end()) {
        req.fail(ErrorCode::kNotFound, "you are in no party");
        return "";
      }
      return party->second;
    }
    if (channel == "guild") {
      auto guild = guild_of_.find(s.id);
      if (guild == guild_of_.end()) {
        req.fail(ErrorCode::kNotFound, "you are in no guild");
        return "";
      }
      return guild->second;
    }
    if (channel == "room") {
      req.fail(ErrorCode::kNotFound, "you are in no room");
      return "";
    }
    std::string name;
    if (!custom_name(channel, &name)) {
      req.fail(ErrorCode::kBadRequest, "channel: no such channel name");
      return "";
    }
    if (std::find(s.custom.begin(), s.custom.end(), name) == s.custom.end()) {
      req.fail(ErrorCode::kForbidden, "join '" + name + "' first (chat.join)");
      return "";
    }
    return "c:" + name;
  }

  void on_history(Request req) {
    auto it = speakers_.find(req.account_id());
    if (it == speakers_.end()) return req.fail(ErrorCode::kUnauthorized, "log in first");
    std::string key = readable_key(req, it->second);
    if (key.empty()) return;
    int64_t before = args::int_or(req.d(), "before", 0);
    size_t limit = static_cast<size_t>(args::int_or(req.d(), "limit", 50));
    size_t window = cfg_.history_window;
    struct Page {
      std::vector<StoredMessage> messages;
      bool more = false;
    };
    auto page = std::make_shared<Page>();
    log_->run(
        [key, before, limit, window, page](StoreContext& ctx) {
          return ChatRepo::history(ctx, key, before, limit, window, &page->messages, &page->more);
        },
        strand(), keep_alive([req = std::move(req), page](DbStatus st) mutable {
          if (!st.ok()) return services::fail_storage(req, st, lg());
          json list = json::array();
          for (const auto& m : page->messages) list.push_back(message_json(m));
          req.ok({{"messages", std::move(list)}, {"more", page->more}});
        }));
  }

  // ---- custom channels

  void on_join(Request req) {
    auto it = speakers_.find(req.account_id());
    if (it == speakers_.end()) return req.fail(ErrorCode::kUnauthorized, "log in first");
    std::string name;
    if (!custom_name(args::str(req.d(), "channel"), &name)) {
      return req.fail(ErrorCode::kBadRequest,
                      "channel: 1-24 of a-z 0-9 _ -, not world, zone, whisper, system, party, "
                      "guild or room");
    }
    Speaker& s = it->second;
    if (std::find(s.custom.begin(), s.custom.end(), name) != s.custom.end()) {
      return req.ok({{"channel", name}});
    }
    if (s.custom.size() >= cfg_.max_joined_channels) {
      json extra = {{"limit", cfg_.max_joined_channels}};
      return refuse(req, "full", ErrorCode::kFull, "you are in too many channels", &extra);
    }
    // Take the seat on the channel's strand first (its member cap), then
    // store the membership.
    int64_t id = s.id;
    uint32_t cap = cfg_.max_channel_members;
    uint32_t max_joined = cfg_.max_joined_channels;
    auto session = s.session;
    channels_.post_or_create("c:" + name, [this, req = std::move(req), name, id, cap, max_joined,
                                           session](Channel* ch, Channels::EntryPtr) mutable {
      if (!ch) {
        json extra = {{"limit", cfg_max_channels_}};
        return refuse(req, "full", ErrorCode::kFull, "too many channels exist", &extra);
      }
      if (!ch->members.count(id) && ch->members.size() >= cap) {
        json extra = {{"limit", cap}};
        return refuse(req, "full", ErrorCode::kFull, "channel '" + name + "' is full", &extra);
      }
      ch->members[id] = session;
      size_t members = ch->members.size();
      channels_gauge_.set(static_cast<int64_t>(channels_.size()));
      post([this, req = std::move(req), name, id, max_joined, members]() mutable {
        finish_join(std::move(req), name, id, max_joined, members);
      });
    });
  }

  void finish_join(Request req, const std::string& name, int64_t id, uint32_t max_joined,
                   size_t members) {
    auto full = std::make_shared<bool>(false);
    int64_t now = clock_.now_ms();
    log_->run(
        [id, name, now, max_joined, full](StoreContext& ctx) {
          return ChatRepo::join(ctx, id, name, now, max_joined, full.get());
        },
        strand(),
        keep_alive([this, req = std::move(req), name, id, full, members](DbStatus st) mutable {
          auto it = speakers_.find(id);
          if (!st.ok() || *full || it == speakers_.end()) {
            remove_member("c:" + name, id);
            if (!st.ok()) return services::fail_storage(req, st, lg());
            if (*full) {
              json extra = {{"limit", cfg_.max_joined_channels}};
              return refuse(req, "full", ErrorCode::kFull, "you are in too many channels", &extra);
            }
            return req.fail(ErrorCode::kUnauthorized, "log in first");
          }
          auto& custom = it->second.custom;
          if (std::find(custom.begin(), custom.end(), name) == custom.end()) custom.push_back(name);
          lg().info("account {} joined channel {}", id, name);
          req.ok({{"channel", name}, {"members", members}});
        }));
  }

  void on_leave(Request req) {
    auto it = speakers_.find(req.account_id());
    if (it == speakers_.end()) return req.fail(ErrorCode::kUnauthorized, "log in first");
    std::string name;
    if (!custom_name(args::str(req.d(), "channel"), &name)) {
      return req.fail(ErrorCode::kBadRequest, "channel: only custom channels can be left");
    }
    auto& custom = it->second.custom;
    auto pos = std::find(custom.begin(), custom.end(), name);
    if (pos == custom.end()) return req.fail(ErrorCode::kNotFound, "you are not in '" + name + "'");
    custom.erase(pos);
    int64_t id = it->second.id;
    remove_member("c:" + name, id);
    auto found = std::make_shared<bool>(false);
    log_->run([id, name,
               found](StoreContext& ctx) { return ChatRepo::leave(ctx, id, name, found.get()); },
              strand(), keep_alive([req = std::move(req)](DbStatus st) mutable {
                if (!st.ok()) return services::fail_storage(req, st, lg());
                req.ok();
              }));
  }

  void on_channels(Request req) {
    auto it = speakers_.find(req.account_id());
    if (it == speakers_.end()) return req.fail(ErrorCode::kUnauthorized, "log in first");
    json list = json::array({json{{"channel", "world"}}});
    if (!it->second.zone.empty()) list.push_back({{"channel", "zone"}, {"zone", it->second.zone}});
    if (party_of_.count(it->second.id)) list.push_back({{"channel", "party"}});
    if (guild_of_.count(it->second.id)) list.push_back({{"channel", "guild"}});
    for (const auto& c : it->second.custom) list.push_back({{"channel", c}, {"custom", true}});
    req.ok({{"channels", std::move(list)}});
  }

  // ---- moderation (admin routes; each action is audited)

  // A channel as operators name it: "world", "system", "zone:<id>", or a
  // custom name. "" if invalid.
  static std::string admin_key(const std::string& channel) {
    if (channel == "world" || channel == "system") return channel;
    if (channel.rfind("zone:", 0) == 0 && channel.size() > 5) return channel;
    if (channel == "zone") return "zone";  // every zone (freeze only)
    std::string name;
    return custom_name(channel, &name) ? "c:" + name : "";
  }

  void audit(const std::string& action, const std::string& target, const json& detail) {
    int64_t now = clock_.now_ms();
    std::string text = detail.dump();
    lg().info("audit: chat {} {} {}", action, target, text);
    log_->run([now, action, target,
               text](StoreContext& ctx) { return ChatRepo::audit(ctx, now, action, target, text); },
              strand(), keep_alive([action](DbStatus st) {
                if (!st.ok())
                  lg().error("audit record of chat {} not stored: {}", action, st.to_string());
              }));
  }

  void add_admin_routes(admin::Routes& admin) {
    auto self = shared_from_this();
    auto on = [self](void (Impl::*fn)(const json&, const admin::Respond&)) {
      return [self, fn](const json& body, admin::Respond respond) {
        self->post([impl = self.get(), fn, body, respond = std::move(respond)] {
          (impl->*fn)(body, respond);
        });
      };
    };
    constexpr int64_t kMaxMs = int64_t{253402300799000};  // year 9999
    admin.add_route(
        "POST", "/admin/chat/mute",
        {args::integer("account_id", 1, INT64_MAX), args::optional(args::str("channel", 1, 40)),
         args::optional(args::integer("duration_s", 1, int64_t{100} * 365 * 86400)),
         args::optional(args::integer("until_ms", 1, kMaxMs)),
         args::optional(args::str("reason", 0, 255))},
        on(&Impl::admin_mute));
    admin.add_route(
        "POST", "/admin/chat/unmute",
        {args::integer("account_id", 1, INT64_MAX), args::optional(args::str("channel", 1, 40))},
        on(&Impl::admin_unmute));
    admin.add_route("GET", "/admin/chat/mutes",
                    {args::optional(args::integer("account_id", 1, INT64_MAX))},
                    on(&Impl::admin_mutes));
    admin.add_route("POST", "/admin/chat/delete", {args::integer("id", 1, INT64_MAX)},
                    on(&Impl::admin_delete));
    admin.add_route("POST", "/admin/chat/system",
                    {args::str("channel", 1, 40), args::str("text", 1, 4000)},
                    on(&Impl::admin_system));
    admin.add_route("POST", "/admin/chat/freeze",
                    {args::str("channel", 1, 40), args::boolean("frozen")},
                    on(&Impl::admin_freeze));
    admin.add_route("POST", "/admin/chat/purge", {}, on(&Impl::admin_purge));
  }

  void admin_mute(const json& body, const admin::Respond& respond) {
    int64_t account = args::int_of(body, "account_id");
    std::string label = args::str_or(body, "channel", "");
    if (!label.empty() && label != "world" && label != "zone" && label != "whisper") {
      std::string name;
      if (!custom_name(label, &name)) {
        return respond(400, {{"error", "channel: world, zone, whisper or a custom name"}});
      }
      label = name;
    }
    int64_t now = clock_.now_ms();
    int64_t until = args::int_or(body, "until_ms", 0);
    if (until == 0) until = now + args::int_or(body, "duration_s", 3600) * 1000;
    if (until <= now) return respond(400, {{"error", "until_ms is in the past"}});
    Mute m{account, label, until, args::str_or(body, "reason", "muted by a moderator")};
    log_->run(
        [m](StoreContext& ctx) { return ChatRepo::set_mute(ctx, m); }, strand(),
        keep_alive([this, m, respond](DbStatus st) {
          if (!st.ok()) return respond(503, {{"error", st.to_string()}});
          json detail = {{"channel", m.channel}, {"until_ms", m.until_ms}, {"reason", m.reason}};
          audit("mute", "account:" + std::to_string(m.account_id), detail);
          if (auto it = speakers_.find(m.account_id); it != speakers_.end()) {
            it->second.mutes[m.channel] = {m.until_ms, m.reason};
            if (auto s = it->second.session.lock()) {
              s->post_push(*muted_op_, {{"channel", m.channel.empty() ? json() : json(m.channel)},
                                        {"until_ms", m.until_ms},
                                        {"reason", m.reason}});
            }
          }
          respond(200,
                  {{"account_id", m.account_id}, {"channel", m.channel}, {"until_ms", m.until_ms}});
        }));
  }

  void admin_unmute(const json& body, const admin::Respond& respond) {
    int64_t account = args::int_of(body, "account_id");
    std::string label = args::str_or(body, "channel", "");
    auto found = std::make_shared<bool>(false);
    log_->run(
        [account, label, found](StoreContext& ctx) {
          return ChatRepo::clear_mute(ctx, account, label, found.get());
        },
        strand(), keep_alive([this, account, label, found, respond](DbStatus st) {
          if (!st.ok()) return respond(503, {{"error", st.to_string()}});
          bool removed = *found;
          int64_t now = clock_.now_ms();
          if (auto it = speakers_.find(account); it != speakers_.end()) {
            it->second.mutes.erase(label);
            if (label.empty() && it->second.flood_muted_until > now) removed = true;
            if (label.empty()) it->second.flood_muted_until = 0;
          }
          if (label.empty()) {
            auto fm = flood_muted_.find(account);
            if (fm != flood_muted_.end()) {
              removed = removed || fm->second > now;
              flood_muted_.erase(fm);
            }
          }
          audit("unmute", "account:" + std::to_string(account), {{"channel", label}});
          respond(200, {{"account_id", account}, {"removed", removed}});
        }));
  }

  void admin_mutes(const json& q, const admin::Respond& respond) {
    int64_t account = args::int_or(q, "account_id", 0);
    auto list = std::make_shared<std::vector<Mute>>();
    int64_t now = clock_.now_ms();
    log_->run([account, now,
               list](StoreContext& ctx) { return ChatRepo::mutes(ctx, account, now, list.get()); },
              strand(), keep_alive([list, respond](DbStatus st) {
                if (!st.ok()) return respond(503, {{"error", st.to_string()}});
                json out = json::array();
                for (const auto& m : *list) {
                  out.push_back({{"account_id", m.account_id},
                                 {"channel", m.channel},
                                 {"until_ms", m.until_ms},
                                 {"reason", m.reason}});
                }
                respond(200, {{"mutes", std::move(out)}});
              }));
  }

  void admin_delete(const json& body, const admin::Respond& respond) {
    int64_t id = args::int_of(body, "id");
    auto channel = std::make_shared<std::string>();
    auto to = std::make_shared<int64_t>(0);
    log_->run(
        [id, channel, to](StoreContext& ctx) {
          return ChatRepo::remove(ctx, id, channel.get(), to.get());
        },
        strand(), keep_alive([this, id, channel, to, respond](DbStatus st) {
          if (!st.ok()) return respond(503, {{"error", st.to_string()}});
          if (channel->empty())
            return respond(404, {{"error", "no message " + std::to_string(id)}});
          audit("delete", "message:" + std::to_string(id), {{"channel", *channel}});
          json d = {{"id", id}, {"channel", label_of(*channel)}};
          if (channel->rfind("w:", 0) == 0) {
            d["to"] = *to;  // as in the whisper's chat.msg
            // The two accounts of the conversation.
            auto colon = channel->find(':', 2);
            for (const std::string& part :
                 {channel->substr(2, colon - 2), channel->substr(colon + 1)}) {
              int64_t acct = std::strtoll(part.c_str(), nullptr, 10);
              if (auto it = speakers_.find(acct); it != speakers_.end()) {
                if (auto s = it->second.session.lock()) s->post_push(*deleted_op_, d);
              }
            }
          } else {
            std::string key = *channel == "system" ? "world" : *channel;
            channels_.post(key, [this, d](Channel* ch, auto) {
              if (!ch) return;
              services::Fanout out(*deleted_op_, std::make_shared<const gateway::SharedBody>(d));
              for (const auto& [member, weak] : ch->members) out.add(weak.lock());
              out.send();
            });
          }
          respond(200, {{"id", id}, {"channel", label_of(*channel)}});
        }));
  }

  void admin_system(const json& body, const admin::Respond& respond) {
    std::string key = admin_key(args::str(body, "channel"));
    if (key.empty() || key == "zone") {
      return respond(400, {{"error", "channel: system, world, zone:<id> or a custom name"}});
    }
    std::string text;
    TextVerdict v = clean_text(args::str(body, "text"), 4000, &text);
    if (v == TextVerdict::kEmpty) return respond(400, {{"error", "text: nothing to send"}});
    // System text goes to everyone online; others to the channel's members.
    std::string deliver_to = key == "system" ? "world" : key;
    log_->reserve();
    StoredMessage m{0, key, 0, "System", 0, std::move(text), 0};
    channels_.post(deliver_to, [this, m = std::move(m), respond](Channel* ch, auto) mutable {
      m.id = next_id_.fetch_add(1);
      m.ts = clock_.now_ms();
      size_t n = 0;
      if (ch) {
        services::Fanout out(*msg_op_,
                             std::make_shared<const gateway::SharedBody>(message_json(m)));
        for (const auto& [id, weak] : ch->members) out.add(weak.lock());
        n = out.size();
        delivered_.inc(n);
        out.send();
      }
      json answer = {{"id", m.id}, {"ts", m.ts}, {"delivered", n}};
      std::string target = m.channel;
      log_->append(std::move(m));
      post([this, target, answer, respond] {
        audit("system", target, answer);
        respond(200, answer);
      });
    });
  }

  void admin_freeze(const json& body, const admin::Respond& respond) {
    std::string key = admin_key(args::str(body, "channel"));
    if (key.empty() || key == "system") {
      return respond(400, {{"error", "channel: world, zone, zone:<id> or a custom name"}});
    }
    bool frozen = body.value("frozen", false);
    int64_t now = clock_.now_ms();
    log_->run([key, frozen,
               now](StoreContext& ctx) { return ChatRepo::set_frozen(ctx, key, frozen, now); },
              strand(), keep_alive([this, key, frozen, respond](DbStatus st) {
                if (!st.ok()) return respond(503, {{"error", st.to_string()}});
                if (frozen) {
                  frozen_.insert(key);
                } else {
                  frozen_.erase(key);
                }
                audit(frozen ? "freeze" : "unfreeze", key, json::object());
                respond(200, {{"channel", key}, {"frozen", frozen}});
              }));
  }

  // Deletes messages older than chat.retention_days, a step at a time.
  template <class Done>
  void purge(Done done) {
    int64_t cutoff = clock_.now_ms() - int64_t{cfg_.retention_days} * 86400000;
    auto total = std::make_shared<uint64_t>(0);
    purge_step(cutoff, total, std::make_shared<Done>(std::move(done)));
  }
  template <class Done>
  void purge_step(int64_t cutoff, std::shared_ptr<uint64_t> total, std::shared_ptr<Done> done) {
    auto n = std::make_shared<uint64_t>(0);
    log_->run([cutoff,
               n](StoreContext& ctx) { return ChatRepo::purge(ctx, cutoff, kPurgeBatch, n.get()); },
              strand(), keep_alive([this, cutoff, total, n, done](DbStatus st) {
                *total += *n;
                if (st.ok() && *n == static_cast<uint64_t>(kPurgeBatch)) {
                  return purge_step(cutoff, total, done);
                }
                if (*total > 0) lg().info("chat retention: {} old messages deleted", *total);
                (*done)(st, *total);
              }));
  }

  void admin_purge(const json&, const admin::Respond& respond) {
    purge([this, respond](DbStatus st, uint64_t deleted) {
      if (!st.ok()) return respond(503, {{"error", st.to_string()}});
      audit("purge", "messages", {{"deleted", deleted}});
      respond(200, {{"deleted", deleted}, {"retention_days", cfg_.retention_days}});
    });
  }

  ChatConfig cfg_;  // strand
  const Clock& clock_;
  std::shared_ptr<ChatLog> log_;
  Channels channels_;
  const uint32_t cfg_max_channels_ = cfg_.max_channels;
  mutable std::mutex filter_mu_;
  std::shared_ptr<const WordFilter> filter_;  // guarded by filter_mu_
  std::atomic<int64_t> next_id_{1};
  metrics::Gauge& channels_gauge_;
  metrics::Counter& sent_;
  metrics::Counter& delivered_;
  metrics::Counter& masked_;
  metrics::Counter& offline_stored_;
  std::unordered_map<std::string, metrics::Counter*> refused_;  // fixed after construction
  std::unordered_map<int64_t, int64_t> flood_muted_;  // offline account -> until_ms (strand)
  const gateway::PushOp* msg_op_ = nullptr;
  const gateway::PushOp* deleted_op_ = nullptr;
  const gateway::PushOp* muted_op_ = nullptr;

  // Strand state:
  std::unordered_map<int64_t, Speaker> speakers_;
  std::unordered_set<std::string> frozen_;             // storage keys ("zone" = every zone)
  std::unordered_map<int64_t, std::string> party_of_;  // account -> "party:<id>" (from social)
  std::unordered_map<int64_t, std::string> guild_of_;  // account -> "guild:<id>" (from social)
  uint64_t generation_ = 0;
};

services::ServiceDef service_def() {
  return services::ServiceDef{"chat",
                              {&chat_section()},
                              migrations(),
                              {kMuted, kTextRejected, kChannelFrozen},
                              &services::ActorService<Impl>::create};
}

}  // namespace shardd::chat
