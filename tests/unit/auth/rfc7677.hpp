// Shared fixtures for the auth unit tests: the RFC 7677 SCRAM-SHA-256 example exchange.
#pragma once

#include <string_view>

#include "pgfunnel/auth/scram_server.hpp"
#include "pgfunnel/auth/scram_verifier.hpp"

namespace pgfunnel::auth::test {

inline constexpr std::string_view rfc_user = "user";
inline constexpr std::string_view rfc_password = "pencil";
inline constexpr std::string_view rfc_client_nonce = "rOprNGfwEbeRWgbNEkqO";
inline constexpr std::string_view rfc_server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
inline constexpr std::string_view rfc_nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
inline constexpr std::string_view rfc_salt_b64 = "W22ZaJ0SNY7soEsUEjb6gQ==";
inline constexpr std::string_view rfc_client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
inline constexpr std::string_view rfc_server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
inline constexpr std::string_view rfc_client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
inline constexpr std::string_view rfc_server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
// Computed independently with Python's hashlib/hmac from the password, salt and iteration count.
inline constexpr std::string_view rfc_verifier =
    "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
    "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
inline constexpr std::string_view rfc_client_key_b64 = "pg/JI9Z+hkSpLRa5btpe9GVrDHJcSEN0viVTVXaZbos=";

inline scram_verifier rfc_parsed_verifier() {
  scram_verifier v;
  (void)parse_scram_verifier(rfc_verifier, v);
  return v;
}

// A server in the RFC's state before the first message, with the RFC's server nonce.
inline scram_server rfc_server(std::vector<std::uint8_t> cb_data = {}) {
  return scram_server(rfc_parsed_verifier(), std::move(cb_data), std::string(rfc_server_nonce));
}

}  // namespace pgfunnel::auth::test
