"""Where the integration tests run: the binary under test, fake keys, ports."""

import os
import random
import socket
import string

LOOPBACK = "127.0.0.1"
DEFAULT_TIMEOUT = 10.0

# ---------------------------------------------------------------------------
# Environment


def proxy_bin():
    """Path of the binary under test, or None when it is not available."""
    path = os.environ.get("PROXY_BIN")
    if not path:
        return None
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return None
    return path


def fake_key(n=40):
    alphabet = string.ascii_letters + string.digits
    return "sk-test-" + "".join(random.choice(alphabet) for _ in range(n))


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((LOOPBACK, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def closed_port():
    """A port on 127.0.0.1 that (very probably) refuses connections."""
    return free_port()
