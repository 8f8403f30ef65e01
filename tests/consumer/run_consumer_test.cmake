# run_consumer_test.cmake: CTest test "consumer_find_package" (cmake -P script).
#
#   (a) configure nabla alone (tests/examples/benches/CUDA off), build nabla::precompiled, install
#       both into a temporary prefix, then build and run tests/consumer with
#       find_package(nabla CONFIG REQUIRED): `consumer` (nabla::nabla) and `consumer_precompiled`
#       (nabla::precompiled), which must train to the same weights as `consumer`;
#   (b) build and run tests/consumer with add_subdirectory(<nabla source>), nabla::precompiled
#       off (its library is tested in (a); building it twice would double this test's time).
#
# Inputs (-D): NABLA_SOURCE_DIR, CONSUMER_SOURCE_DIR, WORK_DIR; optional GENERATOR,
# CXX_COMPILER, JOBS (default 2).
foreach(var NABLA_SOURCE_DIR CONSUMER_SOURCE_DIR WORK_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_consumer_test.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT DEFINED JOBS)
  set(JOBS 2)
endif()

set(common_args)
if(GENERATOR)
  list(APPEND common_args -G ${GENERATOR})
endif()
if(CXX_COMPILER)
  list(APPEND common_args -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
endif()
list(APPEND common_args -DCMAKE_BUILD_TYPE=Release)

function(run_step name)
  message(STATUS "[consumer] ${name}: ${ARGN}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "[consumer] step '${name}' failed (${rc})")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

# (a) install + find_package -------------------------------------------------------------
run_step("configure nabla for install"
  ${CMAKE_COMMAND} -S ${NABLA_SOURCE_DIR} -B ${WORK_DIR}/nabla-build ${common_args}
    -DCMAKE_INSTALL_PREFIX=${prefix}
    -DNABLA_BUILD_TESTS=OFF -DNABLA_BUILD_EXAMPLES=OFF -DNABLA_BUILD_BENCH=OFF -DNABLA_CUDA=OFF)
run_step("build nabla::precompiled" ${CMAKE_COMMAND} --build ${WORK_DIR}/nabla-build --parallel ${JOBS})
run_step("install nabla" ${CMAKE_COMMAND} --install ${WORK_DIR}/nabla-build)
foreach(required include/nabla/nabla.hpp include/nabla/precompiled.hpp lib/libnabla_precompiled.a
        lib/cmake/nabla/nablaConfig.cmake lib/cmake/nabla/nablaConfigVersion.cmake
        lib/cmake/nabla/nablaTargets.cmake)
  # GNUInstallDirs may pick lib64 on some systems; accept either.
  string(REPLACE "lib/" "lib64/" alt ${required})
  if(NOT EXISTS ${prefix}/${required} AND NOT EXISTS ${prefix}/${alt})
    message(FATAL_ERROR "[consumer] install is missing ${required}")
  endif()
endforeach()
run_step("configure consumer (find_package)"
  ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/consumer-find ${common_args}
    -DNABLA_CONSUMER_MODE=find_package -DCMAKE_PREFIX_PATH=${prefix}
    # Make sure the install is what is found, never the source tree or a build tree:
    -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
run_step("build consumer (find_package)"
  ${CMAKE_COMMAND} --build ${WORK_DIR}/consumer-find --parallel ${JOBS})
execute_process(COMMAND ${WORK_DIR}/consumer-find/consumer OUTPUT_FILE ${WORK_DIR}/consumer-output.txt
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "[consumer] step 'run consumer (find_package)' failed (${rc})")
endif()
if(NOT EXISTS ${WORK_DIR}/consumer-find/consumer_precompiled)
  message(FATAL_ERROR "[consumer] find_package(nabla) did not provide nabla::precompiled")
endif()
run_step("run consumer_precompiled (find_package), weights compared with consumer's"
  ${WORK_DIR}/consumer-find/consumer_precompiled ${WORK_DIR}/consumer-output.txt)

# (b) add_subdirectory ---------------------------------------------------------------------
run_step("configure consumer (subdirectory)"
  ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/consumer-subdir ${common_args}
    -DNABLA_CONSUMER_MODE=subdirectory -DNABLA_SOURCE_DIR=${NABLA_SOURCE_DIR}
    -DNABLA_CUDA=OFF -DNABLA_BUILD_PRECOMPILED=OFF)
run_step("build consumer (subdirectory)"
  ${CMAKE_COMMAND} --build ${WORK_DIR}/consumer-subdir --parallel ${JOBS})
run_step("run consumer (subdirectory)" ${WORK_DIR}/consumer-subdir/consumer)

message(STATUS "[consumer] OK: find_package (nabla::nabla and nabla::precompiled) and add_subdirectory work")
