# Package files: imsp2pConfig.cmake, imsp2pConfigVersion.cmake (SameMajorVersion) and the
# find modules the Config needs at the consumer (Sofia-SIP has no CMake package of its own).

configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/imsp2pConfig.cmake.in" "${PROJECT_BINARY_DIR}/imsp2pConfig.cmake"
  INSTALL_DESTINATION ${IMSP2P_INSTALL_CMAKEDIR})
write_basic_package_version_file("${PROJECT_BINARY_DIR}/imsp2pConfigVersion.cmake"
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES "${PROJECT_BINARY_DIR}/imsp2pConfig.cmake" "${PROJECT_BINARY_DIR}/imsp2pConfigVersion.cmake"
              "${CMAKE_CURRENT_LIST_DIR}/FindSofiaSIP.cmake" DESTINATION ${IMSP2P_INSTALL_CMAKEDIR})
