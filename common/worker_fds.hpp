// The fixed descriptors a worker finds at start, set up by the parent between
// fork and execveat (parent/workers/supervisor.cpp) and used by the worker
// (worker/worker_process.cpp, worker/sandbox.hpp).
#pragma once

namespace proxy {

inline constexpr int kWorkerListenFd = 3;
inline constexpr int kWorkerIpcFd = 4;
// Only with --listen-unix: the unix socket listener.
inline constexpr int kWorkerUnixListenFd = 5;

}  // namespace proxy
