# FindSofiaSIP
# ------------
# Finds the Sofia-SIP user-agent library (Debian: libsofia-sip-ua-dev) through pkg-config and
# provides the imported target SofiaSIP::ua. Sets SofiaSIP_FOUND and SofiaSIP_VERSION.

include(FindPackageHandleStandardArgs)
find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
  pkg_check_modules(PC_SOFIASIP QUIET sofia-sip-ua)
endif()

find_path(SofiaSIP_INCLUDE_DIR NAMES sofia-sip/nta.h HINTS ${PC_SOFIASIP_INCLUDE_DIRS}
          PATH_SUFFIXES sofia-sip-1.12)
find_library(SofiaSIP_LIBRARY NAMES sofia-sip-ua HINTS ${PC_SOFIASIP_LIBRARY_DIRS})
set(SofiaSIP_VERSION "${PC_SOFIASIP_VERSION}")

find_package_handle_standard_args(SofiaSIP REQUIRED_VARS SofiaSIP_LIBRARY SofiaSIP_INCLUDE_DIR
                                  VERSION_VAR SofiaSIP_VERSION)

if(SofiaSIP_FOUND AND NOT TARGET SofiaSIP::ua)
  add_library(SofiaSIP::ua UNKNOWN IMPORTED)
  set_target_properties(SofiaSIP::ua PROPERTIES IMPORTED_LOCATION "${SofiaSIP_LIBRARY}"
                                                INTERFACE_INCLUDE_DIRECTORIES "${SofiaSIP_INCLUDE_DIR}")
endif()
mark_as_advanced(SofiaSIP_INCLUDE_DIR SofiaSIP_LIBRARY)
