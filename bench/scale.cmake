# Scale benchmark: a job table of 1,000,000 jobs built through the real state
# machine; RSS, filtered list pages, snapshot encode/write/read/restore.
# Run: bench_scale [--jobs N] [--data-dir D] (see bench/scale.sh for the node restart)
add_executable(bench_scale ${CMAKE_CURRENT_LIST_DIR}/scale_bench.cpp)
target_link_libraries(bench_scale PRIVATE troupe_jobs troupe_storage troupe_huge_pages)
target_compile_options(bench_scale PRIVATE ${TROUPE_WARNINGS})
