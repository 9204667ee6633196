#!/usr/bin/env python3
"""Writes request bodies shaped like the Codex CLI's (~100 KiB) for json_scan.cpp:
codex.json (compact, as Codex sends it), pretty.json (indented), cjk.json
(the same with non-ASCII text). Deterministic; stdlib only."""
import json
import random
import sys

rng = random.Random(24)
words = ("the proxy reads each request body once as it streams to the upstream and "
         "refuses what the policy does not allow for this user in this period").split()


def text(n, alphabet=None):
    out = []
    size = 0
    while size < n:
        w = rng.choice(alphabet or words)
        if rng.random() < 0.05:
            w += '\n'
        if rng.random() < 0.02:
            w = '"' + w + '"'
        out.append(w)
        size += len(w) + 1
    return ' '.join(out)


def schema(depth):
    if depth == 0:
        return {"type": rng.choice(["string", "integer", "boolean"]), "description": text(60)}
    return {"type": "object", "properties": {f"p{i}": schema(depth - 1) for i in range(3)},
            "required": ["p0"], "additionalProperties": False}


def body(alphabet=None):
    tools = [{"type": "function", "name": f"tool_{i}", "description": text(300, alphabet),
              "strict": False, "parameters": schema(2)} for i in range(12)]
    inp = []
    for i in range(30):
        inp.append({"type": "message", "role": rng.choice(["user", "assistant"]),
                    "content": [{"type": "input_text", "text": text(1200, alphabet)}]})
        inp.append({"type": "function_call", "name": "shell", "call_id": f"call_{i}",
                    "arguments": json.dumps({"command": ["bash", "-lc", text(80)]})})
        inp.append({"type": "function_call_output", "call_id": f"call_{i}",
                    "output": text(600, alphabet)})
    return {"model": "gpt-5-codex", "instructions": text(20000, alphabet), "input": inp,
            "tools": tools, "tool_choice": "auto", "parallel_tool_calls": False,
            "reasoning": {"effort": "medium", "summary": "auto"}, "store": False,
            "stream": True, "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": "0199a3b1-6c1e-7f52-9d7e-2b5c1a0f9e11"}


out = sys.argv[1] if len(sys.argv) > 1 else "."
b = body()
open(f"{out}/codex.json", "w").write(json.dumps(b, separators=(",", ":")))
open(f"{out}/pretty.json", "w").write(json.dumps(b, indent=2))
cjk = [chr(c) * rng.randint(1, 3) + chr(c + 7) for c in range(0x4e00, 0x4e00 + 300)]
open(f"{out}/cjk.json", "w").write(json.dumps(body(cjk), ensure_ascii=False, separators=(",", ":")))
