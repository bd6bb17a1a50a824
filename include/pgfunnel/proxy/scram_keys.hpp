// SCRAM key passthrough: the ClientKeys clients proved against configured verifiers, for logging in upstream.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "pgfunnel/auth/scram_client.hpp"
#include "pgfunnel/auth/scram_verifier.hpp"

namespace pgfunnel::proxy {

// Per user, the ClientKey from the last successful SCRAM login against that user's configured
// verifier. It lives outside credential_store because a reload rebuilds the store, and a key
// recovered from a client must survive that as long as the verifier it belongs to is unchanged.
// Thread-safe: logins on any thread record keys, pool connects on any thread read them.
class scram_key_store {
 public:
  scram_key_store() = default;
  ~scram_key_store();
  scram_key_store(const scram_key_store&) = delete;
  scram_key_store& operator=(const scram_key_store&) = delete;

  // Records (or replaces) the key for `user`, tied to the verifier it was proved against.
  void remember(std::string_view user, const auth::scram_verifier& verifier, const auth::scram_key& client_key);
  // The keys for `user` if a client proved them against exactly `verifier`; nullopt when none was,
  // or the key came from a verifier a reload has since replaced.
  std::optional<auth::scram_client_keys> find(std::string_view user, const auth::scram_verifier& verifier) const;
  // After a reload: drops (and wipes) every key whose user no longer has the verifier it came from.
  void prune(const std::function<bool(std::string_view user, const auth::scram_verifier&)>& still_configured);

 private:
  struct entry {
    auth::scram_verifier verifier;
    auth::scram_key client_key{};
  };
  static void wipe(entry& e) noexcept;

  mutable std::mutex mutex_;
  std::map<std::string, entry, std::less<>> entries_;
};

}  // namespace pgfunnel::proxy
