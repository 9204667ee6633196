#include "parent/upstream/exchange_dump.hpp"

#include <chrono>
#include <cstdio>

#include "common/json.hpp"
#include "common/log.hpp"
#include "parent/upstream/dump_writer.hpp"

namespace proxy {

namespace {

// Minimal recursive-descent JSON recogniser (RFC 8259), depth-limited.
struct JsonScan {
    std::string_view s;
    std::size_t i = 0;
    int depth = 0;

    void ws() {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
    }
    bool lit(std::string_view w) {
        if (s.substr(i, w.size()) != w) return false;
        i += w.size();
        return true;
    }
    bool str() {
        if (i >= s.size() || s[i] != '"') return false;
        for (++i; i < s.size(); ++i) {
            auto c = static_cast<unsigned char>(s[i]);
            if (c == '"') return ++i, true;
            if (c < 0x20) return false;
            if (c == '\\' && ++i >= s.size()) return false;
        }
        return false;
    }
    bool num() {
        std::size_t start = i;
        if (i < s.size() && s[i] == '-') ++i;
        while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == 'e' ||
                                s[i] == 'E' || s[i] == '+' || s[i] == '-'))
            ++i;
        return i > start;
    }
    bool value() {
        if (++depth > 256) return false;
        ws();
        if (i >= s.size()) return false;
        bool ok;
        char c = s[i];
        if (c == '{')
            ok = container('}', true);
        else if (c == '[')
            ok = container(']', false);
        else if (c == '"')
            ok = str();
        else if (c == 't')
            ok = lit("true");
        else if (c == 'f')
            ok = lit("false");
        else if (c == 'n')
            ok = lit("null");
        else
            ok = num();
        --depth;
        return ok;
    }
    bool container(char close, bool object) {
        ++i;
        ws();
        if (i < s.size() && s[i] == close) return ++i, true;
        for (;;) {
            if (object) {
                ws();
                if (!str()) return false;
                ws();
                if (i >= s.size() || s[i++] != ':') return false;
            }
            if (!value()) return false;
            ws();
            if (i >= s.size()) return false;
            if (s[i] == close) return ++i, true;
            if (s[i++] != ',') return false;
        }
    }
};

std::string body_json(const std::string& body) {
    if (is_json_document(body)) return body;
    return "\"" + json_escape(body) + "\"";
}

std::string headers_json(const HeaderList& headers) {
    std::string out = "[";
    for (std::size_t k = 0; k < headers.size(); ++k) {
        const auto& h = headers[k];
        bool secret = iequals(h.name, "authorization");
        out += k ? ",\n    " : "\n    ";
        out += "{\"name\": \"" + json_escape(h.name) + "\", \"value\": \"" +
               (secret ? std::string("[REDACTED]") : json_escape(h.value)) + "\"}";
    }
    return out + (headers.empty() ? "]" : "\n  ]");
}

}  // namespace

bool is_json_document(std::string_view s) {
    JsonScan j{s};
    if (!j.value()) return false;
    j.ws();
    return j.i == s.size();
}

std::string render_dump_file(const DumpFile& f) {
    if (f.is_request) {
        return "{\n  \"method\": \"POST\",\n  \"url\": \"/v1/responses\",\n  \"headers\": " +
               headers_json(f.headers) + ",\n  \"body\": " + body_json(f.body) + "\n}\n";
    }
    return "{\n  \"status\": " + std::to_string(f.status) +
           ",\n  \"headers\": " + headers_json(f.headers) + ",\n  \"body\": " + body_json(f.body) +
           "\n}\n";
}

ExchangeDump::ExchangeDump(DumpFileWriter& writer, std::string request_path,
                           std::string response_path, std::string host,
                           const HeaderList& request_headers)
    : writer_(writer),
      request_path_(std::move(request_path)),
      response_path_(std::move(response_path)) {
    req_headers_.push_back({"Host", std::move(host)});
    req_headers_.insert(req_headers_.end(), request_headers.begin(), request_headers.end());
    req_headers_.push_back({"Authorization", "[REDACTED]"});
}

// The bodies move to the writer thread: the loop neither copies nor escapes
// them (JSON escaping of a 64 MiB body took the loop away for 100s of ms).
void ExchangeDump::request_done() {
    if (request_written_) return;
    request_written_ = true;
    writer_.post(
        DumpFile{std::move(request_path_), true, 0, std::move(req_headers_), std::move(req_body_)});
}

void ExchangeDump::response_head(int status, const HeaderList& headers) {
    status_ = status;
    resp_headers_ = headers;
}

void ExchangeDump::response_done() {
    if (response_written_) return;
    request_done();
    response_written_ = true;
    writer_.post(DumpFile{std::move(response_path_), false, status_, std::move(resp_headers_),
                          std::move(resp_body_)});
}

DumpWriter::DumpWriter(std::string dir, std::string upstream_host)
    : files_(std::make_unique<DumpFileWriter>()),
      dir_(std::move(dir)),
      host_(std::move(upstream_host)) {}

DumpWriter::~DumpWriter() = default;

bool DumpWriter::start_thread(std::string& error) {
    return files_->start(error);
}

std::unique_ptr<ExchangeDump> DumpWriter::begin(const HeaderList& forwarded_headers) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    char prefix[64];
    std::snprintf(prefix, sizeof prefix, "%06llu-%lld", static_cast<unsigned long long>(next_++),
                  static_cast<long long>(ms));
    std::string base = dir_ + "/" + prefix;
    return std::make_unique<ExchangeDump>(*files_, base + "-request.json", base + "-response.json",
                                          host_, forwarded_headers);
}

}  // namespace proxy
