# TROUPE_FUZZ=ON: a build of its own (scripts/fuzz.sh configures it with
# Debian's clang++-14) where everything is compiled with coverage feedback for
# libFuzzer plus AddressSanitizer and UndefinedBehaviorSanitizer, so that the
# code under test, not only the harness, is instrumented. The normal build
# stays g++ and never includes this file.
if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "TROUPE_FUZZ needs clang with libFuzzer (Debian: clang-14, libclang-rt-14-dev); "
                      "configure with -DCMAKE_CXX_COMPILER=clang++-14, as scripts/fuzz.sh does")
endif()
add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
add_link_options(-fsanitize=address,undefined)
