// The one place the core pulls in Boost.Asio: aliases and the coroutine vocabulary the core uses.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace pgfunnel::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
template <class T = void>
using awaitable = asio::awaitable<T>;
using asio::use_awaitable;

// Completion token that returns (error_code, result...) instead of throwing: errors on the data
// path are values.
inline constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

using clock = std::chrono::steady_clock;

// Asio's error type; it also carries our own std::error_code categories (protocol, auth).
using error_code = boost::system::error_code;

}  // namespace pgfunnel::net
