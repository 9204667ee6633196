"""Throwaway CAs and server certificates for the upstream stand-in, made with
the openssl CLI (one set per test process: shared_pki())."""

import atexit
import os
import random
import shutil
import subprocess
import tempfile
import threading


def _openssl(*args, cwd=None):
    r = subprocess.run(["openssl", *args], cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), r.stderr.decode(errors="replace")))


def _make_ca(d, name):
    key = os.path.join(d, name + ".key")
    pem = os.path.join(d, name + ".pem")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", pem, "-days", "3", "-subj", "/CN=%s" % name,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash")
    return key, pem


def _make_leaf(d, name, ca_key, ca_pem, san):
    key = os.path.join(d, name + ".key")
    csr = os.path.join(d, name + ".csr")
    pem = os.path.join(d, name + ".pem")
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % san)
        f.write("basicConstraints=critical,CA:FALSE\n")
        f.write("keyUsage=critical,digitalSignature\n")
        f.write("extendedKeyUsage=serverAuth\n")
        f.write("subjectKeyIdentifier=hash\n")
        f.write("authorityKeyIdentifier=keyid,issuer\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", "/CN=%s" % name)
    _openssl("x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key,
             "-set_serial", str(random.randint(1, 2**62)), "-days", "2",
             "-extfile", ext, "-out", pem)
    return (pem, key)


def make_pki(tmpdir):
    """Create certificates in tmpdir. Returns a dict:
      ca                 CA file the proxy trusts (--upstream-ca-file)
      good               (cert, key) for IP 127.0.0.1 and DNS localhost, signed by ca
      ip_only            (cert, key) for IP 127.0.0.1 only, signed by ca
      wrong_name         (cert, key) for DNS wrong-name.invalid only, signed by ca
      untrusted_ca       a second CA the proxy does not trust
      untrusted          (cert, key) for 127.0.0.1/localhost signed by untrusted_ca
    """
    os.makedirs(tmpdir, exist_ok=True)
    ca_key, ca_pem = _make_ca(tmpdir, "test-ca")
    uca_key, uca_pem = _make_ca(tmpdir, "untrusted-ca")
    return {
        "ca": ca_pem,
        "good": _make_leaf(tmpdir, "good", ca_key, ca_pem, "IP:127.0.0.1,DNS:localhost"),
        "ip_only": _make_leaf(tmpdir, "ip-only", ca_key, ca_pem, "IP:127.0.0.1"),
        "wrong_name": _make_leaf(tmpdir, "wrong-name", ca_key, ca_pem, "DNS:wrong-name.invalid"),
        "untrusted_ca": uca_pem,
        "untrusted": _make_leaf(tmpdir, "untrusted", uca_key, uca_pem, "IP:127.0.0.1,DNS:localhost"),
    }


_PKI = None
_PKI_LOCK = threading.Lock()


def shared_pki():
    """One PKI per test process (made on first use, removed at exit)."""
    global _PKI
    with _PKI_LOCK:
        if _PKI is None:
            d = tempfile.mkdtemp(prefix="proxy-it-pki-")
            atexit.register(shutil.rmtree, d, True)
            _PKI = make_pki(d)
        return _PKI
