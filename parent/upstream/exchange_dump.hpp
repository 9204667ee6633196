// --dump-dir: the original's request/response dumps, written by the parent
// (the worker can open no files). Authorization is always "[REDACTED]"; the
// key itself never passes through here.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/http_types.hpp"

namespace proxy {

class DumpFileWriter;

// One exchange's dumps: bodies are collected here as they pass, and each file
// goes to the writer thread whole when its side of the exchange is done.
class ExchangeDump {
  public:
    ExchangeDump(DumpFileWriter& writer, std::string request_path, std::string response_path,
                 std::string host, const HeaderList& request_headers);
    void request_body(std::string_view data) { req_body_.append(data); }
    void request_done();
    void response_head(int status, const HeaderList& headers);
    void response_body(std::string_view data) { resp_body_.append(data); }
    void response_done();

  private:
    DumpFileWriter& writer_;
    std::string request_path_, response_path_;
    HeaderList req_headers_;
    std::string req_body_;
    bool request_written_ = false;
    int status_ = 0;
    HeaderList resp_headers_;
    std::string resp_body_;
    bool response_written_ = false;
};

class DumpWriter {
  public:
    DumpWriter(std::string dir, std::string upstream_host);
    ~DumpWriter();
    std::unique_ptr<ExchangeDump> begin(const HeaderList& forwarded_headers);
    // The writer thread (parent/upstream/dump_writer.hpp): started between dropping
    // capabilities and the seccomp filter. Until then files are written inline.
    bool start_thread(std::string& error);

  private:
    std::unique_ptr<DumpFileWriter> files_;
    std::string dir_;
    std::string host_;
    std::atomic<std::uint64_t> next_ = 1;  // upstream threads number files too
};

// Is `s` one complete JSON value? (Bodies that are JSON are dumped as JSON.)
bool is_json_document(std::string_view s);

}  // namespace proxy
