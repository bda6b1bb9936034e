# Log store benchmark: appended entries/s and MB/s with fsync at several batch
# sizes, next to the raw 4 KiB write + fdatasync rate of the same disk.
# Run: bench_log_store [dir] [seconds_per_case]
add_executable(bench_log_store ${CMAKE_CURRENT_LIST_DIR}/log_store_bench.cpp)
target_link_libraries(bench_log_store PRIVATE troupe_storage)
target_compile_options(bench_log_store PRIVATE ${TROUPE_WARNINGS})
