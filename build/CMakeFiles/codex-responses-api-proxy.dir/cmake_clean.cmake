file(REMOVE_RECURSE
  "CMakeFiles/codex-responses-api-proxy.dir/parent/main.cpp.o"
  "CMakeFiles/codex-responses-api-proxy.dir/parent/main.cpp.o.d"
  "codex-responses-api-proxy"
  "codex-responses-api-proxy.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/codex-responses-api-proxy.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
