// Who may log in to pgfunnel, with what secret, and with what password pgfunnel logs in upstream for them.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pgfunnel/auth/scram_verifier.hpp"
#include "pgfunnel/config/config.hpp"

namespace pgfunnel::proxy {

struct credential {
  std::string user;
  std::string password;                        // plaintext, when configured (also used upstream)
  std::optional<auth::scram_verifier> verifier;  // always set: configured, or derived once from the password
};

class credential_store {
 public:
  // The upstream URL's user (with its password, if any) plus every `users:` entry. Verifiers for
  // plaintext passwords are derived here once, not per login (4096 PBKDF2 rounds each).
  explicit credential_store(const config::settings& settings);

  const credential* find(std::string_view user) const;
  // No secret anywhere: the upstream URL has no password and no users are configured. Loopback
  // listeners then let clients in with trust.
  bool open_for_loopback() const { return open_; }

 private:
  std::vector<credential> entries_;
  bool open_ = false;
};

}  // namespace pgfunnel::proxy
