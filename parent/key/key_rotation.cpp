#include "parent/key/key_rotation.hpp"

#include <fcntl.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "common/log.hpp"
#include "common/unique_fd.hpp"
#include "parent/key/key_intake.hpp"
#include "parent/metrics/proxy_metrics.hpp"

namespace proxy {

bool KeyRotation::on_sighup() {
    // --github-oidc renews its own access tokens; nothing to rotate here.
    if (options_.github_oidc) return false;
    if (options_.key_file.empty()) {
        if (!said_stdin_)
            LOG_WARN(
                "SIGHUP: the key came on stdin and cannot be read again; to rotate it, "
                "restart with the new key (or start with --key-file)");
        said_stdin_ = true;
        return false;
    }
    const auto refuse = [this](const std::string& why) {
        LOG_ERROR("key rotation refused, the old key stays: --key-file %s: %s",
                  options_.key_file.c_str(), why.c_str());
        return false;
    };
    std::string error;
    std::optional<KeyPage> page = KeyPage::create(error);
    if (!page) return refuse("cannot set up a key page: " + error);
    UniqueFd fd(::open(options_.key_file.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
    if (!fd) return refuse(std::strerror(errno));
    int read_errno = 0;
    // The intake's own rules and messages, as at start-up; on any error the
    // page is wiped and goes with `page`.
    const KeyIntakeError e = read_key_from_fd(*page, fd.get(), &read_errno);
    if (e != KeyIntakeError::None) {
        // (The start-up message for an empty key speaks of stdin.)
        std::string why =
            e == KeyIntakeError::Missing ? "the file holds no key" : key_intake_message(e);
        if (e == KeyIntakeError::ReadError) why += std::strerror(read_errno);
        return refuse(why);
    }
    if (!page->seal()) return refuse("cannot make the key page read-only");
    credential_.replace(std::move(*page));
    proxy_metrics().count_key_rotation();
    LOG_INFO(
        "key rotated: new requests carry the key from %s; the old key is wiped when the "
        "last request that was sent with it lets go of it",
        options_.key_file.c_str());
    return true;
}

}  // namespace proxy
