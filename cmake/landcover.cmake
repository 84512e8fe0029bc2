# Build helpers shared by every folder: warnings, sanitizers, and the two-way compilation of
# kernel sources (.cu -> nvcc for the cuda backend; .cu -> g++ against the SIMT emulator for sim).

option(LC_WERROR "Treat compiler warnings as errors" OFF)

set(LC_CXX_WARNINGS -Wall -Wextra -Wno-unknown-pragmas)
if(LC_WERROR)
  list(APPEND LC_CXX_WARNINGS -Werror)
endif()

set(LC_SANITIZE_FLAGS)
if(LC_SANITIZE)
  set(LC_SANITIZE_FLAGS -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  # g++ 12 reports false maybe-uninitialized warnings inside libstdc++'s <regex> when sanitizers
  # instrument it; they are not about this project's code. (clang has no such warning.)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    list(APPEND LC_CXX_WARNINGS -Wno-maybe-uninitialized)
  endif()
endif()
if(LC_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang" OR NOT LC_SANITIZE)
    message(FATAL_ERROR "LC_FUZZ needs clang (CXX=clang++) and LC_SANITIZE=ON; scripts/fuzz.sh sets both")
  endif()
  # Coverage feedback for libFuzzer in every library the targets link.
  list(APPEND LC_SANITIZE_FLAGS -fsanitize=fuzzer-no-link)
endif()

# Options for every C++ target of the project.
function(lc_cxx_target target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:${LC_CXX_WARNINGS} ${LC_SANITIZE_FLAGS} -fstack-clash-protection>
    $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra,-Wno-unknown-pragmas --expt-relaxed-constexpr>)
  if(LC_WERROR)
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--Werror=all-warnings>)
  endif()
  target_link_options(${target} PRIVATE ${LC_SANITIZE_FLAGS})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
endfunction()

# For each .cu in SOURCES, write <binary dir>/emu/<name>.emu.cpp that #includes it, so the same
# source compiles as C++ for the emulator (diagnostics still point at the .cu). Returns the list.
function(lc_emu_sources out_var)
  set(result)
  foreach(src IN LISTS ARGN)
    get_filename_component(abs "${src}" ABSOLUTE)
    file(RELATIVE_PATH rel "${PROJECT_SOURCE_DIR}" "${abs}")
    string(REPLACE "/" "__" flat "${rel}")
    set(out "${CMAKE_CURRENT_BINARY_DIR}/emu/${flat}.emu.cpp")
    file(CONFIGURE OUTPUT "${out}" CONTENT "// generated: ${rel} compiled for the host SIMT emulator\n#include \"${abs}\"\n")
    list(APPEND result "${out}")
  endforeach()
  set(${out_var} ${result} PARENT_SCOPE)
endfunction()
