// The SCRAM key passthrough store: remember a client's ClientKey per user, hand it out while its verifier is current.
#include "pgfunnel/proxy/scram_keys.hpp"

#include <openssl/crypto.h>

namespace pgfunnel::proxy {

scram_key_store::~scram_key_store() {
  for (auto& [user, e] : entries_) wipe(e);
}

// A ClientKey is as good as the password for logging in: do not leave copies in freed memory.
void scram_key_store::wipe(entry& e) noexcept { OPENSSL_cleanse(e.client_key.data(), e.client_key.size()); }

void scram_key_store::remember(std::string_view user, const auth::scram_verifier& verifier,
                               const auth::scram_key& client_key) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(user);
  if (it == entries_.end()) it = entries_.emplace(std::string(user), entry{}).first;
  wipe(it->second);
  it->second.verifier = verifier;
  it->second.client_key = client_key;
}

std::optional<auth::scram_client_keys> scram_key_store::find(std::string_view user,
                                                             const auth::scram_verifier& verifier) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(user);
  // A key proved against another verifier would not match what the caller will be checked against.
  if (it == entries_.end() || !(it->second.verifier == verifier)) return std::nullopt;
  auth::scram_client_keys keys;
  keys.client_key = it->second.client_key;
  keys.server_key = verifier.server_key;
  keys.salt = verifier.salt;
  keys.iterations = verifier.iterations;
  return keys;
}

void scram_key_store::prune(
    const std::function<bool(std::string_view user, const auth::scram_verifier&)>& still_configured) {
  std::lock_guard lock(mutex_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (still_configured(it->first, it->second.verifier)) {
      ++it;
    } else {
      wipe(it->second);
      it = entries_.erase(it);
    }
  }
}

}  // namespace pgfunnel::proxy
