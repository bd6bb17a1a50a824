// SASLprep (RFC 4013) of a SCRAM password, with PostgreSQL's fallback to the raw bytes.
#pragma once

#include <string>
#include <string_view>

namespace pgfunnel::auth {

// Returns the bytes to feed to Hi() for `password`, following PostgreSQL's pg_saslprep + fallback:
//  - all-ASCII input is returned unchanged (PostgreSQL's fast path; control characters included);
//  - invalid UTF-8 is returned unchanged (PostgreSQL then hashes the raw bytes);
//  - otherwise non-ASCII spaces (RFC 3454 C.1.2) map to U+0020 and "commonly mapped to nothing"
//    characters (B.1) are removed; if the result is empty or contains a prohibited character
//    (C.2.1-C.9), the raw input is returned instead.
// Not implemented: NFKC normalisation, the unassigned-code-point check (A.1) and the bidi rule.
// A non-ASCII password that PostgreSQL would normalise or reject through those rules therefore
// hashes differently here than in PostgreSQL: such a password works between pgfunnel's own client
// and server but not against a verifier PostgreSQL computed. Pure ASCII is always exact.
std::string saslprep(std::string_view password);

}  // namespace pgfunnel::auth
