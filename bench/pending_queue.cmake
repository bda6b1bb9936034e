# The dispatcher's pending queue: steady placement and a lost worker's re-queue.
add_executable(bench_pending_queue ${CMAKE_CURRENT_LIST_DIR}/pending_queue_bench.cpp)
target_link_libraries(bench_pending_queue PRIVATE troupe_actors)
target_compile_options(bench_pending_queue PRIVATE ${TROUPE_WARNINGS})
