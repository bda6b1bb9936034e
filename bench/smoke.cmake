# bench_smoke (label "bench", ~30 s): bench/smoke.sh runs compare.sh (one 1 s
# row; etcd when installed), jobs.sh (30 jobs), ab.sh (one pair of 30-job
# runs), threads.sh (1 s window), tail.sh (1 s window), idle.sh (1 s window),
# bench_scale (2000 jobs) and docker.sh (3 containers; skips without dockerd),
# and checks their output's shape. No timed assertions.
if(TARGET troupe-node AND TARGET troupe AND TARGET troupe-loadgen)
  add_test(NAME bench_smoke COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/smoke.sh ${PROJECT_BINARY_DIR})
  set_tests_properties(bench_smoke PROPERTIES LABELS bench TIMEOUT 120 RUN_SERIAL TRUE)
endif()
