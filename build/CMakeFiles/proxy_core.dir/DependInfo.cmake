
# Consider dependencies only in project.
set(CMAKE_DEPENDS_IN_PROJECT_ONLY OFF)

# The set of languages for which implicit dependencies are needed:
set(CMAKE_DEPENDS_LANGUAGES
  )

# The set of dependency files which are needed:
set(CMAKE_DEPENDS_DEPENDENCY_FILES
  "/work/main/common/http_syntax.cpp" "CMakeFiles/proxy_core.dir/common/http_syntax.cpp.o" "gcc" "CMakeFiles/proxy_core.dir/common/http_syntax.cpp.o.d"
  "/work/main/common/http_types.cpp" "CMakeFiles/proxy_core.dir/common/http_types.cpp.o" "gcc" "CMakeFiles/proxy_core.dir/common/http_types.cpp.o.d"
  "/work/main/common/log.cpp" "CMakeFiles/proxy_core.dir/common/log.cpp.o" "gcc" "CMakeFiles/proxy_core.dir/common/log.cpp.o.d"
  )

# Targets to which this target links.
set(CMAKE_TARGET_LINKED_INFO_FILES
  )

# Fortran module output directory.
set(CMAKE_Fortran_TARGET_MODULE_DIR "")
