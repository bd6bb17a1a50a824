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
  std::vector<bench::run_result> runs;
  for (size_t i = 0; i < o.targets.size(); ++i) {
    // Each target gets PostgreSQL as the first found it: wait for the previous target's backends to go.
    if (i > 0 && baseline >= 0) {
      int n = 0;
      for (int tries = 0; (n = bench::count_backends(o.admin_url)) > baseline && tries < o.settle_timeout_s * 10; ++tries)
        usleep(100000);  // polling a condition, with a bound
      if (n > baseline) std::fprintf(stderr, "pgfunnel-bench: note: %d backends still there before %s\n", n, o.targets[i].name.c_str());
    }
    runs.push_back(bench::run_load(o, o.targets[i], [&](const bench::run_result& r, double t) {
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
