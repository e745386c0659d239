#pragma once

// Internal to the test clients (clients_*.cpp): Asio/Beast helpers shared by
// the HTTP, WebSocket and framed-TCP clients. Split into three translation
// units so the heavy Beast instantiations compile in parallel.

#include <openssl/ssl.h>
#include <zlib.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <cctype>
#include <deque>
#include <functional>
#include <string_view>
#include <variant>

#include "shardd_test/harness.h"

namespace shardd::test::client_util {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

// Runs `io` until `done()` or the timeout. Returns done().
inline bool run_until(asio::io_context& io, Ms timeout, const std::function<bool()>& done) {
  auto end = Clock::now() + timeout;
  while (!done()) {
    auto left = end - Clock::now();
    if (left <= Clock::duration::zero()) return false;
    if (io.stopped()) io.restart();
    size_t n = io.run_one_for(left);
    if (n == 0 && io.stopped() && !done()) {
      return false;  // no work left: nothing can make done() true
    }
  }
  return true;
}

inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

template <class Fields>
std::vector<std::pair<std::string, std::string>> header_list(const Fields& f) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& h : f) out.emplace_back(std::string(h.name_string()), std::string(h.value()));
  return out;
}

inline json decode_body(const std::string& bytes, bool msgpack) {
  if (msgpack) {
    return json::from_msgpack(bytes, true, false);
  }
  return json::parse(bytes, nullptr, false);
}

inline bool zlib_inflate_all(const std::string& in, std::string* out) {
  out->clear();
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return false;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  char chunk[16384];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(chunk);
    zs.avail_out = sizeof chunk;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      return false;
    }
    out->append(chunk, sizeof chunk - zs.avail_out);
  } while (rc != Z_STREAM_END);
  inflateEnd(&zs);
  return true;
}

inline std::string zlib_deflate_all(const std::string& in) {
  uLongf bound = compressBound(static_cast<uLong>(in.size()));
  std::string out(bound, '\0');
  compress2(reinterpret_cast<Bytef*>(out.data()), &bound, reinterpret_cast<const Bytef*>(in.data()),
            static_cast<uLong>(in.size()), 6);
  out.resize(bound);
  return out;
}

// Opens `sock` (IPv4), applies the options and connects to 127.0.0.1:port.
template <class Socket>
beast::error_code open_and_connect(asio::io_context& io, Socket& sock, uint16_t port,
                                   const std::string& source_ip, int rcvbuf, Ms timeout) {
  beast::error_code ec;
  sock.open(tcp::v4(), ec);
  if (ec) return ec;
  if (rcvbuf > 0) sock.set_option(asio::socket_base::receive_buffer_size(rcvbuf), ec);
  if (!source_ip.empty()) {
    sock.bind(tcp::endpoint(asio::ip::make_address(source_ip), 0), ec);
    if (ec) return ec;
  }
  sock.set_option(tcp::no_delay(true), ec);
  std::optional<beast::error_code> result;
  sock.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                     [&](beast::error_code e) { result = e; });
  if (!run_until(io, timeout, [&] { return result.has_value(); })) {
    sock.close(ec);
    run_until(io, Ms(1000), [&] { return result.has_value(); });
    return asio::error::timed_out;
  }
  return *result;
}

inline void setup_client_tls(ssl::context& ctx, const std::string& ca_file, int max_version) {
  if (!ca_file.empty()) {
    ctx.load_verify_file(ca_file);
    ctx.set_verify_mode(ssl::verify_peer);
  } else {
    ctx.set_verify_mode(ssl::verify_none);
  }
  if (max_version) {
    // Allow old protocol versions on our side so that a refusal can only come
    // from the server.
    SSL_CTX_set_security_level(ctx.native_handle(), 0);
    SSL_CTX_set_cipher_list(ctx.native_handle(), "DEFAULT:@SECLEVEL=0");
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_VERSION);
    SSL_CTX_set_max_proto_version(ctx.native_handle(), max_version);
  }
}

// SNI "localhost" (SSL_set_tlsext_host_name without its C cast).
inline void set_sni(SSL* ssl) {
  static char name[] = "localhost";
  SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, name);
}

}  // namespace shardd::test::client_util
