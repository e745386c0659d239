# Common compile settings for every shardd target.
set(SHARDD_WARNINGS -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
    -Wcast-align -Wunused -Woverloaded-virtual -Wimplicit-fallthrough)

set(SHARDD_SANITIZE_FLAGS "")
if(SHARDD_SANITIZE)
  if(SHARDD_SANITIZE MATCHES "thread" AND SHARDD_SANITIZE MATCHES "address")
    message(FATAL_ERROR "SHARDD_SANITIZE: thread cannot be combined with address")
  endif()
  set(SHARDD_SANITIZE_FLAGS -fsanitize=${SHARDD_SANITIZE} -fno-omit-frame-pointer)
  if(SHARDD_SANITIZE MATCHES "undefined")
    list(APPEND SHARDD_SANITIZE_FLAGS -fno-sanitize-recover=undefined)
  endif()
  add_compile_options(${SHARDD_SANITIZE_FLAGS})
  # The sanitizer instrumentation makes GCC 12 report maybe-uninitialized
  # false positives inside Boost.Beast/Asio headers; the normal build keeps
  # the warning (and -Werror) on.
  add_compile_options(-Wno-maybe-uninitialized)
  if(SHARDD_SANITIZE MATCHES "thread")
    # Asio's fenced blocks use std::atomic_thread_fence, which TSan does not
    # model (GCC warns with -Wtsan); the handler queues they guard are also
    # mutex-protected, which TSan does see.
    add_compile_options(-Wno-tsan)
  endif()
  add_link_options(${SHARDD_SANITIZE_FLAGS})
  message(STATUS "shardd: sanitizers ${SHARDD_SANITIZE}")
endif()

if(SHARDD_BUILD_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SHARDD_BUILD_FUZZ needs clang (CXX=clang++)")
  endif()
  # Every module of the fuzz build is instrumented for coverage and checked by
  # ASan+UBSan; the targets add -fsanitize=fuzzer (libFuzzer's main).
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined
                      -fno-sanitize-recover=undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# Asio: no deprecated interfaces, one shared definition for every target.
add_compile_definitions(BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW
                        BOOST_ASIO_DISABLE_BOOST_COROUTINE)

function(shardd_target_defaults target)
  target_compile_options(${target} PRIVATE ${SHARDD_WARNINGS})
  if(SHARDD_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  target_include_directories(${target} PRIVATE ${CMAKE_BINARY_DIR}/generated)
endfunction()

# shardd_module(name SOURCES ... DEPS ...): one static library per module.
function(shardd_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${M_SOURCES})
  # Public headers only: a module's private headers sit next to its sources
  # and are included by relative name, so no other module can reach them.
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/include
                                            ${CMAKE_BINARY_DIR}/generated)
  target_link_libraries(${name} PUBLIC ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS})
  shardd_target_defaults(${name})
endfunction()

# Linker: mold, then lld, when installed (scripts/install-deps.sh installs
# mold). Measured on the 2-core CI machine: linking a test executable takes
# ~1.2 s with mold against ~1.7-2.0 s with GNU ld.
set(SHARDD_LINKER "auto" CACHE STRING "Linker: auto | mold | lld | default")
if(SHARDD_LINKER STREQUAL "auto")
  find_program(SHARDD_MOLD ld.mold)
  find_program(SHARDD_LLD ld.lld)
  if(SHARDD_MOLD)
    add_link_options(-fuse-ld=mold)
  elseif(SHARDD_LLD)
    add_link_options(-fuse-ld=lld)
  endif()
elseif(NOT SHARDD_LINKER STREQUAL "default")
  add_link_options(-fuse-ld=${SHARDD_LINKER})
endif()

# Test code (test sources, test clients, fixtures) gets SHARDD_TEST_CODE_FLAGS
# appended: scripts/test.sh passes -O0, so only the modules under test are
# optimised. Measured: the WebSocket test client compiles in 47 s at -O0
# against 66 s at -O2.
set(SHARDD_TEST_CODE_FLAGS "" CACHE STRING "Extra compile flags for test code only (e.g. -O0)")
function(shardd_test_defaults target)
  shardd_target_defaults(${target})
  separate_arguments(flags UNIX_COMMAND "${SHARDD_TEST_CODE_FLAGS}")
  target_compile_options(${target} PRIVATE ${flags})
endfunction()
