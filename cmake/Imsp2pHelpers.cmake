# Build helpers shared by the five imsp2p libraries, the tests and the programs.

set(IMSP2P_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/imsp2p"
    CACHE STRING "Where imsp2pConfig.cmake and the target files are installed")
set(IMSP2P_INSTALL_PKGCONFIGDIR "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
    CACHE STRING "Where the imsp2p-*.pc files are installed")
set(IMSP2P_FUZZ_ENGINE "" CACHE STRING
    "Set to 'libfuzzer' (clang only) to instrument the libraries and link the fuzz targets with libFuzzer")

# Sanitizers apply to everything built here (libraries, tests, programs).
if(IMSP2P_SANITIZE)
  string(REPLACE ";" "," _imsp2p_san "${IMSP2P_SANITIZE}")
  add_compile_options(-fsanitize=${_imsp2p_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_imsp2p_san})
endif()
if(IMSP2P_FUZZ_ENGINE STREQUAL "libfuzzer")
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "IMSP2P_FUZZ_ENGINE=libfuzzer needs clang (CXX=clang++)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# Warnings for our own targets (never forced on consumers).
function(imsp2p_set_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                             -Wold-style-cast -Wcast-align -Woverloaded-virtual
                                             -Wimplicit-fallthrough)
    if(IMSP2P_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()

# imsp2p_add_library(<component>
#     SOURCES <files...>
#     PUBLIC_DEPS <targets...>   PRIVATE_DEPS <targets...>
#     PC_REQUIRES <pkg-config names...>  PC_REQUIRES_PRIVATE <pkg-config names...>
#     PC_LIBS_PRIVATE <linker flags of dependencies without pkg-config files...>)
#
# Creates imsp2p_<component> (alias imsp2p::<component>, file libimsp2p-<component>), its
# generated export header <imsp2p/<component>/export.hpp>, install rules into the export set
# imsp2p-<component>-targets, and a pkg-config file imsp2p-<component>.pc.
function(imsp2p_add_library component)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS;PC_REQUIRES;PC_REQUIRES_PRIVATE;PC_LIBS_PRIVATE"
                        ${ARGN})
  set(target imsp2p_${component})
  string(TOUPPER "${component}" upper)
  add_library(${target} ${ARG_SOURCES})
  add_library(imsp2p::${component} ALIAS ${target})

  set(export_header "${CMAKE_CURRENT_BINARY_DIR}/include/imsp2p/${component}/export.hpp")
  generate_export_header(${target} BASE_NAME IMSP2P_${upper} EXPORT_FILE_NAME "${export_header}")
  if(NOT BUILD_SHARED_LIBS)
    target_compile_definitions(${target} PUBLIC IMSP2P_${upper}_STATIC_DEFINE)
    set(pc_cflags "-DIMSP2P_${upper}_STATIC_DEFINE")
  else()
    set(pc_cflags "")
  endif()

  if(PROJECT_VERSION_MAJOR EQUAL 0)
    set(soversion "${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}")
  else()
    set(soversion "${PROJECT_VERSION_MAJOR}")
  endif()
  set_target_properties(
    ${target}
    PROPERTIES EXPORT_NAME ${component}
               OUTPUT_NAME imsp2p-${component}
               VERSION ${PROJECT_VERSION}
               SOVERSION ${soversion})
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_include_directories(
    ${target}
    PUBLIC $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
           $<BUILD_INTERFACE:${CMAKE_CURRENT_BINARY_DIR}/include>
           $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  target_link_libraries(${target} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  imsp2p_set_warnings(${target})

  install(
    TARGETS ${target}
    EXPORT imsp2p-${component}-targets
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} NAMELINK_COMPONENT devel
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.hpp")
  install(FILES "${export_header}" DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/imsp2p/${component})
  install(EXPORT imsp2p-${component}-targets NAMESPACE imsp2p::
          FILE imsp2p-${component}-targets.cmake DESTINATION ${IMSP2P_INSTALL_CMAKEDIR})

  # pkg-config file, relocatable: every path is relative to the .pc file's own directory.
  file(RELATIVE_PATH pc_to_prefix "/root/${IMSP2P_INSTALL_PKGCONFIGDIR}" "/root")
  string(REGEX REPLACE "/$" "" pc_to_prefix "${pc_to_prefix}")
  set(pc_private_libs "")
  foreach(dep IN LISTS ARG_PUBLIC_DEPS ARG_PRIVATE_DEPS)
    if(dep MATCHES "^imsp2p_(.*)$")
      list(APPEND ARG_PC_REQUIRES "imsp2p-${CMAKE_MATCH_1}")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES ARG_PC_REQUIRES)
  list(JOIN ARG_PC_REQUIRES ", " pc_requires)
  list(JOIN ARG_PC_REQUIRES_PRIVATE ", " pc_requires_private)
  list(JOIN ARG_PC_LIBS_PRIVATE " " pc_libs_private)
  set(pc_file "${CMAKE_CURRENT_BINARY_DIR}/imsp2p-${component}.pc")
  file(
    WRITE "${pc_file}"
    "prefix=\${pcfiledir}/${pc_to_prefix}\n"
    "libdir=\${prefix}/${CMAKE_INSTALL_LIBDIR}\n"
    "includedir=\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}\n\n"
    "Name: imsp2p-${component}\n"
    "Description: imsp2p ${component} library\n"
    "Version: ${PROJECT_VERSION}\n"
    "Requires: ${pc_requires}\n"
    "Requires.private: ${pc_requires_private}\n"
    "Libs: -L\${libdir} -limsp2p-${component}\n"
    "Libs.private: ${pc_libs_private} -pthread\n"
    "Cflags: -I\${includedir} ${pc_cflags}\n")
  install(FILES "${pc_file}" DESTINATION ${IMSP2P_INSTALL_PKGCONFIGDIR})
endfunction()

# imsp2p_add_program(<name> SOURCES <files...> DEPS <targets...>)
# A reference program: thin main, installed into bin/.
function(imsp2p_add_program name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS})
  imsp2p_set_warnings(${name})
  install(TARGETS ${name} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()
