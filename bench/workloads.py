#!/usr/bin/env python3
"""Request bodies and the canned 150-event answer the benchmark's workloads use.

usage: workloads.py DIR   writes into DIR:
  small.json        ~60 B, "stream": false            (the small workload's request)
  40k.json          exactly 40 KiB                     (the 40 KiB workload's request)
  stream-small.json ~80 B, "stream": true              (the SSE-heavy workload's request)
  codex-100k.json   exactly 100 KiB, shaped as the Codex CLI's request (the Codex-shaped one's)
  sse150.txt        a 150-event Responses API answer (text/event-stream), served as a static
                    file by the upstream nginx for both streaming workloads

The answer has the events the Codex CLI receives from the Responses API for a turn with
reasoning and a short text answer, in order: response.created and response.in_progress (each
echoing the response object: instructions, tools, settings), a reasoning item added and done
(with its encrypted_content), a message item added, its content part added, 140
response.output_text.delta events of a token or a few each (with the "obfuscation" padding the
API adds to deltas), the text done, the part done, the item done, and response.completed with the
whole output and a usage object (input, cached, output and reasoning tokens), which our proxy's
usage scanner reads. Deterministic: the same bytes every run.
"""
import json
import os
import random
import sys

INSTRUCTIONS = (
    "You are Codex, based on GPT-5. You are running as a coding agent in the Codex CLI on a "
    "user's computer. ## General - The arguments to `shell` will be passed to execvp(). Most "
    "terminal commands should be prefixed with [\"bash\", \"-lc\"]. - Always set the `workdir` "
    "param when using the shell function. Do not use `cd` unless absolutely necessary. - When "
    "searching for text or files, prefer using `rg` or `rg --files` respectively because `rg` is "
    "much faster than alternatives like `grep`. ## Editing constraints - Default to ASCII when "
    "editing or creating files. - Add succinct code comments that explain what is going on if "
    "code is not self-explanatory. ") * 4

TOOLS = [
    {"type": "function", "name": "shell", "description": "Runs a shell command and returns its output.",
     "strict": False, "parameters": {"type": "object", "properties": {
         "command": {"type": "array", "items": {"type": "string"}, "description": "The command to execute"},
         "workdir": {"type": "string", "description": "The working directory to execute the command in"},
         "timeout_ms": {"type": "number", "description": "The timeout for the command in milliseconds"}},
         "required": ["command"], "additionalProperties": False}},
    {"type": "function", "name": "update_plan", "description": "Updates the task plan.",
     "strict": False, "parameters": {"type": "object", "properties": {
         "explanation": {"type": "string"},
         "plan": {"type": "array", "items": {"type": "object", "properties": {
             "step": {"type": "string"}, "status": {"type": "string"}},
             "required": ["step", "status"], "additionalProperties": False}}},
         "required": ["plan"], "additionalProperties": False}},
    {"type": "function", "name": "apply_patch", "description": "Use the `apply_patch` tool to edit files.",
     "strict": False, "parameters": {"type": "object", "properties": {"input": {"type": "string"}},
                                     "required": ["input"], "additionalProperties": False}},
]

WORDS = ("the proxy reads the request head and checks the policy before it opens a stream to the "
         "upstream so that a hostile worker cannot reach the key and every event is flushed to the "
         "client at once without waiting for a buffer to fill").split()


def request_bodies(d):
    with open(os.path.join(d, "small.json"), "w") as f:
        f.write(json.dumps({"model": "gpt-5", "input": "Say hello.", "stream": False}))
    base = {"model": "gpt-5", "stream": False, "input": ""}
    pad = 40 * 1024 - len(json.dumps(base))
    base["input"] = ("lorem ipsum dolor sit amet " * 2000)[:pad]
    s = json.dumps(base)
    assert len(s) == 40 * 1024, len(s)
    with open(os.path.join(d, "40k.json"), "w") as f:
        f.write(s)
    with open(os.path.join(d, "stream-small.json"), "w") as f:
        f.write(json.dumps({"model": "gpt-5-codex", "input": "Say hello.", "stream": True}))
    # The Codex CLI's request: instructions, the conversation so far (earlier turns, tool calls
    # and their outputs: what makes it large), the tools, stream: true. Padded with one more
    # tool output to exactly 100 KiB.
    inp = [{"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "<environment_context>\n  <cwd>/home/dev/project</cwd>\n"
                                        "  <approval_policy>on-request</approval_policy>\n"
                                        "</environment_context>"}]},
           {"type": "message", "role": "user", "content": [
               {"type": "input_text", "text": "Find why the proxy answers 502 under load and fix it."}]},
           {"type": "function_call", "name": "shell", "call_id": "call_0",
            "arguments": json.dumps({"command": ["bash", "-lc", "rg -n upstream parent/"],
                                     "workdir": "/home/dev/project"})},
           {"type": "function_call_output", "call_id": "call_0", "output": ""}]
    body = {"model": "gpt-5-codex", "instructions": INSTRUCTIONS, "input": inp, "tools": TOOLS,
            "tool_choice": "auto", "parallel_tool_calls": False,
            "reasoning": {"effort": "medium", "summary": "auto"}, "store": False, "stream": True,
            "include": ["reasoning.encrypted_content"],
            "prompt_cache_key": "0199a0f1-3c1e-7a52-9f0e-6c3b8f1d2e4a"}
    pad = 100 * 1024 - len(json.dumps(body))
    line = "parent/upstream_exchange.cpp:300:    if (usage_) usage_->feed(data);\n"
    inp[3]["output"] = (line * (pad // len(line) + 1))[:pad]
    s = json.dumps(body)
    # json.dumps escapes the newlines (2 bytes each): trim to size
    while len(s) > 100 * 1024:
        inp[3]["output"] = inp[3]["output"][:-(len(s) - 100 * 1024)]
        s = json.dumps(body)
    inp[3]["output"] += " " * (100 * 1024 - len(s))  # a cut "\n" may leave it a byte short
    s = json.dumps(body)
    assert len(s) == 100 * 1024, len(s)
    with open(os.path.join(d, "codex-100k.json"), "w") as f:
        f.write(s)


def sse_answer(n_deltas=140):
    rnd = random.Random(26)
    rid, rs_id, msg_id = "resp_68b1c0ffee0123456789abcdef", "rs_68b1c0ffee0a1b2c3d4e5f", "msg_68b1c0ffee9f8e7d6c5b4a"
    seq = iter(range(10_000))

    def response(status, output, usage):
        return {"id": rid, "object": "response", "created_at": 1764892800, "status": status,
                "background": False, "error": None, "incomplete_details": None,
                "instructions": INSTRUCTIONS, "max_output_tokens": None, "max_tool_calls": None,
                "model": "gpt-5-codex", "output": output, "parallel_tool_calls": False,
                "previous_response_id": None, "prompt_cache_key": "0199a0f1-3c1e-7a52-9f0e-6c3b8f1d2e4a",
                "reasoning": {"effort": "medium", "summary": "auto"}, "safety_identifier": None,
                "service_tier": "default", "store": False, "temperature": 1.0,
                "text": {"format": {"type": "text"}, "verbosity": "medium"}, "tool_choice": "auto",
                "tools": TOOLS, "top_logprobs": 0, "top_p": 1.0, "truncation": "disabled",
                "usage": usage, "user": None, "metadata": {}}

    b64 = "".join(rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
                  for _ in range(1200))
    reasoning = {"id": rs_id, "type": "reasoning", "encrypted_content": "gAAAAABo" + b64, "summary": []}
    deltas = []
    for i in range(n_deltas):
        w = rnd.choice(WORDS)
        deltas.append((" " if i else "") + (w if rnd.random() < 0.7 else w[: max(1, len(w) // 2)]))
    text = "".join(deltas)
    part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
    message = {"id": msg_id, "type": "message", "status": "completed", "content": [part], "role": "assistant"}
    events = [
        ("response.created", {"response": response("in_progress", [], None)}),
        ("response.in_progress", {"response": response("in_progress", [], None)}),
        ("response.output_item.added", {"output_index": 0, "item": dict(reasoning, encrypted_content=None)}),
        ("response.output_item.done", {"output_index": 0, "item": reasoning}),
        ("response.output_item.added", {"output_index": 1, "item": dict(message, status="in_progress", content=[])}),
        ("response.content_part.added", {"item_id": msg_id, "output_index": 1, "content_index": 0,
                                         "part": dict(part, text="")}),
    ]
    for dl in deltas:
        obf = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
                      for _ in range(rnd.randint(4, 14)))
        events.append(("response.output_text.delta", {"item_id": msg_id, "output_index": 1, "content_index": 0,
                                                      "delta": dl, "logprobs": [], "obfuscation": obf}))
    events += [
        ("response.output_text.done", {"item_id": msg_id, "output_index": 1, "content_index": 0,
                                       "text": text, "logprobs": []}),
        ("response.content_part.done", {"item_id": msg_id, "output_index": 1, "content_index": 0, "part": part}),
        ("response.output_item.done", {"output_index": 1, "item": message}),
        ("response.completed", {"response": response("completed", [reasoning, message], {
            "input_tokens": 25611, "input_tokens_details": {"cached_tokens": 24448},
            "output_tokens": 412, "output_tokens_details": {"reasoning_tokens": 256},
            "total_tokens": 26023})}),
    ]
    out = []
    for name, fields in events:
        data = {"type": name, "sequence_number": next(seq)}
        data.update(fields)
        out.append(f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n")
    return "".join(out), len(events)


def main():
    d = sys.argv[1]
    request_bodies(d)
    answer, n = sse_answer()
    assert n == 150, n
    with open(os.path.join(d, "sse150.txt"), "w") as f:
        f.write(answer)


if __name__ == "__main__":
    main()
