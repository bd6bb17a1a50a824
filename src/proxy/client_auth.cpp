// Client authentication on the pooled listener: SCRAM-SHA-256, md5, cleartext or trust, as PostgreSQL words it.
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "pgfunnel/auth/errc.hpp"
#include "pgfunnel/auth/md5.hpp"
#include "pgfunnel/auth/scram_common.hpp"
#include "pgfunnel/auth/scram_server.hpp"
#include "pgfunnel/net/io.hpp"
#include "pgfunnel/net/tls.hpp"
#include "pgfunnel/proxy/client_login.hpp"
#include "pgfunnel/proxy/failed_logins.hpp"

namespace pgfunnel::proxy {

namespace asio = net::asio;
using net::error_code;

namespace {

// Auth messages are small; a client sending more is not speaking the protocol.
constexpr std::uint32_t max_auth_message = 10000;

std::string password_failed(std::string_view user) {
  return fmt::format("password authentication failed for user \"{}\"", user);
}

net::awaitable<bool> fail(net::stream& socket, log::conn_id id, std::string_view sqlstate, std::string message,
                          std::string_view why) {
  net::error_code ec;
  const auto remote = socket.socket().remote_endpoint(ec);
  const std::string from = ec ? std::string("?") : fmt::format("{}:{}", remote.address().to_string(), remote.port());
  log::warn(id, "login failed from {}: {}{}{}", from, message, why.empty() ? "" : " - ", why);
  // The client id in DETAIL lets an app log it next to its request, to find this line.
  const std::string detail = fmt::format("pgfunnel client {}", log::to_string(id));
  co_await send_error(socket, {"FATAL", sqlstate, message, detail});
  co_return false;
}

// A wrong password or an unknown user: 28P01 with the same words for both, as PostgreSQL, and one
// more failure against the client's address (auth_failure_limit).
net::awaitable<bool> fail_password(net::stream& socket, proxy_context& context, log::conn_id id, std::string_view user,
                                   std::string_view why) {
  count_failed_login(socket, context);
  std::string message = password_failed(user);
  co_return co_await fail(socket, id, "28P01", std::move(message), why);
}

// Reads the client's next PasswordMessage-family message ('p') into `buffer`; the body is returned.
net::awaitable<error_code> read_password_message(net::stream& socket, std::string& buffer, protocol::byte_span& body) {
  protocol::frame_reader reader(protocol::phase::tagged, protocol::direction::frontend, max_auth_message);
  protocol::frame frame;
  if (auto ec = co_await net::read_message(socket, reader, buffer, frame)) co_return ec;
  if (frame.tag != 'p') co_return error_code(std::error_code(protocol::errc::unknown_tag));
  body = frame.body;
  co_return error_code{};
}

std::string_view as_view(protocol::byte_span s) { return {reinterpret_cast<const char*>(s.data()), s.size()}; }

// The made-up verifier of a user that does not exist. Its salt must not change between attempts
// (a changing salt would tell the user does not exist), so it is derived from the user name and a
// secret of this process, as PostgreSQL derives it from a secret of its cluster.
auth::scram_verifier mock_verifier(std::string_view user) {
  static const std::array<std::uint8_t, 32> secret = [] {
    std::array<std::uint8_t, 32> s{};
    RAND_bytes(s.data(), static_cast<int>(s.size()));
    return s;
  }();
  auth::scram_key digest{};
  std::string material(reinterpret_cast<const char*>(secret.data()), secret.size());
  material.append(user);
  auth::sha256(auth::as_bytes(material), digest);
  auth::scram_verifier v;
  v.iterations = auth::scram_default_iterations;
  v.salt.assign(digest.begin(), digest.begin() + auth::scram_default_salt_length);
  // Keys no password produces: the proof never verifies.
  auth::random_bytes(v.stored_key);
  auth::random_bytes(v.server_key);
  return v;
}

// Key passthrough: for a user pgfunnel knows only by verifier, the ClientKey a client just proved is
// what pgfunnel logs in upstream with (there is no password to send).
void remember_passthrough_key(proxy_context& context, const credential* cred, std::string_view user,
                              const auth::scram_key& client_key) {
  if (cred != nullptr && cred->password.empty() && cred->verifier)
    context.scram_keys.remember(user, *cred->verifier, client_key);
}

// `unknown_why` is what the log says when the user has no usable verifier ("no such user", or why
// auth_query found none).
net::awaitable<bool> scram_exchange(net::stream& socket, proxy_context& context, const credential* cred,
                                    std::string_view user, log::conn_id id, std::string_view unknown_why) {
  // An unknown user (or one without a usable verifier) goes through the same exchange against a
  // made-up verifier and fails at the proof, so a client cannot tell whether the user exists.
  auth::scram_verifier verifier;
  const bool mock = cred == nullptr || !cred->verifier;
  if (mock) {
    verifier = mock_verifier(user);
  } else {
    verifier = *cred->verifier;
  }
  // Over TLS, SCRAM-SHA-256-PLUS is offered first, bound to the certificate pgfunnel presented:
  // a libpq URL with channel_binding=require then works against pgfunnel.
  std::vector<std::uint8_t> cb_data;
  if (socket.is_tls()) cb_data = net::own_certificate_hash(socket.ssl());
  auth::scram_server server{auth::scram_credential{verifier}, std::move(cb_data)};
  std::string out;
  protocol::encode_authentication_sasl(out, server.mechanisms());
  if (co_await net::write_all(socket, out)) co_return false;

  std::string buffer;
  protocol::byte_span body;
  if (auto ec = co_await read_password_message(socket, buffer, body))
    co_return co_await fail(socket, id, "08P01", "expected SASL response", ec.message());
  protocol::sasl_initial_response initial;
  if (protocol::decode_sasl_initial_response(body, initial))
    co_return co_await fail(socket, id, "08P01", "malformed SASL initial response", "");
  std::string server_first;
  if (auto ec = server.handle_client_first(initial.mechanism, initial.data, server_first)) {
    if (ec == auth::errc::unsupported_mechanism)
      co_return co_await fail(socket, id, "08P01", "client selected an invalid SASL authentication mechanism", "");
    co_return co_await fail(socket, id, "08P01", fmt::format("malformed SCRAM message: {}", ec.message()), "");
  }
  out.clear();
  protocol::encode_authentication_sasl_continue(out, server_first);
  if (co_await net::write_all(socket, out)) co_return false;

  if (auto ec = co_await read_password_message(socket, buffer, body))
    co_return co_await fail(socket, id, "08P01", "expected SASL response", ec.message());
  std::string server_final;
  if (auto ec = server.handle_client_final(as_view(body), server_final)) {
    if (ec == auth::errc::invalid_proof || mock) {
      const std::string_view why = mock ? unknown_why : std::string_view("wrong password");
      co_return co_await fail_password(socket, context, id, user, why);
    }
    co_return co_await fail(socket, id, "08P01", fmt::format("malformed SCRAM message: {}", ec.message()), "");
  }
  if (mock) co_return co_await fail_password(socket, context, id, user, unknown_why);
  if (const auto key = server.client_key()) remember_passthrough_key(context, cred, user, *key);
  out.clear();
  protocol::encode_authentication_sasl_final(out, server_final);
  co_return !(co_await net::write_all(socket, out));
}

// Sends an AuthenticationMD5Password/CleartextPassword request and reads the PasswordMessage
// answering it into `buffer`; on a malformed answer the client has been told and false returned.
net::awaitable<bool> ask_for_password(net::stream& socket, const std::string& request, log::conn_id id,
                                      std::string& buffer, std::string_view& password) {
  if (co_await net::write_all(socket, request)) co_return false;
  protocol::byte_span body;
  if (auto ec = co_await read_password_message(socket, buffer, body))
    co_return co_await fail(socket, id, "08P01", "expected password response", ec.message());
  if (protocol::decode_password_message(body, password))
    co_return co_await fail(socket, id, "08P01", "malformed password message", "");
  co_return true;
}

net::awaitable<bool> md5_exchange(net::stream& socket, proxy_context& context, const credential* cred,
                                  std::string_view user, log::conn_id id, std::string_view unknown_why) {
  auth::md5_salt salt{};
  RAND_bytes(salt.data(), static_cast<int>(salt.size()));
  std::string request, buffer;
  protocol::encode_authentication_md5_password(request, salt);
  std::string_view response;
  if (!co_await ask_for_password(socket, request, id, buffer, response)) co_return false;
  if (cred == nullptr) co_return co_await fail_password(socket, context, id, user, unknown_why);
  if (auth::md5_verify(user, cred->password, salt, response))
    co_return co_await fail_password(socket, context, id, user, "wrong password");
  co_return true;
}

// For a verifier-only user a match also yields the ClientKey, for key passthrough upstream.
bool cleartext_matches(proxy_context& context, const credential& cred, std::string_view user, std::string_view given) {
  if (!cred.password.empty())
    return cred.password.size() == given.size() && CRYPTO_memcmp(cred.password.data(), given.data(), given.size()) == 0;
  if (!cred.verifier) return false;
  auth::scram_keys derived;
  if (auth::scram_derive_keys(given, cred.verifier->salt, cred.verifier->iterations, derived)) return false;
  const bool match = auth::keys_equal(derived.stored_key, cred.verifier->stored_key);
  if (match) remember_passthrough_key(context, &cred, user, derived.client_key);
  OPENSSL_cleanse(&derived, sizeof derived);
  return match;
}

net::awaitable<bool> cleartext_exchange(net::stream& socket, proxy_context& context, const credential* cred,
                                        std::string_view user, log::conn_id id, std::string_view unknown_why) {
  std::string request, buffer;
  protocol::encode_authentication_cleartext_password(request);
  std::string_view given;
  if (!co_await ask_for_password(socket, request, id, buffer, given)) co_return false;
  if (cred == nullptr || !cleartext_matches(context, *cred, user, given)) {
    const std::string_view why = cred == nullptr ? unknown_why : std::string_view("wrong password");
    co_return co_await fail_password(socket, context, id, user, why);
  }
  co_return true;
}

}  // namespace

net::awaitable<bool> check_client_certificate(net::stream& socket, proxy_context& context, std::string_view user,
                                              log::conn_id id) {
  const auto settings = context.settings();
  const bool need_cn = settings->client_tls == config::client_tls_mode::verify_full ||
                       settings->auth_type == config::auth_method::cert;
  if (!need_cn) co_return true;
  const std::string cn = net::peer_common_name(socket.ssl());
  if (cn == user) co_return true;
  // Named locals: g++ 12 mishandles temporaries in a co_await full-expression.
  std::string message = cn.empty() ? std::string("connection requires a valid client certificate")
                                   : fmt::format("certificate authentication failed for user \"{}\"", user);
  std::string why = cn.empty() ? std::string("no client certificate")
                               : fmt::format("certificate CN \"{}\" is not the user name", cn);
  co_return co_await fail(socket, id, "28000", std::move(message), std::move(why));
}

namespace {

// `database`: where auth_query looks the user up; nullopt: no lookup.
net::awaitable<bool> authenticate(net::stream& socket, proxy_context& context, std::string_view user,
                                  std::optional<std::string_view> database, bool loopback_listener, log::conn_id id) {
  const auto method = context.settings()->auth_type;
  if (!co_await check_client_certificate(socket, context, user, id)) co_return false;
  // cert: the verified certificate naming the user is the proof; no password is asked.
  if (method == config::auth_method::cert) co_return true;
  // Held for the whole exchange: a reload may replace the store meanwhile.
  const auto store = context.credentials();
  if (loopback_listener && (method == config::auth_method::trust || store->open_for_loopback()))
    co_return true;
  if (method == config::auth_method::trust)
    co_return co_await fail(socket, id, "28000",
                            fmt::format("no pg_hba.conf entry for user \"{}\": pgfunnel allows trust only on loopback listeners", user),
                            "");
  // auth_failure_limit: an address that failed too often is refused before a password is asked.
  if (!co_await admit_login(socket, context, id)) co_return false;
  const credential* cred = store->find(user);
  // auth_user/auth_query: a user pgfunnel is not configured with is looked up in PostgreSQL.
  std::optional<credential> looked_up;
  std::string unknown_why = "no such user";
  if (cred == nullptr && database && !context.settings()->auth_user.empty()) {
    std::string lookup_database(*database), lookup_user(user);
    lookup_result found =
        co_await context.auth_lookup.lookup(context, std::move(lookup_database), std::move(lookup_user), id);
    if (found.result == lookup_result::outcome::failed) {
      std::string message = found.error.message;
      co_return co_await fail(socket, id, found.error.sqlstate, std::move(message), "auth_query lookup failed");
    }
    if (found.result == lookup_result::outcome::found) {
      looked_up = std::move(found.cred);
      cred = &*looked_up;
    } else {
      unknown_why = std::move(found.why);
    }
  }
  switch (method) {
    case config::auth_method::md5:
      // As PostgreSQL: a user whose secret is only a SCRAM verifier is asked for SCRAM instead.
      if (cred == nullptr || !cred->password.empty())
        co_return co_await md5_exchange(socket, context, cred, user, id, unknown_why);
      co_return co_await scram_exchange(socket, context, cred, user, id, unknown_why);
    case config::auth_method::password:
      co_return co_await cleartext_exchange(socket, context, cred, user, id, unknown_why);
    default:
      co_return co_await scram_exchange(socket, context, cred, user, id, unknown_why);
  }
}

}  // namespace

net::awaitable<bool> authenticate_client(net::stream& socket, proxy_context& context, std::string_view user,
                                         std::string_view database, bool loopback_listener, log::conn_id id) {
  const std::optional<std::string_view> lookup_in = database;
  co_return co_await authenticate(socket, context, user, lookup_in, loopback_listener, id);
}

net::awaitable<bool> authenticate_client(net::stream& socket, proxy_context& context, std::string_view user,
                                         bool loopback_listener, log::conn_id id) {
  const std::optional<std::string_view> no_lookup;
  co_return co_await authenticate(socket, context, user, no_lookup, loopback_listener, id);
}

}  // namespace pgfunnel::proxy
