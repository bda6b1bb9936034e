# Runs chaos_test in self-check mode MODE and passes only when the checker
# failed (non-zero exit) with COUNTER non-zero on the verdict line, i.e. the
# corruption was caught for the reason it was planted.
execute_process(COMMAND ${CHAOS} --nodes 3 --seed 1 --duration-s 10 --settle-s 30 --self-check ${MODE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}")
if(rc EQUAL 0)
  message(FATAL_ERROR "self-check ${MODE}: the checker passed a corrupted state")
endif()
if(NOT out MATCHES "chaos verdict: FAIL [^\n]* ${COUNTER}=[1-9]")
  message(FATAL_ERROR "self-check ${MODE}: exit ${rc}, but no FAIL verdict with ${COUNTER} > 0\n${err}")
endif()
message("self-check ${MODE}: the checker failed as it must (exit ${rc}, ${COUNTER} > 0)")
