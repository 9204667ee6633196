// What a function at an I/O boundary returns (opening, reading or writing
// files and sockets, setting up the process): the value, or one line of text
// that says why not. The one error shape in parent/ and common/, in place of
// bool + std::string& out-parameters, std::optional next to a `why`, and
// std::variant<T, std::string>. The text has no trailing newline and never
// holds a key or a password; a caller may put its context in front
// ("--policy: " + r.error()). Pure checks in policy/ return refusals, not this.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace proxy {

// The failure half of a Result: `return Error{"cannot open " + path};`.
struct Error {
    std::string text;
};

template <typename T>
class [[nodiscard]] Result {
  public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Result(Error e) : v_(std::in_place_index<1>, std::move(e)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    // The value; only when ok().
    T& operator*() & { return std::get<0>(v_); }
    const T& operator*() const& { return std::get<0>(v_); }
    T&& operator*() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &std::get<0>(v_); }
    const T* operator->() const { return &std::get<0>(v_); }
    // Why not; empty when ok().
    const std::string& error() const {
        static const std::string none;
        const Error* e = std::get_if<1>(&v_);
        return e != nullptr ? e->text : none;
    }

  private:
    std::variant<T, Error> v_;
};

// Done, or why not.
template <>
class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error e) : failed_(true), error_(std::move(e.text)) {}

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const std::string& error() const { return error_; }

  private:
    bool failed_ = false;
    std::string error_;
};

}  // namespace proxy
