# Process backend throughput: N `true` jobs through the process backend, K in
# flight; jobs/s and CPU per job (see bench/process_backend_bench.cpp).
add_executable(bench_process_backend ${CMAKE_CURRENT_LIST_DIR}/process_backend_bench.cpp)
target_link_libraries(bench_process_backend PRIVATE troupe_exec troupe_config)
target_compile_definitions(bench_process_backend PRIVATE BENCH_HAVE_START=1 BENCH_HAVE_CPUS=1)
target_compile_options(bench_process_backend PRIVATE ${TROUPE_WARNINGS})
