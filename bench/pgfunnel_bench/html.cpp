// --report: a self-contained HTML page (no scripts, no network) with SVG line charts drawn here.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "outputs.hpp"

namespace bench {
namespace {

struct line { std::string label, colour, dash; std::vector<std::pair<double, double>> pts; };

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}
std::string f(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

const char* colours[] = {"#d62728", "#ff7f0e", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b"};
// Legend-sized names of the failure kinds.
const char* short_kind(int k) {
  static const char* n[] = {"53300", "query_wait_timeout", "connect_timeout", "08006", "pool_timeout", "request_timeout", "other"};
  return n[k];
}
const char* dashes[] = {"", "6 3", "2 2", "8 3 2 3", "1 4", "10 4", "4 4"};

// One chart: x is seconds, y from 0 to the largest value (or the reference line, e.g. max_connections).
std::string chart(const std::string& title, const std::string& unit, const std::vector<line>& lines, double ref = -1,
                  const std::string& ref_label = "") {
  const double W = 800, H = 260, L = 60, R = 230, T = 30, B = 36;
  double xmax = 1, ymax = std::max(1.0, ref);
  for (const auto& l : lines)
    for (auto [x, y] : l.pts) { xmax = std::max(xmax, x); ymax = std::max(ymax, y); }
  ymax *= 1.1;
  auto X = [&](double x) { return L + x / xmax * (W - L - R); };
  auto Y = [&](double y) { return T + (1 - y / ymax) * (H - T - B); };
  std::ostringstream s;
  s << "<svg class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H << "\" viewBox=\"0 0 "
    << W << " " << H << "\">\n<text x=\"" << L << "\" y=\"18\" font-weight=\"bold\">" << esc(title) << "</text>\n";
  for (int i = 0; i <= 4; ++i) {
    const double y = ymax * i / 4;
    s << "<line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << f(Y(y)) << "\" y2=\"" << f(Y(y))
      << "\" stroke=\"#ddd\"/><text x=\"" << L - 6 << "\" y=\"" << f(Y(y) + 4) << "\" text-anchor=\"end\" font-size=\"11\">"
      << f(y) << "</text>\n";
    const double x = xmax * i / 4;
    s << "<text x=\"" << f(X(x)) << "\" y=\"" << H - B + 16 << "\" text-anchor=\"middle\" font-size=\"11\">" << f(x)
      << " s</text>\n";
  }
  s << "<text x=\"12\" y=\"" << f((H - B + T) / 2) << "\" font-size=\"11\" transform=\"rotate(-90 12 " << f((H - B + T) / 2)
    << ")\" text-anchor=\"middle\">" << esc(unit) << "</text>\n";
  s << "<rect x=\"" << L << "\" y=\"" << T << "\" width=\"" << W - L - R << "\" height=\"" << H - T - B
    << "\" fill=\"none\" stroke=\"#888\"/>\n";
  if (ref >= 0)
    s << "<line x1=\"" << L << "\" x2=\"" << W - R << "\" y1=\"" << f(Y(ref)) << "\" y2=\"" << f(Y(ref))
      << "\" stroke=\"#000\" stroke-dasharray=\"4 4\"/><text x=\"" << W - R - 4 << "\" y=\"" << f(Y(ref) - 4)
      << "\" text-anchor=\"end\" font-size=\"11\">" << esc(ref_label) << "</text>\n";
  int legend = 0;
  for (const auto& l : lines) {
    if (l.pts.empty()) continue;
    s << "<polyline class=\"series\" fill=\"none\" stroke-width=\"2\" stroke=\"" << l.colour << "\""
      << (l.dash.empty() ? "" : " stroke-dasharray=\"" + l.dash + "\"") << " points=\"";
    for (auto [x, y] : l.pts) s << f(X(x)) << "," << f(Y(y)) << " ";
    const double ly = T + 8 + 16 * legend++;
    s << "\"/>\n<line x1=\"" << W - R + 10 << "\" x2=\"" << W - R + 34 << "\" y1=\"" << ly << "\" y2=\"" << ly
      << "\" stroke-width=\"2\" stroke=\"" << l.colour << "\"" << (l.dash.empty() ? "" : " stroke-dasharray=\"" + l.dash + "\"")
      << "/><text x=\"" << W - R + 40 << "\" y=\"" << ly + 4 << "\" font-size=\"11\">" << esc(l.label) << "</text>\n";
  }
  if (legend == 0) s << "<text x=\"" << f(X(xmax / 2)) << "\" y=\"" << f(Y(ymax / 2)) << "\" text-anchor=\"middle\">none</text>\n";
  s << "</svg>\n";
  return s.str();
}

}  // namespace

bool write_html(const std::string& file, const options& o, const std::vector<run_result>& runs) {
  std::vector<line> tput, lat, errs, backends;
  int maxconn = -1;
  for (size_t n = 0; n < runs.size(); ++n) {
    const run_result& r = runs[n];
    const std::string c = colours[n % 6];
    line t{r.name, c, "", {}}, p50{r.name + " p50", c, "2 2", {}}, p99{r.name + " p99", c, "", {}}, b{r.name, c, "", {}};
    std::vector<line> e;
    for (int k = 0; k < kind_count; ++k) e.push_back({r.name + " " + short_kind(k), c, dashes[k], {}});
    for (size_t i = 0; i < r.series.size(); ++i) {
      const second& s = r.series[i];
      const double x = static_cast<double>(i + 1);
      t.pts.emplace_back(x, s.ok);
      if (s.latency.count() > 0) { p50.pts.emplace_back(x, s.latency.percentile_ms(50)); p99.pts.emplace_back(x, s.latency.percentile_ms(99)); }
      if (s.backends >= 0) b.pts.emplace_back(x, s.backends);
      for (int k = 0; k < kind_count; ++k) e[k].pts.emplace_back(x, s.errors[k]);
    }
    tput.push_back(t);
    lat.push_back(p50);
    lat.push_back(p99);
    backends.push_back(b);
    for (int k = 0; k < kind_count; ++k)
      if (r.by_kind[k] > 0) errs.push_back(e[k]);
    maxconn = std::max(maxconn, r.max_connections);
  }
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>pgfunnel-bench report</title>\n<style>body{font-family:"
       "sans-serif;margin:24px;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
       "text-align:right}th:first-child,td:first-child{text-align:left}svg{display:block;margin:12px 0}</style></head><body>\n"
    << "<h1>pgfunnel-bench</h1>\n<p>singleton pool " << o.instance_pool << ", workload "
    << esc(o.workload) << ", seed " << o.seed << ", duration " << f(o.duration_s) << " s, cold start " << f(o.cold_start_ms)
    << " ms, lifetime " << f(o.lifetime_s) << " s</p>\n<table><tr><th>target</th><th>instances</th><th>attempts</th><th>ok"
       "</th><th>failed</th><th>53300</th><th>query_wait_timeout</th><th>p99 ms</th><th>backends peak</th></tr>\n";
  for (const auto& r : runs)
    h << "<tr><td>" << esc(r.name) << "</td><td>" << r.instances_started << "</td><td>" << r.attempts << "</td><td>"
      << r.successes << "</td><td>" << r.failures << "</td><td>" << r.by_kind[too_many_clients] << "</td><td>"
      << r.by_kind[query_wait_timeout] << "</td><td>" << f(r.request.percentile_ms(99)) << "</td><td>"
      << (r.backends_peak < 0 ? "-" : std::to_string(r.backends_peak)) << "</td></tr>\n";
  h << "</table>\n"
    << chart("Throughput", "ok requests / s", tput) << chart("Request latency (p50 dotted, p99 solid)", "ms", lat)
    << chart("Errors by kind", "failures / s", errs)
    << chart("PostgreSQL backends", "backends", backends, maxconn, "max_connections " + std::to_string(maxconn))
    << "</body></html>\n";
  std::ofstream out(file);
  out << h.str();
  return static_cast<bool>(out);
}

}  // namespace bench
