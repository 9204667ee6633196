// Key rotation by SIGHUP: --key-file read again into a fresh locked page,
// which becomes the credential's current page. Request heads already queued
// or written hold the old page (parent/key/credential.hpp) until the last of
// them lets go; then it is wiped and unmapped. A new key that cannot be read,
// is empty, too long or outside [A-Za-z0-9_-] is not taken: the old key
// stays, and one log line says why.
//
// The parent's seccomp filter allows openat (any path: it cannot be limited
// to one), and the file is opened with the privileges the parent kept: root
// reads a root-only file as its owner; the packaged unit's parent reads the
// copy systemd gives it (packaging/README.md, "Rotate the key").
#pragma once

#include "common/options.hpp"
#include "parent/key/credential.hpp"

namespace proxy {

class KeyRotation {
  public:
    KeyRotation(const Options& o, Credential& credential) : options_(o), credential_(credential) {}

    // SIGHUP. True when a new key was taken.
    bool on_sighup();

  private:
    const Options& options_;
    Credential& credential_;
    bool said_stdin_ = false;  // "the key came on stdin" is said once
};

}  // namespace proxy
