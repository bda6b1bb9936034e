# Docker reference for bench/docker.sh: containers run straight against the
# daemon with the Docker backend's own calls and HTTP client (no scheduling).
# Run: bench_docker_ref --socket PATH [--count N] [--concurrency C] [--mode client|backend|store] [--json]
add_executable(bench_docker_ref ${CMAKE_CURRENT_LIST_DIR}/docker_ref_bench.cpp)
target_link_libraries(bench_docker_ref PRIVATE troupe_exec)
target_compile_options(bench_docker_ref PRIVATE ${TROUPE_WARNINGS})
