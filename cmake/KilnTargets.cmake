# Shared flags for Kiln's own targets.

if(KILN_SANITIZE)
  # Applied globally so that tests, tools and libraries agree on the runtime.
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

function(kiln_warnings target)
  # Designated initializers that leave defaulted members out are the intended
  # way to fill option structs, so -Wmissing-field-initializers is off.
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local -Wno-unused-parameter
                         -Wno-missing-field-initializers)
  if(KILN_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# kiln_library(name SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...])
# A layer library whose public headers live in <dir>/include.
function(kiln_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:include>)
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  kiln_warnings(${name})
endfunction()

# kiln_test(name SOURCES ... LIBS ...): one GoogleTest executable registered with CTest.
function(kiln_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main)
  kiln_warnings(${name})
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
    PROPERTIES ENVIRONMENT "KILN_CONFIG_PATH=${KILN_SOURCE_CONFIG_DIR}")
endfunction()
