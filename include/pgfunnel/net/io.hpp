// Small awaitable I/O helpers for the login paths: exact reads, whole writes, deadlines, socket options.
#pragma once

#include <string>

#include "pgfunnel/net/asio.hpp"
#include "pgfunnel/net/stream.hpp"
#include "pgfunnel/protocol/frame.hpp"
#include "pgfunnel/protocol/tags.hpp"

namespace pgfunnel::net {

// Runs `op` until it completes or `timeout` passes; a timeout cancels `op` and returns
// asio::error::timed_out.
awaitable<error_code> with_timeout(awaitable<error_code> op, clock::duration timeout);

// A configured timeout where 0 means "no limit".
inline clock::duration or_forever(std::chrono::milliseconds d) {
  return d.count() == 0 ? clock::duration(std::chrono::hours(24 * 365 * 10)) : clock::duration(d);
}

awaitable<error_code> write_all(tcp::socket& socket, std::string_view bytes);
inline awaitable<error_code> write_all(stream& s, std::string_view bytes) { return s.write_all(bytes); }

// Appends bytes read from `socket` to `buffer` until it holds `size` bytes. The buffer grows with
// what arrives (at most doubling), never to `size` up front: a peer that announces a gigabyte and
// sends five bytes costs five bytes and a chunk, not a gigabyte of zeroes.
awaitable<error_code> read_until_size(stream& socket, std::string& buffer, std::size_t size);

// Reads one whole message (startup or tagged phase, as `reader` says) into `buffer`, exactly: no
// byte past the message is consumed, so the socket can be handed on afterwards.
awaitable<error_code> read_message(stream& socket, const protocol::frame_reader& reader, std::string& buffer,
                                        protocol::frame& out);

void set_socket_options(tcp::socket& socket);

}  // namespace pgfunnel::net
