// The outputs: live progress, the final side-by-side table, JSON, the HTML report.
#pragma once
#include <string>
#include <vector>

#include "args.hpp"
#include "results.hpp"

namespace bench {

void print_progress(const run_result& r, double t, bool tty);
void end_progress(bool tty);
void print_table(const std::vector<run_result>& runs);
bool write_json(const std::string& file, const options& o, const std::vector<run_result>& runs);
bool write_html(const std::string& file, const options& o, const std::vector<run_result>& runs);
std::string redact(const std::string& url);  // the password out of a URL

}  // namespace bench
