// The credential store: config users and the upstream URL's user, with verifiers derived once.
#include "pgfunnel/proxy/credentials.hpp"

namespace pgfunnel::proxy {

credential_store::credential_store(const config::settings& settings) {
  auto add = [&](const std::string& user, const std::string& password, const std::string& verifier_text) {
    for (const auto& e : entries_)
      if (e.user == user) return;  // the first definition wins: users: before the URL's user
    credential c;
    c.user = user;
    c.password = password;
    auth::scram_verifier v;
    if (!verifier_text.empty()) {
      if (!auth::parse_scram_verifier(verifier_text, v)) c.verifier = v;
    } else if (!password.empty()) {
      if (!auth::make_scram_verifier(password, v)) c.verifier = v;
    }
    entries_.push_back(std::move(c));
  };
  for (const auto& u : settings.users) add(u.name, u.password, u.scram_verifier);
  if (!settings.upstream.user.empty() && !settings.upstream.password.empty())
    add(settings.upstream.user, settings.upstream.password, {});
  open_ = settings.users.empty() && settings.upstream.password.empty();
}

const credential* credential_store::find(std::string_view user) const {
  for (const auto& e : entries_)
    if (e.user == user) return &e;
  return nullptr;
}

}  // namespace pgfunnel::proxy
