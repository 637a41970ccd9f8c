# Shared flags for Kiln's own targets.

if(KILN_SANITIZE)
  # Applied globally so that tests, tools and libraries agree on the runtime.
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Either way, the build is instrumented: tests are built and run for it the
# same way (kiln_test).
set(KILN_INSTRUMENTED OFF)
if(KILN_SANITIZE OR KILN_FUZZ)
  set(KILN_INSTRUMENTED ON)
endif()

if(KILN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "KILN_FUZZ needs clang (libFuzzer): configure with CXX=clang++-14")
  endif()
  if(KILN_SANITIZE)
    message(FATAL_ERROR "KILN_FUZZ already sanitizes; leave KILN_SANITIZE off")
  endif()
  # fuzzer-no-link: coverage instrumentation without libFuzzer's main, so the
  # libraries stay linkable into anything; the fuzz targets add
  # -fsanitize=fuzzer when they link (fuzz/CMakeLists.txt). Every UBSan report
  # aborts, so libFuzzer counts it as a crash.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

function(kiln_warnings target)
  # Designated initializers that leave defaulted members out are the intended
  # way to fill option structs, so -Wmissing-field-initializers is off.
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wno-unused-parameter
                         -Wno-missing-field-initializers)
  # A local shadowing another local or a parameter. Clang has no
  # -Wshadow=local; its -Wshadow is the nearest (it also covers a local or a
  # parameter shadowing a field or a namespace-scope variable).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    target_compile_options(${target} PRIVATE -Wshadow)
  else()
    target_compile_options(${target} PRIVATE -Wshadow=local)
  endif()
  if(KILN_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# kiln_library(name SOURCES ... [PUBLIC_DEPS ...] [PRIVATE_DEPS ...] [PCH header...])
# A layer library whose public headers live in <dir>/include; installed, they
# live in <prefix>/include (see kiln_install_library). Its headers need C++20,
# which it passes on to whatever links it. PCH: headers most of its sources
# include and that take seconds to parse (ONNX's, the runtime's), parsed once
# in a precompiled header instead of once per source.
function(kiln_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS;PCH" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_include_directories(${name} PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  target_compile_features(${name} PUBLIC cxx_std_20)
  kiln_warnings(${name})
  if(ARG_PCH)
    target_precompile_headers(${name} PRIVATE ${ARG_PCH})
  endif()
endfunction()

# kiln_install_library(name EXPORT_NAME short): installs a kiln_library (the
# static library, and the include/ folder next to its CMakeLists.txt into
# <prefix>/include) as part of the Kiln package, where it is the imported
# target Kiln::<short>. It may be called from another directory than the one
# that defines the library. Private dependencies of a static library stay in
# its exported link interface ($<LINK_ONLY:...>), so KilnConfig.cmake finds
# them (cmake/KilnInstall.cmake).
function(kiln_install_library name)
  cmake_parse_arguments(ARG "" "EXPORT_NAME" "" ${ARGN})
  set_target_properties(${name} PROPERTIES EXPORT_NAME ${ARG_EXPORT_NAME})
  get_target_property(dir ${name} SOURCE_DIR)
  set_property(GLOBAL APPEND PROPERTY KILN_INSTALLED_LIBRARIES ${name})  # see KilnInstall.cmake
  install(TARGETS ${name} EXPORT KilnTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(DIRECTORY ${dir}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
    FILES_MATCHING PATTERN "*.h")
endfunction()

# kiln_test(name SOURCES ... LIBS ... [PCH header...]): one GoogleTest
# executable registered with CTest.
function(kiln_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;PCH" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main)
  kiln_warnings(${name})
  # Parsing <gtest/gtest.h> alone takes ~2.5 s, and the layer headers as much
  # again: over half of a test file's compile, repeated in each of ~100
  # files. A test with several files parses them once, in a precompiled
  # header (gtest, and the headers PCH names: the ones most of its files
  # include). A one-file test would only pay for building it.
  list(LENGTH ARG_SOURCES source_count)
  if(source_count GREATER 1 OR ARG_PCH)
    target_precompile_headers(${name} PRIVATE <gtest/gtest.h> ${ARG_PCH})
  endif()
  # The test code itself is cold; the libraries under test keep the build
  # type's optimisation. Sanitized, GCC compiles a test file unoptimised in
  # about half the time of -O1, and -O1 instead of Release's -O3 saves a
  # quarter: the two test builds dominated CI's wall time.
  if(KILN_INSTRUMENTED)
    target_compile_options(${name} PRIVATE -O0)
  else()
    target_compile_options(${name} PRIVATE $<$<CONFIG:Release>:-O1>)
  endif()
  if(KILN_INSTRUMENTED)
    # Under the sanitizers a process takes ~0.15 s to start, which over one
    # process per test case (1,600 of them) cost more than the tests. So the
    # binary runs in a few shards (GoogleTest's own sharding): as many
    # processes as shards, still enough to keep both CI cores busy. A
    # failure's output names the test case.
    foreach(shard RANGE 0 3)
      add_test(NAME ${name}/shard${shard} COMMAND ${name})
      set_tests_properties(${name}/shard${shard} PROPERTIES ENVIRONMENT
        "KILN_CONFIG_PATH=${KILN_SOURCE_CONFIG_DIR};GTEST_TOTAL_SHARDS=4;GTEST_SHARD_INDEX=${shard}")
    endforeach()
  else()
    gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
      PROPERTIES ENVIRONMENT "KILN_CONFIG_PATH=${KILN_SOURCE_CONFIG_DIR}")
  endif()
endfunction()
