# ctest driver: install evsam into a scratch prefix, build the consumer against it, run it.
# Inputs: -DBUILD_DIR=<evsam build> -DSRC_DIR=<tests/cmake_import> -DWORK_DIR=<scratch>
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(rc)
  message(FATAL_ERROR "cmake --install failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SRC_DIR} -B ${WORK_DIR}/build -DCMAKE_BUILD_TYPE=Release
                        -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring the consumer against the installed package failed (${rc})")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR}/build RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building the consumer failed (${rc})")
endif()
execute_process(COMMAND ${WORK_DIR}/build/consumer OUTPUT_VARIABLE out RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(rc OR NOT out STREQUAL "34792784")
  message(FATAL_ERROR "consumer printed '${out}' (rc ${rc}), expected 34792784")
endif()
message(STATUS "installed package works: consumer printed ${out}")

# The flag results depend on travels with the target (issue 13), so consumers compile the headers
# the way they were tested.
file(READ ${WORK_DIR}/prefix/lib/cmake/evsam/evsamTargets.cmake targets)
if(NOT targets MATCHES "-ffp-contract=off")
  message(FATAL_ERROR "the installed evsam::evsam target does not carry -ffp-contract=off")
endif()

# evsam as a subproject (add_subdirectory) leaves the parent's build type alone and builds none of
# its own tests, examples or benchmarks.
file(WRITE ${WORK_DIR}/parent/CMakeLists.txt
  "cmake_minimum_required(VERSION 3.18)\nproject(parent LANGUAGES CXX)\nadd_subdirectory(${SRC_DIR}/../.. evsam)\n"
  "if(CMAKE_BUILD_TYPE OR TARGET evsam_cli OR TARGET test_core)\n"
  "  message(FATAL_ERROR \"subproject changed the parent: build type '\${CMAKE_BUILD_TYPE}'\")\nendif()\n")
execute_process(COMMAND ${CMAKE_COMMAND} -S ${WORK_DIR}/parent -B ${WORK_DIR}/parent/build RESULT_VARIABLE rc
                OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc)
  message(FATAL_ERROR "evsam as a subproject: ${err}")
endif()
message(STATUS "as a subproject: the parent's build type is left alone")
