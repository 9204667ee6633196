# Empty dependencies file for codex-responses-api-proxy.
# This may be replaced when dependencies are built.
