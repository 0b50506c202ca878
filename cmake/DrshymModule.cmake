# drshym_module(NAME DEPS dep1 dep2 ...)
# One static library per folder under src/, named drshym_<NAME>, sources globbed from that folder.
# Globbing keeps modules self-contained: adding a file never touches a shared CMakeLists.
function(drshym_module name)
  cmake_parse_arguments(M "" "" "DEPS;PRIVATE_DEPS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  add_library(drshym_${name} STATIC ${srcs})
  target_include_directories(drshym_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src ${CMAKE_BINARY_DIR}/generated)
  target_link_libraries(drshym_${name} PUBLIC ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS} drshym_warnings)
  set_target_properties(drshym_${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()

# drshym_test(MODULE LABEL LIBS...) — one gtest executable per tests/<module>/ folder.
function(drshym_tests module label)
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cpp)
  if(NOT srcs)
    return()
  endif()
  add_executable(test_${module} ${srcs})
  target_link_libraries(test_${module} PRIVATE ${ARGN} drshym_test_support GTest::gtest GTest::gtest_main drshym_warnings)
  # Suites named Shared* or RealData read ../shared/data: they are `integration` tests wherever
  # they live, so `ctest -L unit` stays fast and needs nothing outside the repository.
  set(shared_suites "Shared*:RealData.*")
  if(label STREQUAL "unit")
    gtest_discover_tests(test_${module} TEST_FILTER "-${shared_suites}"
      PROPERTIES LABELS "unit" ENVIRONMENT "DRSHYM_SHARED_DATA=${DRSHYM_SHARED_DATA}"
      DISCOVERY_TIMEOUT 60)
    gtest_discover_tests(test_${module} TEST_FILTER "${shared_suites}"
      PROPERTIES LABELS "integration" ENVIRONMENT "DRSHYM_SHARED_DATA=${DRSHYM_SHARED_DATA}"
      DISCOVERY_TIMEOUT 60)
  else()
    gtest_discover_tests(test_${module}
      PROPERTIES LABELS "${label}" ENVIRONMENT "DRSHYM_SHARED_DATA=${DRSHYM_SHARED_DATA}"
      DISCOVERY_TIMEOUT 60)
  endif()
endfunction()
