// Client credentials: the "name:secret,..." flag/env form, and checks on a single entry.
#include <algorithm>
#include <cctype>
#include <set>

#include <fmt/format.h>

#include "pgfunnel/config/parse.hpp"

namespace pgfunnel::config {

namespace {

constexpr std::string_view scram_prefix = "SCRAM-SHA-256$";

// Decoded length of standard padded base64, or nullopt if it is not that.
std::optional<std::size_t> base64_length(std::string_view s) {
  if (s.empty() || s.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  while (pad < 2 && s[s.size() - 1 - pad] == '=') ++pad;
  for (std::size_t i = 0; i < s.size() - pad; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (!std::isalnum(c) && c != '+' && c != '/') return std::nullopt;
  }
  return s.size() / 4 * 3 - pad;
}

// The format PostgreSQL stores in pg_authid; checked here so a pasted-wrong verifier fails at
// startup instead of as a mysterious authentication failure.
bool well_formed_verifier(std::string_view v) {
  if (!v.starts_with(scram_prefix)) return false;
  v.remove_prefix(scram_prefix.size());
  const auto dollar = v.find('$');
  if (dollar == std::string_view::npos) return false;
  const std::string_view iter_salt = v.substr(0, dollar), keys = v.substr(dollar + 1);
  const auto c1 = iter_salt.find(':'), c2 = keys.find(':');
  if (c1 == std::string_view::npos || c2 == std::string_view::npos) return false;
  std::string ignored;
  if (!parse_count(iter_salt.substr(0, c1), 1, 100'000'000, ignored)) return false;
  if (!base64_length(iter_salt.substr(c1 + 1))) return false;
  return base64_length(keys.substr(0, c2)) == 32u && base64_length(keys.substr(c2 + 1)) == 32u;
}

}  // namespace

bool looks_like_scram_verifier(std::string_view secret) { return secret.starts_with(scram_prefix); }

std::vector<std::string> check_user_entry(const user_entry& u) {
  std::vector<std::string> errors;
  if (u.name.empty()) errors.emplace_back("user name is empty");
  const bool has_password = !u.password.empty(), has_verifier = !u.scram_verifier.empty();
  if (has_password && has_verifier)
    errors.emplace_back("give either password or scram_verifier, not both");
  else if (!has_password && !has_verifier)
    errors.emplace_back("needs a password or a scram_verifier");
  if (has_password && looks_like_scram_verifier(u.password))
    errors.emplace_back("the password looks like a SCRAM verifier; put it under scram_verifier");
  if (has_verifier && !well_formed_verifier(u.scram_verifier))
    errors.emplace_back(
        "malformed scram_verifier (expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, "
        "base64, as in pg_authid)");
  return errors;
}

std::vector<user_entry> parse_users_text(std::string_view text, std::vector<std::string>& errors) {
  std::vector<user_entry> users;
  std::set<std::string, std::less<>> seen;
  std::size_t start = 0, index = 0;
  while (start <= text.size()) {
    auto end = text.find(',', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view item = text.substr(start, end - start);
    start = end + 1;
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) item.remove_prefix(1);
    if (item.empty()) continue;  // "a:x," and "" (no users) are fine
    ++index;
    const auto colon = item.find(':');
    if (colon == std::string_view::npos) {
      errors.push_back(fmt::format("entry {} ('{}') has no ':' (expected NAME:PASSWORD or NAME:SCRAM-SHA-256$...)",
                                   index, item));
      continue;
    }
    user_entry u;
    u.name = std::string(item.substr(0, colon));
    const std::string_view secret = item.substr(colon + 1);
    (looks_like_scram_verifier(secret) ? u.scram_verifier : u.password) = std::string(secret);
    for (const auto& e : check_user_entry(u)) errors.push_back(fmt::format("entry {} ('{}'): {}", index, u.name, e));
    if (!u.name.empty() && !seen.insert(u.name).second)
      errors.push_back(fmt::format("user '{}' is listed twice", u.name));
    users.push_back(std::move(u));
  }
  return users;
}

std::string format_users(const std::vector<user_entry>& users, bool redact) {
  std::vector<std::string> parts;
  for (const auto& u : users) {
    if (redact) parts.push_back(fmt::format("{} ({})", u.name, u.password.empty() ? "SCRAM verifier" : "password"));
    else parts.push_back(fmt::format("{}:{}", u.name, u.password.empty() ? u.scram_verifier : u.password));
  }
  if (redact && parts.empty()) return "(none)";
  return fmt::format("{}", fmt::join(parts, redact ? ", " : ","));
}

}  // namespace pgfunnel::config
