// The SQL each request runs: select1, pgbench's tpcb-like, or a file, with pgbench-style random keys.
#pragma once
#include <random>
#include <string>

#include "args.hpp"

namespace bench {

class workload {
 public:
  explicit workload(const options& o);  // reads --sql FILE; exits 2 when it cannot
  // The transaction body (BEGIN ... without the final COMMIT when `open` is set, for --think).
  std::string body(std::mt19937_64& rng, bool open) const;

 private:
  std::string text_;
  long scale_;
};

}  // namespace bench
