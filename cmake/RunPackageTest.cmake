# Run with cmake -P: installs BUILD_DIR into WORK_DIR/prefix, moves the prefix elsewhere, builds
# SOURCE_DIR/tests/package against the moved tree twice (find_package and pkg-config), runs both.

foreach(var BUILD_DIR SOURCE_DIR WORK_DIR CXX GENERATOR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "RunPackageTest.cmake: -D${var}=... is required")
  endif()
endforeach()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rv OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rv EQUAL 0)
    message(FATAL_ERROR "failed (${rv}): ${ARGN}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")
run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK_DIR}/staging")
# Relocatable: the tree must work from wherever it is moved to.
file(RENAME "${WORK_DIR}/staging" "${WORK_DIR}/moved prefix")
set(prefix "${WORK_DIR}/moved prefix")

# 1. CMake consumer: find_package(imsp2p REQUIRED COMPONENTS core).
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/package" -B "${WORK_DIR}/consumer" -G "${GENERATOR}"
    -DCMAKE_CXX_COMPILER=${CXX} "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build "${WORK_DIR}/consumer")
run("${WORK_DIR}/consumer/imsp2p_consumer")
message(STATUS "find_package consumer: ${last_output}")
if(NOT last_output MATCHES "consumer ok")
  message(FATAL_ERROR "consumer did not report success")
endif()

# 1b. The same for the top of the stack: find_package(imsp2p REQUIRED COMPONENTS sip).
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/package" -B "${WORK_DIR}/consumer-sip" -G "${GENERATOR}"
    -DCMAKE_CXX_COMPILER=${CXX} "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_BUILD_TYPE=Release
    -DIMSP2P_COMPONENT=sip)
run(${CMAKE_COMMAND} --build "${WORK_DIR}/consumer-sip")
run("${WORK_DIR}/consumer-sip/imsp2p_consumer")
if(NOT last_output MATCHES "consumer ok")
  message(FATAL_ERROR "sip consumer did not report success")
endif()
message(STATUS "find_package sip consumer: ${last_output}")

# 2. Asking for an unknown component must fail cleanly.
execute_process(COMMAND ${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/package" -B "${WORK_DIR}/bad-component"
                        -G "${GENERATOR}" "-DCMAKE_PREFIX_PATH=${prefix}" -DIMSP2P_COMPONENT=nosuch
                RESULT_VARIABLE rv OUTPUT_QUIET ERROR_QUIET)
if(rv EQUAL 0)
  message(FATAL_ERROR "find_package(imsp2p COMPONENTS nosuch) succeeded")
endif()

# 3. pkg-config consumer, from the same moved tree.
file(GLOB_RECURSE pc_files "${prefix}/*/imsp2p-core.pc")
list(GET pc_files 0 pc_file)
get_filename_component(pc_dir "${pc_file}" DIRECTORY)
set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
run(pkg-config --cflags --libs --static imsp2p-core)
string(STRIP "${last_output}" pc_flags)
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
run(${CXX} -std=c++20 "${SOURCE_DIR}/tests/package/main.cpp" -o "${WORK_DIR}/pkgconfig_consumer" ${pc_flags})
run("${WORK_DIR}/pkgconfig_consumer")
if(NOT last_output MATCHES "consumer ok")
  message(FATAL_ERROR "pkg-config consumer did not report success")
endif()
message(STATUS "pkg-config consumer: ${last_output}")
