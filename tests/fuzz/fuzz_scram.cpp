// libFuzzer target for the auth parsers: SCRAM server/client messages, verifiers, base64, SASLprep.
//
// The input is split at the first '\n' into two messages A and B (a newline is never valid inside a
// SCRAM message, so nothing is lost): A goes to the "first" step and B to the "final" step.
// Build: clang++ -std=c++20 -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/fuzz_scram.cpp
//        src/auth/*.cpp -lcrypto -lfmt
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pgfunnel/auth/md5.hpp"
#include "pgfunnel/auth/saslprep.hpp"
#include "pgfunnel/auth/scram_client.hpp"
#include "pgfunnel/auth/scram_common.hpp"
#include "pgfunnel/auth/scram_server.hpp"
#include "pgfunnel/auth/scram_verifier.hpp"

namespace {

using namespace pgfunnel::auth;

// A property violation is a bug even when no sanitizer fires.
void check(bool condition) {
  if (!condition) __builtin_trap();
}

const scram_verifier& server_verifier() {
  static const scram_verifier v = [] {
    scram_verifier out;
    const std::uint8_t salt[] = {'s', 'a', 'l', 't'};
    check(!make_scram_verifier("pencil", salt, 16, out));
    return out;
  }();
  return v;
}

const std::vector<std::uint8_t> cb_data = {1, 2, 3, 4};

void fuzz_server(std::string_view a, std::string_view b) {
  // Client-first from the input (both mechanisms), then client-final from the input.
  const std::string_view mechanism = !a.empty() && a[0] == 'p' ? scram_sha_256_plus_name : scram_sha_256_name;
  {
    scram_server server(server_verifier(), cb_data, "srv");
    std::string out;
    if (!server.handle_client_first(mechanism, a, out)) {
      check(out.starts_with("r="));
      out.clear();
      if (!server.handle_client_final(b, out)) {
        check(server.authenticated() && server.client_key() && out.starts_with("v="));
      } else {
        check(out.empty() && !server.authenticated());
      }
    }
  }
  // A valid client-first (nonce "fuzz" + "srv"), so client-final parsing is always reached.
  {
    scram_server server(server_verifier(), {}, "srv");
    std::string out;
    check(!server.handle_client_first(scram_sha_256_name, "n,,n=,r=fuzz", out));
    out.clear();
    if (server.handle_client_final(a, out)) check(out.empty());
  }
}

void fuzz_client(std::string_view a, std::string_view b) {
  {
    scram_client client("user", "pencil", {}, "fuzz");
    client.set_max_iterations(64);  // keep PBKDF2 cheap: the parser, not SHA-256, is under test
    std::string out;
    check(!client.client_first(out));
    if (!client.handle_server_first(a, out)) {
      check(out.starts_with("c=biws,r=fuzz"));
      if (!client.handle_server_final(b)) check(client.authenticated());
    }
  }
  // A valid server-first, so server-final parsing is always reached.
  {
    scram_client client("user", "pencil", cb_data, "fuzz");
    std::string out;
    check(!client.client_first(out));
    check(!client.handle_server_first("r=fuzzsrv,s=c2FsdA==,i=16", out));
    (void)client.handle_server_final(a);
  }
}

void fuzz_verifier(std::string_view text) {
  scram_verifier v;
  if (!parse_scram_verifier(text, v)) {
    scram_verifier again;
    check(!parse_scram_verifier(format_scram_verifier(v), again) && again == v);
  }
}

void fuzz_base64(std::string_view text) {
  std::vector<std::uint8_t> bytes;
  // The decoder only accepts canonical encodings, so decoding then encoding must give the input back.
  if (!base64_decode(text, bytes)) check(base64_encode(bytes) == text);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const std::size_t split = input.find('\n');
  const std::string_view a = input.substr(0, split);
  const std::string_view b = split == std::string_view::npos ? std::string_view{} : input.substr(split + 1);

  fuzz_server(a, b);
  fuzz_client(a, b);
  fuzz_verifier(input);
  fuzz_base64(a);
  (void)saslprep(input);
  (void)md5_verify("user", a, {1, 2, 3, 4}, b);
  return 0;
}
