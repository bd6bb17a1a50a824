// The final table: one column per target, so a --compare reads across.
#include <cstdio>
#include <set>
#include <string>

#include "outputs.hpp"

namespace bench {
namespace {
std::string num(double v, const char* f = "%.1f") {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}
std::string opt(int v) { return v < 0 ? "-" : std::to_string(v); }
}  // namespace

void print_table(const std::vector<run_result>& runs) {
  std::vector<std::pair<std::string, std::vector<std::string>>> rows;
  auto row = [&](const std::string& name, auto f) {
    std::vector<std::string> cells;
    for (const auto& r : runs) cells.push_back(f(r));
    rows.emplace_back(name, cells);
  };
  row("", [](const run_result& r) { return r.name; });
  row("client", [](const run_result& r) { return r.client; });
  row("instances", [](const run_result& r) { return std::to_string(r.instances_started); });
  row("attempts", [](const run_result& r) { return std::to_string(r.attempts); });
  row("successes", [](const run_result& r) { return std::to_string(r.successes); });
  row("failures", [](const run_result& r) { return std::to_string(r.failures); });
  for (int k = 0; k < kind_count; ++k) {
    bool any = false;
    for (const auto& r : runs) any = any || r.by_kind[k] > 0;
    if (any) row(std::string("  ") + kind_name(k), [k](const run_result& r) { return std::to_string(r.by_kind[k]); });
  }
  row("throughput ok/s", [](const run_result& r) { return num(r.elapsed_s > 0 ? r.successes / r.elapsed_s : 0); });
  for (const char* what : {"connect", "request"})
    for (double p : {50.0, 90.0, 99.0, 100.0}) {
      const std::string n = std::string(what) + (p == 100 ? " max" : " p" + num(p, "%.0f")) + " ms";
      row(n, [what, p](const run_result& r) {
        const histogram& h = std::string(what) == "connect" ? r.connect : r.request;
        if (h.count() == 0) return std::string("-");
        return num(p == 100 ? h.max_ms() : h.percentile_ms(p));
      });
    }
  row("backends peak", [](const run_result& r) { return opt(r.backends_peak); });
  row("max_connections", [](const run_result& r) { return opt(r.max_connections); });
  row("cl_waiting peak", [](const run_result& r) { return r.console ? opt(r.cl_waiting_peak) : "-"; });
  row("maxwait peak s", [](const run_result& r) { return r.console ? num(r.maxwait_peak_s, "%.3f") : "-"; });
  size_t w0 = 0;
  std::vector<size_t> w(runs.size(), 0);
  for (auto& [n, cells] : rows) {
    w0 = std::max(w0, n.size());
    for (size_t i = 0; i < cells.size(); ++i) w[i] = std::max(w[i], cells[i].size());
  }
  for (auto& [n, cells] : rows) {
    std::printf("%-*s", static_cast<int>(w0), n.c_str());
    for (size_t i = 0; i < cells.size(); ++i) std::printf("  %*s", static_cast<int>(w[i]), cells[i].c_str());
    std::printf("\n");
  }
  for (const auto& r : runs)
    for (const auto& [key, count] : r.errors)
      std::printf("%s: %ld x %s %s\n", r.name.c_str(), count, key.first.c_str(), key.second.c_str());
}

}  // namespace bench
