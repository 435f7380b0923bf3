# 'docs' runs Doxygen over the public headers; undocumented public symbols are warnings, and
# docs/doxygen-warnings.log lists them. IMSP2P_DOCS_WERROR=ON makes any warning fail the target.
option(IMSP2P_DOCS_WERROR "Fail the docs target on any Doxygen warning" OFF)
find_package(Doxygen QUIET)
if(DOXYGEN_FOUND)
  set(IMSP2P_DOXYGEN_INPUT "")
  foreach(_c IN LISTS IMSP2P_COMPONENTS)
    string(APPEND IMSP2P_DOXYGEN_INPUT " \"${PROJECT_SOURCE_DIR}/libimsp2p-${_c}/include\"")
  endforeach()
  string(APPEND IMSP2P_DOXYGEN_INPUT " \"${PROJECT_SOURCE_DIR}/docs/mainpage.md\"")
  if(IMSP2P_DOCS_WERROR)
    set(IMSP2P_DOXYGEN_WARN_AS_ERROR "FAIL_ON_WARNINGS")
  else()
    set(IMSP2P_DOXYGEN_WARN_AS_ERROR "NO")
  endif()
  file(MAKE_DIRECTORY "${PROJECT_BINARY_DIR}/docs")
  configure_file("${PROJECT_SOURCE_DIR}/docs/Doxyfile.in" "${PROJECT_BINARY_DIR}/Doxyfile" @ONLY)
  add_custom_target(docs COMMAND Doxygen::doxygen "${PROJECT_BINARY_DIR}/Doxyfile"
                    WORKING_DIRECTORY ${PROJECT_BINARY_DIR} COMMENT "Doxygen: public API reference"
                    VERBATIM)
endif()
