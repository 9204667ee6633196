"""The real Codex CLI as the proxy's client: `codex exec` with a provider whose
base_url is the proxy gets its answer from the TLS stand-in, and the stand-in
sees the CLI's request with the injected key.

Needs the Codex CLI binary: $CODEX_BIN, or the one bench/run and
tests/run_all.sh install with npm (@openai/codex@0.169.0-linux-x64) under
bench/.cache/codex. Skipped (77) when neither is there."""
import glob
import json
import os
import subprocess
import sys
import tempfile
import unittest

import harness

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def codex_bin():
    env = os.environ.get("CODEX_BIN")
    if env and os.access(env, os.X_OK):
        return env
    hits = glob.glob(os.path.join(ROOT, "bench/.cache/codex/node_modules/@openai/codex*/vendor/*/bin/codex"))
    hits += glob.glob(os.path.join(ROOT, "bench/.cache/codex/node_modules/@openai/codex/node_modules/"
                                         "@openai/codex-linux-x64/vendor/*/bin/codex"))
    return next((h for h in hits if os.access(h, os.X_OK)), None)


def responses_stream(req, conn):
    """A minimal, valid Responses API SSE answer saying PROXY-OK."""
    msg = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
           "content": [{"type": "output_text", "text": "PROXY-OK", "annotations": []}]}
    events = [
        {"type": "response.created", "response": {"id": "resp_1"}},
        {"type": "response.output_item.added", "output_index": 0,
         "item": {"type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress",
                  "content": []}},
        {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
         "content_index": 0, "delta": "PROXY-OK"},
        {"type": "response.output_item.done", "output_index": 0, "item": msg},
        {"type": "response.completed",
         "response": {"id": "resp_1", "output": [msg],
                      "usage": {"input_tokens": 1, "input_tokens_details": None, "output_tokens": 1,
                                "output_tokens_details": None, "total_tokens": 2}}},
    ]
    conn.sse([("event: %s\ndata: %s\n\n" % (e["type"], json.dumps(e))).encode() for e in events])


class CodexCli(harness.ProxyTestCase):
    def test_codex_exec_through_proxy(self):
        exe = codex_bin()
        if exe is None:
            raise unittest.SkipTest("Codex CLI not installed (set CODEX_BIN or run bench/run once)")
        proxy = self.start(handler=responses_stream)
        home = tempfile.mkdtemp(prefix="codex-home-")
        provider = ("model_providers.p={ name='p', base_url='http://127.0.0.1:%d/v1', "
                    "wire_api='responses' }" % proxy.port)
        env = {"HOME": home, "CODEX_HOME": home, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        out = subprocess.run([exe, "exec", "--skip-git-repo-check", "-c", provider,
                              "-c", "model_provider=p", "say hi"],
                             cwd=home, env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("PROXY-OK", out.stdout, out.stdout + out.stderr)
        reqs = self.upstream.requests
        self.assertGreaterEqual(len(reqs), 1)
        r = reqs[0]
        self.assertEqual((r.method, r.target), ("POST", "/v1/responses"))
        auth = harness.header_all(r.headers, "authorization")
        self.assertEqual(auth, ["Bearer " + proxy.key])
        self.assertTrue(harness.header_all(r.headers, "x-codex-turn-metadata"))
        body = json.loads(r.body)
        self.assertIn("input", body)


if __name__ == "__main__":
    sys.exit(harness.main())
