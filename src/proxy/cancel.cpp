// Cancel keys for clients and the forwarding of CancelRequest to the server a client holds.
#include "pgfunnel/proxy/cancel.hpp"

#include <openssl/rand.h>

#include "pgfunnel/net/io.hpp"
#include "pgfunnel/protocol/encode.hpp"

namespace pgfunnel::proxy {

void cancel_target::attach(const protocol::backend_key_data& key, const net::tcp::endpoint& endpoint) {
  std::lock_guard lock(mutex_);
  current_ = server_key{key, endpoint};
}

void cancel_target::detach() {
  std::lock_guard lock(mutex_);
  current_.reset();
}

std::optional<cancel_target::server_key> cancel_target::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

protocol::backend_key_data cancel_registry::add(std::shared_ptr<cancel_target> target) {
  std::int32_t secret = 0;
  RAND_bytes(reinterpret_cast<unsigned char*>(&secret), sizeof secret);
  std::lock_guard lock(mutex_);
  // Process ids are only unique handles; skip ones in use after wrap-around.
  do {
    next_pid_ = next_pid_ == INT32_MAX ? 1 : next_pid_ + 1;
  } while (entries_.count(next_pid_) != 0);
  entries_[next_pid_] = {secret, target};
  return {next_pid_, secret};
}

void cancel_registry::remove(const protocol::backend_key_data& key) {
  std::lock_guard lock(mutex_);
  entries_.erase(key.process_id);
}

std::shared_ptr<cancel_target> cancel_registry::find(std::int32_t process_id, std::int32_t secret_key) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(process_id);
  if (it == entries_.end() || it->second.first != secret_key) return nullptr;
  return it->second.second.lock();
}

net::awaitable<net::error_code> send_cancel(net::tcp::endpoint endpoint, protocol::backend_key_data key,
                                            net::clock::duration timeout) {
  namespace asio = net::asio;
  net::tcp::socket socket(co_await asio::this_coro::executor);
  auto exchange = [&]() -> net::awaitable<net::error_code> {
    auto [ec] = co_await socket.async_connect(endpoint, net::use_nothrow);
    if (ec) co_return ec;
    std::string packet;
    protocol::encode_cancel_request(packet, key.process_id, key.secret_key);
    if (auto wec = co_await net::write_all(socket, packet)) co_return wec;
    // The server closes the connection once it has acted on the request.
    char byte;
    auto [rec, n] = co_await socket.async_read_some(asio::buffer(&byte, 1), net::use_nothrow);
    co_return rec == asio::error::eof ? net::error_code{} : rec;
  };
  co_return co_await net::with_timeout(exchange(), timeout);
}

}  // namespace pgfunnel::proxy
