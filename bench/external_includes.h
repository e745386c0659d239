#pragma once

// Every Boost and CLI11 header the benchmark programs use, included in one place.
//
// g++ 12 reports "potential null pointer dereference" (-Wnull-dereference) in
// code inlined from these headers: at -O3 in boost/asio/detail/impl/
// scheduler.ipp (compensating_work_started, via the epoll reactor's completion
// path), at -O2 in CLI::detail::split (std::vector<std::string> growth). Both
// are false positives in library code, so the warning is silenced for these
// headers only; the benchmark code itself stays under -Wnull-dereference.

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wnull-dereference"
#include <boost/asio/buffer.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <CLI/CLI.hpp>
#pragma GCC diagnostic pop
