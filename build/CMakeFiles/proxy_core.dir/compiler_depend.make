# Empty compiler generated dependencies file for proxy_core.
# This may be replaced when dependencies are built.
