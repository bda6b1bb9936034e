// The one translation unit that holds CAF unit test engine and its main().
#include <caf/test/unit_test_impl.hpp>
