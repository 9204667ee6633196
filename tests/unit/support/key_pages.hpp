// Test helper: a sealed KeyPage holding `value` (a fake header value).
#pragma once

#include <doctest/doctest.h>

#include <cstring>
#include <span>
#include <string>
#include <utility>

#include "common/secret_page.hpp"

namespace proxy::test {

// An empty, writable KeyPage of at least min_size bytes.
inline KeyPage make_page(std::size_t min_size = 0) {
    std::string error;
    auto page = KeyPage::create(error, min_size);
    REQUIRE_MESSAGE(page.has_value(), error);
    return std::move(*page);
}

// True when every byte is zero (a wiped page).
inline bool all_zero(std::span<const char> bytes) {
    for (const char c : bytes) {
        if (c != 0) return false;
    }
    return true;
}

inline KeyPage page_with(const std::string& value) {
    std::string error;
    auto page = KeyPage::create(error);
    REQUIRE_MESSAGE(page.has_value(), error);
    std::memcpy(page->writable().data(), value.data(), value.size());
    page->set_length(value.size());
    REQUIRE(page->seal());
    return std::move(*page);
}

}  // namespace proxy::test
