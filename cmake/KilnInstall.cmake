# The Kiln package: what `cmake --install` writes and what find_package(Kiln)
# reads. Included at the end of the top-level CMakeLists.txt, once every target
# exists.
#
#   <prefix>/bin/kiln                                 the CLI
#   <prefix>/include/kiln/{common,proto,traces,kernels,sim,driver}/
#                                                     public headers (*.pb.h generated)
#   <prefix>/lib/libkiln_{proto,common,traces,kernel_api,kernels,sim,driver}.a
#                                                     static libraries
#   <prefix>/lib/cmake/Kiln/                          KilnConfig.cmake, KilnConfigVersion.cmake,
#                                                     KilnTargets*.cmake
#   <prefix>/share/kiln/configs/                      device configs (KILN_INSTALL_CONFIG_DIR)
#
# Imported targets: Kiln::proto, Kiln::common, Kiln::traces, Kiln::kernel_api
# (what a kernel plugin links), Kiln::kernels, Kiln::sim, Kiln::driver, and
# Kiln::kernel_testing (INTERFACE: Kiln::driver + GTest::gtest, for the
# GoogleTest helper kiln/driver/kernel_check_testing.h). The install rules of
# each library sit next to it (kiln_install_library; proto/CMakeLists.txt;
# kiln_kernels in kernels/CMakeLists.txt; kiln_kernel_testing in
# driver/CMakeLists.txt; `kiln` in tools/CMakeLists.txt). KilnConfig.cmake
# finds their dependencies: Protobuf, TBB, Threads, and SystemC and OpenBLAS
# through pkg-config.
include(CMakePackageConfigHelpers)

set(KILN_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/Kiln)

# A sanitized build's static libraries call into the sanitizer runtimes, so
# whatever links them must link those runtimes too: every installed library
# (kiln_proto, and all that kiln_install_library installed). The fuzz build's
# coverage hooks need nothing more: the ASan runtime defines them, empty.
if(KILN_INSTRUMENTED)
  get_property(kiln_installed_libraries GLOBAL PROPERTY KILN_INSTALLED_LIBRARIES)
  foreach(target IN LISTS kiln_installed_libraries ITEMS kiln_proto)
    set_property(TARGET ${target} APPEND PROPERTY INTERFACE_LINK_OPTIONS
      $<INSTALL_INTERFACE:-fsanitize=address,undefined>)
  endforeach()
endif()

install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/configs/ DESTINATION ${CMAKE_INSTALL_DATADIR}/kiln/configs
  FILES_MATCHING PATTERN "*.textproto")

install(EXPORT KilnTargets NAMESPACE Kiln:: FILE KilnTargets.cmake DESTINATION ${KILN_INSTALL_CMAKEDIR})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/KilnConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/KilnConfig.cmake
  INSTALL_DESTINATION ${KILN_INSTALL_CMAKEDIR}
  PATH_VARS CMAKE_INSTALL_BINDIR CMAKE_INSTALL_DATADIR)
# Kernel plugins must be built from the same headers as the `kiln` that loads
# them (kKernelPluginApiVersion), so only the same minor version is compatible.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/KilnConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/KilnConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/KilnConfigVersion.cmake
  DESTINATION ${KILN_INSTALL_CMAKEDIR})
