# 'format' rewrites every C++ file with clang-format; 'format-check' fails on any difference.
find_program(IMSP2P_CLANG_FORMAT NAMES clang-format clang-format-14)
if(IMSP2P_CLANG_FORMAT)
  file(GLOB_RECURSE _imsp2p_format_files CONFIGURE_DEPENDS
       "${PROJECT_SOURCE_DIR}/libimsp2p-*/*.hpp" "${PROJECT_SOURCE_DIR}/libimsp2p-*/*.cpp"
       "${PROJECT_SOURCE_DIR}/tests/*.hpp" "${PROJECT_SOURCE_DIR}/tests/*.cpp"
       "${PROJECT_SOURCE_DIR}/examples/*.hpp" "${PROJECT_SOURCE_DIR}/examples/*.cpp"
       "${PROJECT_SOURCE_DIR}/internal/*.hpp" "${PROJECT_SOURCE_DIR}/internal/*.cpp")
  list(FILTER _imsp2p_format_files EXCLUDE REGEX "/node_modules/")
  add_custom_target(format COMMAND ${IMSP2P_CLANG_FORMAT} -i ${_imsp2p_format_files}
                    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} COMMENT "clang-format -i" VERBATIM)
  add_custom_target(format-check COMMAND ${IMSP2P_CLANG_FORMAT} --dry-run -Werror ${_imsp2p_format_files}
                    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR} COMMENT "clang-format --dry-run -Werror" VERBATIM)
endif()
