// --dump-dir files are rendered and written on a thread of their own, so a
// large dump (a whole 64 MiB body, escaped to JSON) never stalls the event
// loop and the streams it carries. The thread is started after the parent
// dropped its capabilities (they are per thread) and before its seccomp
// filter, which is applied to every thread of the process (TSYNC) and allows
// no new threads. Nothing here ever sees the key: Authorization is
// "[REDACTED]" in the headers the exchange hands over.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "common/http_types.hpp"

namespace proxy {

// One dump file: what the original writes for a request or a response.
struct DumpFile {
    std::string path;
    bool is_request = true;
    int status = 0;  // responses only
    HeaderList headers;
    std::string body;
};

// The file's JSON text (parent/upstream/exchange_dump.cpp).
std::string render_dump_file(const DumpFile& file);

class DumpFileWriter {
  public:
    DumpFileWriter() = default;
    // Writes everything still queued, then joins the thread.
    ~DumpFileWriter();
    DumpFileWriter(const DumpFileWriter&) = delete;
    DumpFileWriter& operator=(const DumpFileWriter&) = delete;

    // False (with the reason) if the thread cannot be made; files are then
    // written in the caller's thread, as before.
    bool start(std::string& error);
    // From the event loop. Waits only when more than kMaxQueued bytes of
    // dumps are still unwritten (a disk far slower than the upstream).
    void post(DumpFile file);

    static constexpr std::size_t kMaxQueued = 256u << 20;

  private:
    void run();

    std::mutex mu_;
    std::condition_variable ready_;  // work queued, or stopping
    std::condition_variable room_;   // the queue shrank
    std::deque<DumpFile> queue_;
    std::size_t queued_bytes_ = 0;
    bool stopping_ = false;
    std::thread thread_;
};

// Writes one file (mode 0600, never over an existing one); logs a failure.
void write_dump_file(const DumpFile& file);

}  // namespace proxy
