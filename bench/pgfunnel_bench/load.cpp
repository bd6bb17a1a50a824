// One thread, one poll() over every connection: instances cold-start, open connections, run requests, die.
#include "load.hpp"

#include <poll.h>
#include <sys/resource.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <deque>
#include <list>
#include <memory>
#include <random>

#include <libpq-fe.h>

#include "sampler.hpp"
#include "workload.hpp"

namespace bench {
namespace {

using clk = std::chrono::steady_clock;
double secs(clk::duration d) { return std::chrono::duration<double>(d).count(); }

struct request;
struct instance;

struct connection {
  PGconn* pg = nullptr;
  bool up = false;
  PostgresPollingStatusType ps = PGRES_POLLING_WRITING;
  double started = 0;
  request* user = nullptr;
  instance* owner = nullptr;
};

enum class stage { waiting, connecting, body, thinking, commit };

struct request {
  instance* inst = nullptr;
  double arrived = 0, think_until = 0;
  stage st = stage::waiting;
  connection* conn = nullptr;
  bool failed = false;
  failure why;
  int loop = -1;  // the closed-loop slot it came from, -1 for open loop
};

struct instance {
  double spawned = 0, ready = 0, dies = 0;
  bool closed_loop = false;
  std::vector<double> next_at;  // per closed-loop slot: when its next request may start (-1: one is running)
  std::list<std::unique_ptr<connection>> pool;
  std::deque<request*> queue;  // requests waiting for a pool connection
  int in_flight = 0;
  bool dead = false;
};

void raise_nofile() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

class engine {
 public:
  engine(const options& o, const target& t) : o_(o), w_(o), rng_(o.seed) {
    r_.name = t.name;
    r_.url = t.url;
    r_.client = o.client;
    url_ = t.url;
    // Arrival times drawn up front from the seed, so every target gets the same load.
    for (const auto& b : o.bursts)
      for (long i = 0; i < b.instances; ++i) spawn_at_.push_back(b.at_s);
    for (long i = 0; i < o.ramp_instances; ++i)
      spawn_at_.push_back(o.ramp_instances > 1 ? o.ramp_s * static_cast<double>(i) / static_cast<double>(o.ramp_instances - 1) : 0);
    for (long i = 0; i < o.concurrency; ++i) spawn_at_.push_back(0);
    std::sort(spawn_at_.begin(), spawn_at_.end());
    if (o.rate > 0) {
      std::exponential_distribution<double> gap(o.rate);
      for (double t = gap(rng_); t < o.duration_s; t += gap(rng_)) arrivals_.push_back(t);
    }
  }

  run_result run(const std::function<void(const run_result&, double)>& tick) {
    raise_nofile();
    const std::string console = detect_console(o_.console_url, url_);
    sampler s(o_.admin_url, console);
    t0_ = clk::now();
    size_t next_spawn = 0, next_arrival = 0;
    double next_second = 1;
    r_.series.emplace_back();
    std::vector<pollfd> fds;
    std::vector<connection*> polled;
    for (;;) {
      const double t = now();
      stopping_ = t >= o_.duration_s || (o_.requests > 0 && r_.attempts >= o_.requests);
      if (!stopping_) {
        for (; next_spawn < spawn_at_.size() && spawn_at_[next_spawn] <= t; ++next_spawn) spawn(spawn_at_[next_spawn], true);
        for (; next_arrival < arrivals_.size() && arrivals_[next_arrival] <= t; ++next_arrival) route(arrivals_[next_arrival]);
      }
      step_instances(t);
      if (t >= next_second) {
        second& cur = r_.series.back();
        cur.instances = live();
        cur.in_flight = in_flight_;
        cur.backends = s.take_backends();
        cur.cl_waiting = s.take_cl_waiting();
        cur.maxwait_s = s.take_maxwait();
        r_.backends_peak = std::max(r_.backends_peak, cur.backends);
        r_.cl_waiting_peak = std::max(r_.cl_waiting_peak, cur.cl_waiting);
        r_.maxwait_peak_s = std::max(r_.maxwait_peak_s, cur.maxwait_s);
        r_.elapsed_s = t;
        tick(r_, t);
        r_.series.emplace_back();
        next_second += 1;
      }
      if (stopping_ && in_flight_ == 0) break;

      fds.clear();
      polled.clear();
      for (auto& i : instances_)
        for (auto& c : i->pool) {
          short ev = 0;
          if (!c->up) ev = c->ps == PGRES_POLLING_READING ? POLLIN : POLLOUT;
          else if (c->user != nullptr && (c->user->st == stage::body || c->user->st == stage::commit)) ev = POLLIN;
          if (ev == 0) continue;
          fds.push_back({PQsocket(c->pg), ev, 0});
          polled.push_back(c.get());
        }
      if (::poll(fds.data(), fds.size(), 5) < 0 && errno != EINTR) break;
      for (size_t i = 0; i < polled.size(); ++i)
        if (fds[i].revents != 0) on_ready(*polled[i]);
    }
    r_.elapsed_s = now();
    for (auto& i : instances_) close_instance(*i);
    // The last partial second keeps its counts, then the final samples.
    second& last = r_.series.back();
    last.backends = s.take_backends();
    r_.backends_peak = std::max(r_.backends_peak, last.backends);
    r_.max_connections = s.max_connections();
    r_.console = s.console_ok();
    r_.failures = r_.attempts - r_.successes;
    return std::move(r_);
  }

 private:
  double now() const { return secs(clk::now() - t0_); }
  long live() const {
    long n = 0;
    for (auto& i : instances_) n += i->dead ? 0 : 1;
    return n;
  }

  instance* spawn(double at, bool closed) {
    auto i = std::make_unique<instance>();
    i->spawned = now();
    i->ready = i->spawned + o_.cold_start_ms / 1000.0;
    i->dies = i->spawned + o_.lifetime_s;
    i->closed_loop = closed;
    if (closed) i->next_at.assign(1, i->ready);
    ++r_.instances_started;
    instances_.push_back(std::move(i));
    return instances_.back().get();
  }

  // Open loop: an instance with nothing in flight takes the request, else a new one cold-starts for it.
  void route(double at) {
    instance* pick = nullptr;
    for (auto& i : instances_)
      if (!i->dead && !i->closed_loop && i->in_flight == 0 && now() < i->dies) { pick = i.get(); break; }
    if (pick == nullptr && live() < o_.max_instances) pick = spawn(at, false);
    if (pick == nullptr)
      for (auto& i : instances_)
        if (!i->dead && !i->closed_loop && (pick == nullptr || i->in_flight < pick->in_flight)) pick = i.get();
    if (pick != nullptr) start_request(*pick, -1);
  }

  void start_request(instance& i, int loop) {
    if (o_.requests > 0 && r_.attempts >= o_.requests) return;  // --requests counts attempts, exactly
    auto* rq = new request;
    rq->inst = &i;
    rq->arrived = now();
    rq->loop = loop;
    if (loop >= 0) i.next_at[static_cast<size_t>(loop)] = -1;
    ++i.in_flight;
    ++in_flight_;
    ++r_.attempts;
    ++r_.series.back().attempts;
    i.queue.push_back(rq);
  }

  void step_instances(double t) {
    for (auto& ip : instances_) {
      instance& i = *ip;
      if (i.dead) continue;
      const bool alive = t < i.dies && !stopping_;
      if (alive && i.closed_loop)
        for (size_t l = 0; l < i.next_at.size(); ++l)
          if (i.next_at[l] >= 0 && i.next_at[l] <= t) start_request(i, static_cast<int>(l));
      if (t >= i.ready) assign(i, t);
      check_timeouts(i, t);
      if (!alive && i.in_flight == 0) {
        close_instance(i);
        // --concurrency keeps N instances: a dead one is replaced by a new cold start.
        if (i.closed_loop && o_.concurrency > 0 && !stopping_ && spawned_replacements_ < 1000000) {
          ++spawned_replacements_;
          replacements_.push_back(t);
        }
      }
    }
    for (double at : replacements_) spawn(at, true);
    replacements_.clear();
  }

  // Hands waiting requests a connection: an idle pooled one, a new one within the pool's size, or (per-request) always new.
  void assign(instance& i, double t) {
    const bool per_request = o_.client == "per-request";
    while (!i.queue.empty()) {
      request* rq = i.queue.front();
      connection* c = nullptr;
      if (!per_request)
        for (auto& pc : i.pool)
          if (pc->up && pc->user == nullptr) { c = pc.get(); break; }
      if (c == nullptr) {
        if (!per_request && static_cast<long>(i.pool.size()) >= o_.instance_pool) {
          if (t - rq->arrived > o_.pool_timeout_s) {
            i.queue.pop_front();
            fail(*rq, {"P2024", "timed out waiting for a connection from the instance's pool", pool_timeout});
            continue;
          }
          return;
        }
        c = open(i);
        if (c == nullptr) {
          i.queue.pop_front();
          continue;  // failed at once, already counted
        }
      }
      i.queue.pop_front();
      rq->conn = c;
      c->user = rq;
      if (c->up) send_body(*rq);
      else rq->st = stage::connecting;
    }
  }

  connection* open(instance& i) {
    auto c = std::make_unique<connection>();
    c->owner = &i;
    c->started = now();
    c->pg = PQconnectStart(url_.c_str());
    if (c->pg == nullptr || PQstatus(c->pg) == CONNECTION_BAD) {
      request* rq = i.queue.front();
      const std::string m = c->pg != nullptr ? PQerrorMessage(c->pg) : "out of memory";
      if (c->pg != nullptr) PQfinish(c->pg);
      fail(*rq, classify(m, nullptr));
      return nullptr;
    }
    PQsetErrorVerbosity(c->pg, PQERRORS_VERBOSE);  // puts the SQLSTATE into connection error messages
    i.pool.push_back(std::move(c));
    return i.pool.back().get();
  }

  void drop(connection& c) {
    instance& i = *c.owner;
    for (auto it = i.pool.begin(); it != i.pool.end(); ++it)
      if (it->get() == &c) {
        PQfinish(c.pg);
        i.pool.erase(it);
        return;
      }
  }

  void on_ready(connection& c) {
    request* rq = c.user;
    if (!c.up) {
      c.ps = PQconnectPoll(c.pg);
      if (c.ps == PGRES_POLLING_FAILED) {
        const failure f = classify(PQerrorMessage(c.pg), nullptr);
        drop(c);
        if (rq != nullptr) { rq->conn = nullptr; fail(*rq, f); }
        return;
      }
      if (c.ps != PGRES_POLLING_OK) return;
      c.up = true;
      PQsetnonblocking(c.pg, 1);
      r_.connect.record((now() - c.started) * 1000.0);
      if (rq != nullptr) send_body(*rq);
      return;
    }
    if (rq == nullptr) return;
    if (PQconsumeInput(c.pg) == 0) {
      rq->why = classify(PQerrorMessage(c.pg), nullptr);
      rq->failed = true;
      finish(*rq);
      return;
    }
    while (PQisBusy(c.pg) == 0) {
      PGresult* res = PQgetResult(c.pg);
      if (res == nullptr) {
        if (!rq->failed && rq->st == stage::body && o_.think_ms > 0) {
          rq->st = stage::thinking;
          rq->think_until = now() + o_.think_ms / 1000.0;
          return;
        }
        finish(*rq);
        return;
      }
      if (PQresultStatus(res) == PGRES_FATAL_ERROR && !rq->failed) {
        rq->failed = true;
        rq->why = classify(PQresultErrorMessage(res), PQresultErrorField(res, PG_DIAG_SQLSTATE));
      }
      PQclear(res);
    }
  }

  void send_body(request& rq) {
    rq.st = stage::body;
    send(rq, w_.body(rng_, o_.think_ms > 0));
  }

  void send(request& rq, const std::string& sql) {
    if (PQsendQuery(rq.conn->pg, sql.c_str()) == 0) {
      rq.failed = true;
      rq.why = classify(PQerrorMessage(rq.conn->pg), nullptr);
      finish(rq);
      return;
    }
    while (PQflush(rq.conn->pg) == 1) {}  // short transactions: the query fits the socket buffer
  }

  void check_timeouts(instance& i, double t) {
    for (auto& c : i.pool) {
      request* rq = c->user;
      if (rq == nullptr) continue;
      if (rq->st == stage::thinking && t >= rq->think_until) {
        rq->st = stage::commit;
        send(*rq, "COMMIT");
        return;  // the pool may have changed
      }
      if (!c->up && t - c->started > o_.connect_timeout_s) {
        rq->why = {"timeout", "no connection within --connect-timeout", connect_timeout};
        rq->failed = true;
        finish(*rq);
        return;
      }
      if (t - rq->arrived > o_.request_timeout_s) {
        rq->why = {"timeout", "request not done within --request-timeout", request_timeout};
        rq->failed = true;
        finish(*rq);
        return;
      }
    }
  }

  void fail(request& rq, failure f) {
    rq.failed = true;
    rq.why = std::move(f);
    finish(rq);
  }

  // Every attempt ends here once: a success or one failure.
  void finish(request& rq) {
    instance& i = *rq.inst;
    second& cur = r_.series.back();
    if (rq.failed) {
      ++r_.by_kind[rq.why.k];
      ++cur.errors[rq.why.k];
      ++r_.errors[{rq.why.code, rq.why.message}];
    } else {
      ++r_.successes;
      ++cur.ok;
      const double ms = (now() - rq.arrived) * 1000.0;
      r_.request.record(ms);
      cur.latency.record(ms);
    }
    if (connection* c = rq.conn) {
      c->user = nullptr;
      // A per-request client closes; a pooled one that failed mid-transaction or lost its server is not reused.
      if (o_.client == "per-request" || !c->up || PQstatus(c->pg) != CONNECTION_OK ||
          PQtransactionStatus(c->pg) != PQTRANS_IDLE)
        drop(*c);
    }
    if (rq.loop >= 0) i.next_at[static_cast<size_t>(rq.loop)] = now() + o_.interval_ms / 1000.0;
    --i.in_flight;
    --in_flight_;
    delete &rq;
  }

  void close_instance(instance& i) {
    for (auto& c : i.pool) PQfinish(c->pg);
    i.pool.clear();
    i.dead = true;
  }

  const options& o_;
  workload w_;
  std::mt19937_64 rng_;
  std::string url_;
  run_result r_;
  clk::time_point t0_;
  std::vector<double> spawn_at_, arrivals_, replacements_;
  std::vector<std::unique_ptr<instance>> instances_;
  long in_flight_ = 0, spawned_replacements_ = 0;
  bool stopping_ = false;
};

}  // namespace

run_result run_load(const options& o, const target& t, const std::function<void(const run_result&, double)>& tick) {
  engine e(o, t);
  return e.run(tick);
}

}  // namespace bench
