// Test helper: a sealed KeyPage holding `value` (a fake header value).
#pragma once

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <utility>

#include "common/secret_page.hpp"

namespace proxy::test {

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
