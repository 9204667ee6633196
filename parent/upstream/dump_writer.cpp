#include "parent/upstream/dump_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <system_error>

#include "common/log.hpp"
#include "common/unique_fd.hpp"

namespace proxy {

void write_dump_file(const DumpFile& file) {
    const std::string data = render_dump_file(file);
    UniqueFd fd(
        ::open(file.path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) {
        LOG_WARN("cannot write dump %s: %m", file.path.c_str());
        return;
    }
    std::size_t off = 0;
    while (off < data.size()) {
        const ssize_t n = ::write(fd.get(), data.data() + off, data.size() - off);
        if (n <= 0) {
            LOG_WARN("cannot write dump %s: %m", file.path.c_str());
            return;
        }
        off += static_cast<std::size_t>(n);
    }
}

bool DumpFileWriter::start(std::string& error) {
    try {
        thread_ = std::thread([this] { run(); });
    } catch (const std::system_error& e) {
        error = e.what();
        return false;
    }
    return true;
}

DumpFileWriter::~DumpFileWriter() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    ready_.notify_one();
    if (thread_.joinable()) thread_.join();
}

void DumpFileWriter::post(DumpFile file) {
    if (!thread_.joinable()) {
        write_dump_file(file);
        return;
    }
    const std::size_t size = file.body.size();
    {
        std::unique_lock lock(mu_);
        room_.wait(lock, [&] { return queued_bytes_ == 0 || queued_bytes_ + size <= kMaxQueued; });
        queued_bytes_ += size;
        queue_.push_back(std::move(file));
    }
    ready_.notify_one();
}

void DumpFileWriter::run() {
    std::unique_lock lock(mu_);
    for (;;) {
        ready_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, and everything is written
        DumpFile file = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        write_dump_file(file);
        const std::size_t size = file.body.size();
        std::string().swap(file.body);  // freed outside the lock
        lock.lock();
        queued_bytes_ -= size;
        room_.notify_one();
    }
}

}  // namespace proxy
