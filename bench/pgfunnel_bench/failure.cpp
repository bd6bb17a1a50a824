// Failure classification: SQLSTATE from the result or libpq's verbose text, then a kind for charts.
#include <regex>

#include "results.hpp"

namespace bench {

failure classify(const std::string& text, const char* sqlstate) {
  failure f;
  std::string msg = text;
  static const std::regex verbose(R"((?:FATAL|ERROR|PANIC):  ([0-9A-Z]{5}): ([^\n]*))");
  std::smatch m;
  if (std::regex_search(msg, m, verbose)) {
    f.code = m[1].str();
    f.message = m[2].str();
  } else {
    if (auto nl = msg.find('\n'); nl != std::string::npos) msg.resize(nl);
    if (auto p = msg.find("failed: "); p != std::string::npos) msg = msg.substr(p + 8);
    for (const char* prefix : {"FATAL:  ", "ERROR:  "})
      if (msg.rfind(prefix, 0) == 0) msg = msg.substr(8);
    f.code = sqlstate != nullptr ? sqlstate : "08006";
    f.message = msg;
  }
  if (f.code == "53300") f.k = f.message.find("query_wait_timeout") != std::string::npos ? query_wait_timeout : too_many_clients;
  else if (f.code == "08006" || f.code == "08001") f.k = connection_failure;
  return f;
}

}  // namespace bench
