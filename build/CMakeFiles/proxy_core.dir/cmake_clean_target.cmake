file(REMOVE_RECURSE
  "libproxy_core.a"
)
