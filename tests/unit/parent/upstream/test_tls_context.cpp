// use_trust_directory(): the system store as a hashed directory, read only
// when verification needs an issuer. A throwaway CA is made here, written
// under its subject hash, and found by a real X509_verify_cert.
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include <doctest/doctest.h>

#include "parent/upstream/tls_context.hpp"
#include "tests/unit/support/temp_files.hpp"

namespace {

using proxy::test::TempDir;

// A self-signed CA certificate with a fresh P-256 key.
X509* make_ca(const char* common_name) {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    if (key == nullptr || cert == nullptr) return nullptr;
    X509_set_version(cert, X509_VERSION_3);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
    X509_set_issuer_name(cert, name);
    X509_set_pubkey(cert, key);
    const bool signed_ok = X509_sign(cert, key, EVP_sha256()) > 0;
    EVP_PKEY_free(key);
    if (!signed_ok) {
        X509_free(cert);
        return nullptr;
    }
    return cert;
}

bool write_pem(const std::string& path, X509* cert) {
    FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr) return false;
    const bool ok = PEM_write_X509(f, cert) == 1;
    return std::fclose(f) == 0 && ok;
}

std::string hash_name(X509* cert) {
    char name[16];
    std::snprintf(name, sizeof name, "%08lx.0", X509_subject_name_hash(cert));
    return name;
}

int store_objects(SSL_CTX* ctx) {
    return sk_X509_OBJECT_num(X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx)));
}

// X509_verify_cert of `cert` against the context's store.
bool verifies(SSL_CTX* ctx, X509* cert) {
    X509_STORE_CTX* vctx = X509_STORE_CTX_new();
    bool ok = vctx != nullptr &&
              X509_STORE_CTX_init(vctx, SSL_CTX_get_cert_store(ctx), cert, nullptr) == 1 &&
              X509_verify_cert(vctx) == 1;
    X509_STORE_CTX_free(vctx);
    return ok;
}

}  // namespace

TEST_CASE("use_trust_directory: issuers are read from the hashed directory when needed") {
    TempDir dir("proxy-trust");
    REQUIRE(!dir.path.empty());
    X509* ca = make_ca("proxy unit test CA");
    X509* stranger = make_ca("nobody trusts this CA");
    REQUIRE(ca != nullptr);
    REQUIRE(stranger != nullptr);
    REQUIRE(write_pem(dir.path + "/" + hash_name(ca), ca));

    proxy::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    REQUIRE(ctx);
    REQUIRE(proxy::use_trust_directory(ctx.get(), dir.path.c_str()));
    CHECK(store_objects(ctx.get()) == 0);  // nothing parsed at start
    CHECK(verifies(ctx.get(), ca));
    CHECK(store_objects(ctx.get()) == 1);  // the one issuer it needed, cached
    CHECK_FALSE(verifies(ctx.get(), stranger));
    X509_free(ca);
    X509_free(stranger);
}

TEST_CASE("use_trust_directory: a directory without hashed names is not used") {
    TempDir dir("proxy-trust");
    REQUIRE(!dir.path.empty());
    X509* ca = make_ca("proxy unit test CA");
    REQUIRE(ca != nullptr);
    // A bundle-style name, and names that only look like hashes.
    for (const char* name : {"ca-certificates.crt", "0123abcd.pem", "0123ABCD.0", "0123abcd.0x"}) {
        REQUIRE(write_pem(dir.path + "/" + name, ca));
    }
    proxy::SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
    REQUIRE(ctx);
    CHECK_FALSE(proxy::use_trust_directory(ctx.get(), dir.path.c_str()));
    CHECK_FALSE(proxy::use_trust_directory(ctx.get(), (dir.path + "/missing").c_str()));
    CHECK_FALSE(proxy::use_trust_directory(ctx.get(), nullptr));
    CHECK_FALSE(verifies(ctx.get(), ca));  // no lookup was added
    X509_free(ca);
}
