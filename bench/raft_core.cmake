# Raft core throughput: proposals/s through a 3-node in-memory cluster.
add_executable(bench_raft_core ${CMAKE_CURRENT_LIST_DIR}/raft_core_bench.cpp)
target_link_libraries(bench_raft_core PRIVATE troupe_raft)
target_compile_options(bench_raft_core PRIVATE ${TROUPE_WARNINGS})
