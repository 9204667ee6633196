file(REMOVE_RECURSE
  "CMakeFiles/unit_tests.dir/unit/main.cpp.o"
  "CMakeFiles/unit_tests.dir/unit/main.cpp.o.d"
  "unit_tests"
  "unit_tests.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang CXX)
  include(CMakeFiles/unit_tests.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
