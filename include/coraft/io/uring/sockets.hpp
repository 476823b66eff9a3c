// coraft/io/uring/sockets.hpp — TCP over io_uring: listen, accept, connect, recv, send, sendv.
//
// Setting a socket up (socket, bind, listen, setsockopt) is quick and never blocks, so it is done
// with plain system calls. Everything that waits for the network is an io_uring request whose
// awaiter holds what the kernel reads: the peer's sockaddr for connect, the msghdr for sendv.
// Streams use TCP_NODELAY: Raft messages are small and latency-bound, and the transport already
// batches what it can into one sendv.
#pragma once

#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstddef>
#include <optional>
#include <span>
#include <utility>

#include "coraft/co/result.hpp"
#include "coraft/io/endpoint.hpp"
#include "coraft/io/errors.hpp"
#include "coraft/io/fd.hpp"
#include "coraft/io/uring/operation.hpp"

namespace coraft::io::uring {

// A connected TCP stream; closes on destruction.
class stream {
 public:
  explicit stream(unique_fd socket) noexcept : socket_(std::move(socket)) {}
  int native_handle() const noexcept { return socket_.get(); }
  bool is_open() const noexcept { return static_cast<bool>(socket_); }
  // The peer's next recv() sees the end of the stream.
  void close() noexcept { socket_.reset(); }

 private:
  unique_fd socket_;
};

// A listening TCP socket; closes on destruction.
class listener {
 public:
  listener(unique_fd socket, endpoint bound) noexcept
      : socket_(std::move(socket)), bound_(std::move(bound)) {}
  int native_handle() const noexcept { return socket_.get(); }
  // The address actually bound: with port 0 in listen(), the port the kernel picked.
  endpoint local_endpoint() const { return bound_; }

 private:
  unique_fd socket_;
  endpoint bound_;
};

// "a.b.c.d" and a port as a sockaddr_in; nullopt if the host is not dotted IPv4.
inline std::optional<sockaddr_in> to_sockaddr(const endpoint& ep) noexcept {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(ep.port);
  if (::inet_pton(AF_INET, ep.host.c_str(), &address.sin_addr) != 1) return std::nullopt;
  return address;
}

inline endpoint to_endpoint(const sockaddr_in& address) {
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &address.sin_addr, text, sizeof text);
  return endpoint{text, ntohs(address.sin_port)};
}

inline co::result<void> set_option(int socket, int level, int option) noexcept {
  int on = 1;
  if (::setsockopt(socket, level, option, &on, sizeof on) != 0) return co::errno_code(errno);
  return {};
}

// Bind and listen at `local` (port 0: any free port). SO_REUSEADDR lets a restarted node bind
// its port again while connections of its previous life linger in TIME_WAIT.
inline co::result<listener> listen(const endpoint& local) {
  auto address = to_sockaddr(local);
  if (!address) return make_error_code(errc::invalid_address);
  unique_fd socket{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (!socket) return co::errno_code(errno);
  if (auto set = set_option(socket.get(), SOL_SOCKET, SO_REUSEADDR); !set) return set.error();
  if (::bind(socket.get(), reinterpret_cast<const sockaddr*>(&*address), sizeof *address) != 0 ||
      ::listen(socket.get(), SOMAXCONN) != 0) {
    return co::errno_code(errno);
  }
  sockaddr_in bound{};
  socklen_t length = sizeof bound;
  if (::getsockname(socket.get(), reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
    return co::errno_code(errno);
  }
  return listener{std::move(socket), to_endpoint(bound)};
}

// `co_await accept_operation{ring, listener}`: the next connection, or an error / cancelled().
class accept_operation final : public operation<accept_operation> {
 public:
  accept_operation(ring& r, const listener& from) noexcept
      : operation(r), listening_socket_(from.native_handle()) {}

  co::result<stream> await_resume() {
    if (result() < 0) return error_from_errno(-result());
    unique_fd accepted{result()};
    if (auto set = set_option(accepted.get(), IPPROTO_TCP, TCP_NODELAY); !set) return set.error();
    return stream{std::move(accepted)};
  }

 private:
  friend class operation<accept_operation>;
  void prepare(io_uring_sqe* sqe) noexcept {
    io_uring_prep_accept(sqe, listening_socket_, nullptr, nullptr, SOCK_CLOEXEC);
  }

  int listening_socket_;
};

// `co_await connect_operation{ring, remote}`: a stream connected to `remote`, or an error value
// (errc::invalid_address for a host that is not IPv4, ECONNREFUSED, cancelled(), ...).
class connect_operation final : public operation<connect_operation> {
 public:
  connect_operation(ring& r, const endpoint& remote) : operation(r) {
    auto address = to_sockaddr(remote);
    if (!address) {
      setup_error_ = make_error_code(errc::invalid_address);
      return;
    }
    remote_ = *address;
    socket_ = unique_fd{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (!socket_) {
      setup_error_ = co::errno_code(errno);
      return;
    }
    if (auto set = set_option(socket_.get(), IPPROTO_TCP, TCP_NODELAY); !set) {
      setup_error_ = set.error();
    }
  }

  // A connect that failed before reaching the kernel does not suspend.
  bool await_ready() const noexcept { return static_cast<bool>(setup_error_); }

  co::result<stream> await_resume() {
    if (setup_error_) return setup_error_;
    if (result() < 0) return error_from_errno(-result());
    return stream{std::move(socket_)};
  }

 private:
  friend class operation<connect_operation>;
  void prepare(io_uring_sqe* sqe) noexcept {
    io_uring_prep_connect(sqe, socket_.get(), reinterpret_cast<const sockaddr*>(&remote_),
                          sizeof remote_);
  }

  sockaddr_in remote_{};   // read by the kernel while the connect is in flight
  unique_fd socket_;       // handed to the stream on success, closed otherwise
  std::error_code setup_error_;
};

// `co_await recv_operation{ring, stream, buffer}`: bytes received (0: the peer closed in order).
class recv_operation final : public operation<recv_operation> {
 public:
  recv_operation(ring& r, const stream& from, std::span<std::byte> buffer) noexcept
      : operation(r), socket_(from.native_handle()), buffer_(buffer) {}

  co::result<std::size_t> await_resume() const noexcept { return byte_count(); }

 private:
  friend class operation<recv_operation>;
  void prepare(io_uring_sqe* sqe) noexcept {
    io_uring_prep_recv(sqe, socket_, buffer_.data(), clamp_length(buffer_.size()), 0);
  }

  int socket_;
  std::span<std::byte> buffer_;
};

// `co_await send_operation{ring, stream, bytes}`: bytes sent, possibly fewer than asked. A peer
// that has gone yields EPIPE or ECONNRESET as a value: MSG_NOSIGNAL keeps SIGPIPE away.
class send_operation final : public operation<send_operation> {
 public:
  send_operation(ring& r, const stream& to, std::span<const std::byte> bytes) noexcept
      : operation(r), socket_(to.native_handle()), bytes_(bytes) {}

  co::result<std::size_t> await_resume() const noexcept { return byte_count(); }

 private:
  friend class operation<send_operation>;
  void prepare(io_uring_sqe* sqe) noexcept {
    io_uring_prep_send(sqe, socket_, bytes_.data(), clamp_length(bytes_.size()), MSG_NOSIGNAL);
  }

  int socket_;
  std::span<const std::byte> bytes_;
};

// `co_await sendv_operation{ring, stream, pieces}`: one gathered send of several buffers (a frame
// header and its body, say) as IORING_OP_SENDMSG. The iovec array must outlive the await.
class sendv_operation final : public operation<sendv_operation> {
 public:
  sendv_operation(ring& r, const stream& to, std::span<const iovec> pieces) noexcept
      : operation(r), socket_(to.native_handle()) {
    // msghdr has no const-correct iovec pointer; the kernel only reads through it.
    message_.msg_iov = const_cast<iovec*>(pieces.data());
    message_.msg_iovlen = pieces.size();
  }

  co::result<std::size_t> await_resume() const noexcept { return byte_count(); }

 private:
  friend class operation<sendv_operation>;
  void prepare(io_uring_sqe* sqe) noexcept {
    io_uring_prep_sendmsg(sqe, socket_, &message_, MSG_NOSIGNAL);
  }

  int socket_;
  msghdr message_{};  // read by the kernel while the send is in flight
};

}  // namespace coraft::io::uring
