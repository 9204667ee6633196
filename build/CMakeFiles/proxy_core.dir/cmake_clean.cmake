file(REMOVE_RECURSE
  "CMakeFiles/proxy_core.dir/common/http_syntax.cpp.o"
  "CMakeFiles/proxy_core.dir/common/http_syntax.cpp.o.d"
  "CMakeFiles/proxy_core.dir/common/http_types.cpp.o"
  "CMakeFiles/proxy_core.dir/common/http_types.cpp.o.d"
  "CMakeFiles/proxy_core.dir/common/log.cpp.o"
  "CMakeFiles/proxy_core.dir/common/log.cpp.o.d"
  "libproxy_core.a"
  "libproxy_core.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/proxy_core.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
