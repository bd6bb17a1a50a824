// pgfunnel-bench: serverless load model against PostgreSQL or pgfunnel; see --help.
#include <unistd.h>

#include <cstdio>

#include "args.hpp"
#include "load.hpp"
#include "outputs.hpp"
#include "sampler.hpp"

int main(int argc, char** argv) {
  const bench::options o = bench::parse_args(argc, argv);
  const bool tty = ::isatty(2) != 0;
  const int baseline = o.admin_url.empty() ? -1 : bench::count_backends(o.admin_url);
  if (!o.admin_url.empty() && baseline < 0) {
    std::fprintf(stderr, "pgfunnel-bench: --admin-url does not answer\n");
    return 1;
  }
  // --clients runs each target once per client mode: all of a target's runs before the next target, as a
  // pooler keeps its servers open after its run and the next target would find them.
  std::vector<std::pair<bench::target, bench::options>> plan;
  for (const auto& t : o.targets) {
    if (o.clients.empty()) plan.emplace_back(t, o);
    for (const auto& mode : o.clients) {
      bench::options each = o;
      each.client = mode;
      plan.emplace_back(bench::target{t.name + "/" + mode, t.url}, each);
    }
  }
  std::vector<bench::run_result> runs;
  for (size_t i = 0; i < plan.size(); ++i) {
    // Each target gets PostgreSQL as the first found it: wait for the previous target's backends to go.
    // Not after a run on the same pgfunnel: the servers it keeps are its pool, the thing measured.
    const bool same_pooler = i > 0 && runs.back().console && plan[i - 1].first.url == plan[i].first.url;
    if (i > 0 && baseline >= 0 && !same_pooler) {
      int n = 0;
      for (int tries = 0; (n = bench::count_backends(o.admin_url)) > baseline && tries < o.settle_timeout_s * 10; ++tries)
        usleep(100000);  // polling a condition, with a bound
      if (n > baseline) std::fprintf(stderr, "pgfunnel-bench: note: %d backends still there before %s\n", n, plan[i].first.name.c_str());
    }
    runs.push_back(bench::run_load(plan[i].second, plan[i].first, [&](const bench::run_result& r, double t) {
      if (!o.quiet) bench::print_progress(r, t, tty);
    }));
    if (!o.quiet) bench::end_progress(tty);
  }
  bench::print_table(runs);
  if (!o.json_file.empty() && !bench::write_json(o.json_file, o, runs)) {
    std::fprintf(stderr, "pgfunnel-bench: cannot write %s\n", o.json_file.c_str());
    return 1;
  }
  if (!o.report_file.empty()) {
    if (!bench::write_html(o.report_file, o, runs)) {
      std::fprintf(stderr, "pgfunnel-bench: cannot write %s\n", o.report_file.c_str());
      return 1;
    }
    std::printf("report: %s\n", o.report_file.c_str());
  }
  return 0;
}
