// Backend and pool-wait sampling over blocking libpq connections, off the load thread.
#include "sampler.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

#include <libpq-fe.h>

namespace bench {
namespace {

const char* backends_sql =
    "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()";

PGconn* open(const std::string& url) {
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    PQfinish(c);
    return nullptr;
  }
  return c;
}

int scalar(PGconn* c, const char* sql) {
  PGresult* r = PQexec(c, sql);
  int v = -1;
  if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) v = std::atoi(PQgetvalue(r, 0, 0));
  PQclear(r);
  return v;
}

// SHOW POOLS summed over the application pools (not the console's own row): cl_waiting and the longest maxwait.
bool show_pools(PGconn* c, int& waiting, double& maxwait) {
  PGresult* r = PQexec(c, "SHOW POOLS");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) { PQclear(r); return false; }
  const int db = PQfnumber(r, "database"), w = PQfnumber(r, "cl_waiting"), mw = PQfnumber(r, "maxwait"),
            mwu = PQfnumber(r, "maxwait_us");
  waiting = 0;
  maxwait = 0;
  for (int i = 0; i < PQntuples(r); ++i) {
    const char* name = db >= 0 ? PQgetvalue(r, i, db) : "";
    if (std::strcmp(name, "pgbouncer") == 0 || std::strcmp(name, "pgfunnel") == 0) continue;
    if (w >= 0) waiting += std::atoi(PQgetvalue(r, i, w));
    double m = mw >= 0 ? std::atof(PQgetvalue(r, i, mw)) : 0;
    if (mwu >= 0) m += std::atof(PQgetvalue(r, i, mwu)) / 1e6;
    maxwait = std::max(maxwait, m);
  }
  PQclear(r);
  return true;
}

template <class T>
void raise(std::atomic<T>& a, T v) {
  T cur = a.load();
  while (v > cur && !a.compare_exchange_weak(cur, v)) {}
}

}  // namespace

int count_backends(const std::string& url) {
  PGconn* c = open(url);
  if (c == nullptr) return -1;
  const int n = scalar(c, backends_sql);
  PQfinish(c);
  return n;
}

std::string detect_console(const std::string& setting, const std::string& target_url) {
  if (setting == "off") return "";
  if (setting != "auto") return setting;
  // The target's own address and credentials, database pgbouncer: PostgreSQL has no such database and says so.
  const std::string url = target_url + (target_url.find("://") != std::string::npos
                                            ? std::string(target_url.find('?') == std::string::npos ? "?" : "&") + "dbname=pgbouncer"
                                            : " dbname=pgbouncer");
  PGconn* c = open(url);
  if (c == nullptr) return "";
  int w = 0;
  double m = 0;
  const bool ok = show_pools(c, w, m);
  PQfinish(c);
  return ok ? url : "";
}

sampler::sampler(std::string admin_url, std::string console_url)
    : admin_(std::move(admin_url)), console_(std::move(console_url)), thread_([this] { loop(); }) {}

sampler::~sampler() {
  stop_ = true;
  thread_.join();
}

void sampler::loop() {
  PGconn* admin = admin_.empty() ? nullptr : open(admin_);
  PGconn* console = console_.empty() ? nullptr : open(console_);
  if (admin != nullptr) max_connections_ = scalar(admin, "SELECT current_setting('max_connections')::int");
  while (!stop_) {
    if (admin != nullptr) raise(backends_window_, scalar(admin, backends_sql));
    int w = 0;
    double m = 0;
    if (console != nullptr && show_pools(console, w, m)) {
      console_ok_ = true;
      raise(waiting_window_, w);
      raise(maxwait_window_, m);
    }
    // The sampling period: a sleep here paces measurement, it synchronises nothing.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (admin != nullptr) PQfinish(admin);
  if (console != nullptr) PQfinish(console);
}

}  // namespace bench
