#pragma once

#include <memory>

namespace shardd::net {

class Connection;

// Writes the output of one burst of work on an io thread together. While an
// OutputBatch is open on a thread, a connection of that thread that is given
// a frame outside its read handler does not schedule its own flush through
// the executor's queue (one handler per connection); the batch writes every
// such connection when it closes. A push to the 1,000 members of a channel
// that live on this thread then costs their writes and nothing else.
//
//   boost::asio::post(io, [sessions, body] {
//     net::OutputBatch batch;
//     for (auto& s : sessions) s->push(op, body);
//   });  // written here
//
// Thread-safety: lives on the stack of one io thread. A batch opened while
// another is open on the same thread joins it (the outer one writes).
class OutputBatch {
 public:
  OutputBatch();
  ~OutputBatch();
  OutputBatch(const OutputBatch&) = delete;
  OutputBatch& operator=(const OutputBatch&) = delete;

  // The batch open on the calling thread, or null.
  static OutputBatch* current();

  // Writes `c` when the batch closes (Connection::flush_batched), keeping it
  // alive until then. REQUIRES: on this batch's thread, `c` on this thread's
  // executor, and `c` not added before in this batch.
  void add(std::shared_ptr<Connection> c);

 private:
  bool outer_;
};

}  // namespace shardd::net
