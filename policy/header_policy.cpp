#include "policy/header_policy.hpp"

#include <array>
#include <string_view>

#include "common/http_syntax.hpp"

namespace proxy {
namespace {

// Hop-by-hop fields (RFC 9110 7.6.1): they describe one connection, never
// the end-to-end message. Dropped in both directions.
constexpr std::array<std::string_view, 7> kHopByHop = {
    "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding", "Upgrade",
};

// Request fields the client may not pass to the upstream.
constexpr std::array<std::string_view, 8> kRequestDenied = {
    "Host",                 // the parent writes the configured upstream's Host
    "Content-Length",       // the parent writes framing of its own (no smuggling)
    "Expect",               // 100-continue is answered by the worker, not the upstream
    "Authorization",        // the operator's key, added by the parent, is the only credential
    "Proxy-Authorization",  // credentials meant for a proxy, never for the upstream
    "Cookie",               // no ambient browser state reaches the API
    "OpenAI-Organization",  // billing scope is the operator's choice...
    "OpenAI-Project",       // ...set by --openai-organization / --openai-project
};

constexpr std::string_view kOrganization = "OpenAI-Organization";
constexpr std::string_view kProject = "OpenAI-Project";

// Response fields the worker replaces: it frames the body toward the client.
constexpr std::array<std::string_view, 1> kResponseDenied = {"Content-Length"};

template <std::size_t N>
bool listed(const std::array<std::string_view, N>& names, std::string_view name) {
    for (auto n : names) {
        if (iequals(n, name)) return true;
    }
    return false;
}

// RFC 9110 7.6.1: a sender lists in Connection the fields meant for this hop only.
bool named_in_connection(const HeaderList& headers, std::string_view name) {
    return http::list_contains_token(headers, "Connection", name);
}

bool dropped_from_request(const HeaderList& all, std::string_view name) {
    return listed(kHopByHop, name) || listed(kRequestDenied, name) ||
           named_in_connection(all, name);
}

void append_fixed(HeaderList& out, const HeaderRules& rules) {
    if (!rules.fixed_organization.empty()) {
        out.push_back({std::string(kOrganization), rules.fixed_organization});
    }
    if (!rules.fixed_project.empty()) out.push_back({std::string(kProject), rules.fixed_project});
}

// A fixed field must appear exactly once with its configured value when
// configured, and not at all otherwise: a worker must not choose the billing
// scope, nor drop the one the operator set.
std::optional<std::string> check_fixed(const HeaderList& headers, std::string_view name,
                                       const std::string& fixed) {
    std::size_t seen = 0;
    for (const auto& h : headers) {
        if (!iequals(h.name, name)) continue;
        if (fixed.empty()) return std::string(name) + " is not configured";
        if (h.value != fixed) return std::string(name) + " differs from the configured value";
        ++seen;
    }
    if (!fixed.empty() && seen != 1) return std::string(name) + " must appear exactly once";
    return std::nullopt;
}

}  // namespace

HeaderRules make_header_rules(const Options& opts) {
    return HeaderRules{opts.openai_organization, opts.openai_project};
}

HeaderList filter_request_headers(const HeaderList& in, const HeaderRules& rules) {
    HeaderList out;
    out.reserve(in.size() + 2);
    for (const auto& h : in) {
        if (!dropped_from_request(in, h.name)) out.push_back(h);
    }
    append_fixed(out, rules);
    return out;
}

HeaderList filter_response_headers(const HeaderList& in) {
    HeaderList out;
    out.reserve(in.size());
    for (const auto& h : in) {
        if (listed(kHopByHop, h.name) || listed(kResponseDenied, h.name) ||
            named_in_connection(in, h.name)) {
            continue;
        }
        out.push_back(h);
    }
    return out;
}

ForwardLimits forward_limits(const Options& opts, const HeaderRules& rules) {
    ForwardLimits l{opts.max_headers, opts.max_header_bytes};
    HeaderList fixed;
    append_fixed(fixed, rules);
    for (const auto& h : fixed) {
        l.max_fields += 1;
        l.max_bytes += forwarded_field_bytes(h);
    }
    return l;
}

std::optional<HeaderFault> check_forwarded_headers(const HeaderList& headers,
                                                   const HeaderRules& rules,
                                                   const ForwardLimits& limits) {
    auto fault = [](const Refusal& r, std::string why) {
        return std::optional<HeaderFault>(HeaderFault{&r, std::move(why)});
    };
    if (headers.size() > limits.max_fields)
        return fault(refusal::kTooManyHeaders, "too many header fields");
    std::size_t bytes = 0;
    for (const auto& h : headers) {
        // The name is not logged when it is not a token: it may hold anything.
        if (!http::is_token(h.name))
            return fault(refusal::kBadRequest, "header name is not a token");
        if (!http::is_field_value(h.value) || http::trim_ows(h.value).size() != h.value.size()) {
            return fault(refusal::kBadRequest, "invalid value in header " + h.name);
        }
        bytes += forwarded_field_bytes(h);
        if (iequals(h.name, kOrganization) || iequals(h.name, kProject)) continue;  // check_fixed
        if (listed(kHopByHop, h.name) || listed(kRequestDenied, h.name)) {
            return fault(refusal::kBadRequest, "denied header " + h.name);
        }
    }
    if (bytes > limits.max_bytes) return fault(refusal::kHeaderTooLarge, "header fields too large");
    if (auto r = check_fixed(headers, kOrganization, rules.fixed_organization))
        return fault(refusal::kBadRequest, std::move(*r));
    if (auto r = check_fixed(headers, kProject, rules.fixed_project))
        return fault(refusal::kBadRequest, std::move(*r));
    return std::nullopt;
}

}  // namespace proxy
