# What a job's shell costs to start by itself (see bench/shell_start_bench.cpp).
add_executable(bench_shell_start ${CMAKE_CURRENT_LIST_DIR}/shell_start_bench.cpp)
target_compile_options(bench_shell_start PRIVATE ${TROUPE_WARNINGS})
