// Numbers and sizes on the command line: the parsers and the flag table's
// apply/show functions for them (common/cli_flags.cpp). Header-only: the
// table instantiates one apply/show pair per Options member.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "common/options.hpp"

namespace proxy::cli::values {

constexpr std::uint64_t KiB = 1024;
constexpr std::uint64_t MiB = KiB * 1024;
constexpr std::uint64_t GiB = MiB * 1024;
constexpr std::uint64_t kDay = 86400;

inline std::optional<std::uint64_t> parse_digits(std::string_view s) {
    std::uint64_t n = 0;
    if (s.empty() || s.front() < '0' || s.front() > '9') return std::nullopt;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return n;
}

inline std::string range_text(std::uint64_t lo, std::uint64_t hi) {
    return std::to_string(lo) + "-" + std::to_string(hi);
}

// 1536, 64K, 64M, 1G (binary multiples; the suffix is case-insensitive).
inline std::optional<std::uint64_t> parse_size(std::string_view s) {
    std::uint64_t unit = 1;
    if (!s.empty()) {
        const std::string_view suffixes = "KkMmGg";
        const std::size_t at = suffixes.find(s.back());
        if (at != std::string_view::npos) {
            unit = at < 2 ? KiB : at < 4 ? MiB : GiB;
            s.remove_suffix(1);
        }
    }
    auto n = parse_digits(s);
    if (!n || *n > UINT64_MAX / unit) return std::nullopt;
    return *n * unit;
}

inline std::string size_text(std::uint64_t n) {
    if (n != 0 && n % GiB == 0) return std::to_string(n / GiB) + "G";
    if (n != 0 && n % MiB == 0) return std::to_string(n / MiB) + "M";
    if (n != 0 && n % KiB == 0) return std::to_string(n / KiB) + "K";
    return std::to_string(n);
}

template <auto M>
using FieldType = std::remove_reference_t<decltype(std::declval<Options&>().*M)>;

template <auto M, std::uint64_t Lo, std::uint64_t Hi>
bool apply_number(Options& o, std::string_view v, std::string& expected) {
    auto n = parse_digits(v);
    if (!n || *n < Lo || *n > Hi) {
        expected = range_text(Lo, Hi);
        return false;
    }
    o.*M = static_cast<FieldType<M>>(*n);
    return true;
}

template <auto M>
std::string show_number(const Options& o) {
    return std::to_string(o.*M);
}

// 0 means "chosen at run time" (the flag's unset note says how).
template <auto M>
std::string show_number_or_unset(const Options& o) {
    return o.*M == 0 ? std::string() : std::to_string(o.*M);
}

template <auto M, std::uint64_t Lo, std::uint64_t Hi>
bool apply_size(Options& o, std::string_view v, std::string& expected) {
    auto n = parse_size(v);
    if (!n || *n < Lo || *n > Hi) {
        expected = size_text(Lo) + "-" + size_text(Hi) + " bytes, suffixes K, M, G";
        return false;
    }
    o.*M = static_cast<FieldType<M>>(*n);
    return true;
}

template <auto M>
std::string show_size(const Options& o) {
    return size_text(o.*M);
}

}  // namespace proxy::cli::values
