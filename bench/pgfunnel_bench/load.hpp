// The serverless load model and its event loop: instances, arrivals, clients, requests over non-blocking libpq.
#pragma once
#include <functional>

#include "args.hpp"
#include "results.hpp"

namespace bench {

// Runs the seeded load against one target; `tick` is called once a second with the series so far.
run_result run_load(const options& o, const target& t, const std::function<void(const run_result&, double)>& tick);

}  // namespace bench
