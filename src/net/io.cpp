// Awaitable I/O helpers for the login paths (the relay has its own, allocation-free loop).
#include "pgfunnel/net/io.hpp"

#include <algorithm>

namespace pgfunnel::net {

using namespace asio::experimental::awaitable_operators;

awaitable<error_code> with_timeout(awaitable<error_code> op, clock::duration timeout) {
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto result = co_await (std::move(op) || timer.async_wait(use_nothrow));
  if (result.index() == 0) co_return std::get<0>(result);
  co_return make_error_code(asio::error::timed_out);
}

awaitable<error_code> write_all(tcp::socket& socket, std::string_view bytes) {
  auto [ec, n] = co_await asio::async_write(socket, asio::buffer(bytes.data(), bytes.size()), use_nothrow);
  co_return ec;
}

awaitable<error_code> read_until_size(stream& socket, std::string& buffer, std::size_t size) {
  constexpr std::size_t first_chunk = 64 * 1024;
  while (buffer.size() < size) {
    const std::size_t at = buffer.size();
    const std::size_t chunk = std::min(size - at, std::max(at, first_chunk));
    buffer.resize(at + chunk);
    auto [ec, n] = co_await socket.read_some(asio::buffer(buffer.data() + at, chunk));
    buffer.resize(at + n);
    if (ec) co_return ec;
    if (n == 0) co_return make_error_code(asio::error::eof);
  }
  co_return error_code{};
}

awaitable<error_code> read_message(stream& socket, const protocol::frame_reader& reader, std::string& buffer,
                                        protocol::frame& out) {
  const std::size_t header = reader.current_phase() == protocol::phase::startup ? 4 : protocol::tagged_header_size;
  buffer.resize(header);
  if (auto ec = co_await socket.read_exact(asio::buffer(buffer))) co_return ec;
  auto head = reader.peek_header(protocol::byte_span(reinterpret_cast<const std::uint8_t*>(buffer.data()), header));
  if (head.status == protocol::frame_status::error) co_return error_code(head.ec);
  if (auto ec = co_await read_until_size(socket, buffer, head.msg.size)) co_return ec;
  auto whole = reader.next(protocol::byte_span(reinterpret_cast<const std::uint8_t*>(buffer.data()), buffer.size()));
  if (whole.status != protocol::frame_status::complete) co_return whole.ec ? error_code(whole.ec) : error_code(std::error_code(protocol::errc::truncated));
  out = whole.msg;
  co_return error_code{};
}

void set_socket_options(tcp::socket& socket) {
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  socket.set_option(asio::socket_base::keep_alive(true), ignored);
}

}  // namespace pgfunnel::net
