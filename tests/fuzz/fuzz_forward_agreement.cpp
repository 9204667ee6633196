// Differential: what the worker forwards, the parent accepts. Random heads go
// through the worker's intake (parser, request policy, header filter and its
// own check of what it forwards, worker/request_intake.cpp) under options
// that reach the worker the way they do in use (worker_arguments, then the
// worker's parse_options); everything it would forward goes through the
// codec and the parent's check (policy/forward_policy.cpp) under the
// parent's options. A ReqOpen the parent refuses gets the worker killed, so
// a refusal there is a head with which any client could kill workers.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/cli.hpp"
#include "common/ipc.hpp"
#include "tests/fuzz/fuzz_check.hpp"
#include "worker/request_head_parser.hpp"
#include "worker/request_intake.hpp"

using namespace proxy;

namespace {

constexpr std::uint16_t kPort = 18787;
constexpr std::uint32_t kConn = 7;

// The parent's options from the first four bytes of the input.
Options parent_options(const std::uint8_t* d) {
    Options o;
    o.max_header_bytes = 1024 + (d[0] % 32) * 256;  // 1 KiB .. ~9 KiB
    o.max_headers = 1 + d[1] % 120;
    o.max_body_bytes = (d[2] & 0x40) ? 10 : (64ull << 20);
    if (d[2] & 0x01) o.openai_organization = "org-fuzz";
    if (d[2] & 0x02) o.openai_project = "proj-fuzz-project-with-a-longer-name";
    if (d[2] & 0x04) o.http_shutdown = true;
    if (d[2] & 0x08) o.allowed_hosts.push_back("proxy.internal");
    o.upstream_url = "https://api.openai.com/v1/responses";
    (void)d[3];
    return o;
}

// What the worker runs with: the parent's options as its argv carries them.
Options worker_options(const Options& parent) {
    std::vector<std::string> args = worker_arguments(parent, 1);
    args.insert(args.begin(), "codex-responses-api-proxy-worker");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    Options w;
    std::string error;
    FUZZ_CHECK(parse_options(static_cast<int>(args.size()), argv.data(), w, error) ==
               ParseStatus::Ok);
    return w;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 4) return 0;
    const Options parent = parent_options(data);
    const Options worker = worker_options(parent);
    std::string_view in(reinterpret_cast<const char*>(data + 4), size - 4);

    // As ClientConnection::process_input finds the head: longer than the
    // limit is refused (431) before it is parsed.
    const std::size_t limit = worker.max_header_bytes;
    const std::size_t head_len = find_head_end(in.substr(0, limit + 4));
    if (head_len == 0 || head_len > limit) return 0;

    const RequestPolicy policy = make_request_policy(worker, kPort);
    RequestPolicy unix_policy_m = policy;
    unix_policy_m.any_host = true;
    const RequestPolicy& unix_policy = unix_policy_m;
    HeadLimits limits{worker.max_header_bytes, worker.max_headers};
    for (const RequestPolicy* p : {&policy, &unix_policy}) {
        const IntakeRules rules{limits, p, make_forward_rules(worker)};
        Intake got = take_request_head(in.substr(0, head_len), rules, false, kConn);
        if (got.kind == Intake::Kind::Refuse) {
            FUZZ_CHECK(got.refusal.status >= 400 && got.refusal.status < 600);
            FUZZ_CHECK(got.refusal.code != nullptr && got.refusal.code[0] != '\0');
            continue;
        }
        if (got.kind != Intake::Kind::Forward) continue;
        FUZZ_CHECK(got.open.size() <= ipc::kMaxPayload);
        // The parent's side: decode, then its check under its own options.
        std::string_view body;
        auto open = ipc::decode_req_open(got.open, 0, body);
        FUZZ_CHECK(open.has_value());
        FUZZ_CHECK(body.empty());
        FUZZ_CHECK(open->conn == kConn);
        auto fault = check_forwarded_request(*open, make_forward_rules(parent));
        if (fault) std::fprintf(stderr, "parent refuses: %s\n", fault->why.c_str());
        FUZZ_CHECK(!fault);
    }
    return 0;
}
