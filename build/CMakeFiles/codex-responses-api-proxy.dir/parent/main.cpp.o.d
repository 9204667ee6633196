CMakeFiles/codex-responses-api-proxy.dir/parent/main.cpp.o: \
 /work/main/parent/main.cpp /usr/include/stdc-predef.h
