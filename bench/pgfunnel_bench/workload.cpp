// Request SQL: the built-in transactions and :variable substitution.
#include "workload.hpp"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace bench {

workload::workload(const options& o) : scale_(std::max(1L, o.scale)) {
  if (o.workload == "select1") {
    text_ = "SELECT 1";
  } else if (o.workload == "tpcb-like") {
    text_ =
        "UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid; "
        "SELECT abalance FROM pgbench_accounts WHERE aid = :aid; "
        "UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid; "
        "UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid; "
        "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP)";
  } else {
    std::ifstream in(o.sql_file);
    if (!in) {
      std::fprintf(stderr, "pgfunnel-bench: --sql: cannot read '%s' (try --help)\n", o.sql_file.c_str());
      std::exit(2);
    }
    std::stringstream ss;
    ss << in.rdbuf();
    text_ = ss.str();
    while (!text_.empty() && (text_.back() == '\n' || text_.back() == ';' || text_.back() == ' ')) text_.pop_back();
  }
}

std::string workload::body(std::mt19937_64& rng, bool open) const {
  auto pick = [&](long lo, long hi) { return std::to_string(std::uniform_int_distribution<long>(lo, hi)(rng)); };
  const std::string vars[][2] = {{":aid", pick(1, 100000 * scale_)}, {":bid", pick(1, scale_)},
                                 {":tid", pick(1, 10 * scale_)}, {":delta", pick(-5000, 5000)}};
  std::string s = text_;
  for (const auto& v : vars)
    for (size_t p = s.find(v[0]); p != std::string::npos; p = s.find(v[0], p + v[1].size())) s.replace(p, v[0].size(), v[1]);
  // Multi-statement bodies run as one implicit transaction; an explicit one only when it must stay open.
  return open ? "BEGIN; " + s : s;
}

}  // namespace bench
