// --json: the run's counts, failures, percentiles and per-second series, one object per target.
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

#include "outputs.hpp"

namespace bench {
namespace {

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') { o += '\\'; o += c; }
    else if (static_cast<unsigned char>(c) < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\u%04x", c); o += b; }
    else o += c;
  }
  return "\"" + o + "\"";
}
std::string num(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.3f", v);
  return b;
}
std::string lat(const histogram& h) {
  return "{\"count\": " + std::to_string(h.count()) + ", \"p50\": " + num(h.percentile_ms(50)) + ", \"p90\": " +
         num(h.percentile_ms(90)) + ", \"p99\": " + num(h.percentile_ms(99)) + ", \"max\": " + num(h.max_ms()) + "}";
}
std::string or_null(int v) { return v < 0 ? "null" : std::to_string(v); }
std::string or_null(double v) { return v < 0 ? "null" : num(v); }

}  // namespace

std::string redact(const std::string& url) {
  static const std::regex uri(R"((://[^:/@]*:)[^@]*@)"), kv(R"((password\s*=\s*)\S+)");
  return std::regex_replace(std::regex_replace(url, uri, "$1***@"), kv, "$1***");
}

bool write_json(const std::string& file, const options& o, const std::vector<run_result>& runs) {
  std::ostringstream j;
  j << "{\n  \"tool\": \"pgfunnel-bench\",\n  \"seed\": " << o.seed << ",\n  \"load\": {\"client\": " << esc(o.client)
    << ", \"instance_pool\": " << o.instance_pool << ", \"workload\": " << esc(o.workload)
    << ", \"duration_s\": " << num(o.duration_s) << ", \"think_ms\": " << num(o.think_ms) << "},\n  \"targets\": [\n";
  for (size_t n = 0; n < runs.size(); ++n) {
    const run_result& r = runs[n];
    j << "    {\"name\": " << esc(r.name) << ", \"client\": " << esc(r.client) << ", \"url\": " << esc(redact(r.url)) << ",\n     \"instances\": "
      << r.instances_started << ", \"attempts\": " << r.attempts << ", \"successes\": " << r.successes
      << ", \"failures\": " << r.failures << ", \"elapsed_s\": " << num(r.elapsed_s)
      << ", \"throughput\": " << num(r.elapsed_s > 0 ? r.successes / r.elapsed_s : 0) << ",\n     \"failures_by_kind\": {";
    for (int k = 0; k < kind_count; ++k) j << (k ? ", " : "") << esc(kind_name(k)) << ": " << r.by_kind[k];
    j << "},\n     \"errors\": [";
    bool first = true;
    for (const auto& [key, count] : r.errors) {
      j << (first ? "" : ", ") << "{\"sqlstate\": " << esc(key.first) << ", \"message\": " << esc(key.second)
        << ", \"count\": " << count << "}";
      first = false;
    }
    j << "],\n     \"connect_ms\": " << lat(r.connect) << ",\n     \"request_ms\": " << lat(r.request)
      << ",\n     \"backends_peak\": " << or_null(r.backends_peak) << ", \"max_connections\": " << or_null(r.max_connections)
      << ",\n     \"pgfunnel\": ";
    if (r.console)
      j << "{\"cl_waiting_peak\": " << or_null(r.cl_waiting_peak) << ", \"maxwait_peak_s\": " << or_null(r.maxwait_peak_s) << "}";
    else
      j << "null";
    j << ",\n     \"series\": [";
    for (size_t i = 0; i < r.series.size(); ++i) {
      const second& s = r.series[i];
      j << (i ? ",\n       " : "\n       ") << "{\"t\": " << i + 1 << ", \"attempts\": " << s.attempts << ", \"ok\": " << s.ok
        << ", \"instances\": " << s.instances << ", \"in_flight\": " << s.in_flight << ", \"errors\": {";
      for (int k = 0; k < kind_count; ++k) j << (k ? ", " : "") << esc(kind_name(k)) << ": " << s.errors[k];
      j << "}, \"p50\": " << num(s.latency.percentile_ms(50)) << ", \"p90\": " << num(s.latency.percentile_ms(90))
        << ", \"p99\": " << num(s.latency.percentile_ms(99)) << ", \"backends\": " << or_null(s.backends)
        << ", \"cl_waiting\": " << or_null(s.cl_waiting) << ", \"maxwait_s\": " << or_null(s.maxwait_s) << "}";
    }
    j << "]}" << (n + 1 < runs.size() ? "," : "") << "\n";
  }
  j << "  ]\n}\n";
  std::ofstream out(file);
  out << j.str();
  return static_cast<bool>(out);
}

}  // namespace bench
