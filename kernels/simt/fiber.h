// Fibers for the host SIMT emulator (internal to kernels/simt): execution contexts with their own
// stacks and a context switch. x86-64 uses a small assembly switch (~10 ns); other CPUs, or
// -DLC_SIMT_FORCE_UCONTEXT=1, use ucontext (a syscall per switch, ~100x slower). Stacks are
// mmap(MAP_NORESERVE) with a guard page below; a SIGSEGV handler on an alternate stack turns a hit
// on the guard page into "fiber stack overflow". Switches are annotated for AddressSanitizer.
// Depends on: POSIX (mmap, sigaction), kernels/common/check.h.
#pragma once

#include <cstddef>

#if defined(__x86_64__) && !LC_SIMT_FORCE_UCONTEXT
#define LC_SIMT_ASM_SWITCH 1
#else
#define LC_SIMT_ASM_SWITCH 0
#include <ucontext.h>
#endif

#if defined(__SANITIZE_ADDRESS__)
#define LC_SIMT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LC_SIMT_ASAN 1
#endif
#endif
#ifndef LC_SIMT_ASAN
#define LC_SIMT_ASAN 0
#endif

namespace lc::simt::detail {

// One execution context: a fiber (own stack) or an OS thread's original context (no stack here).
struct Context {
  void* sp = nullptr;  // saved stack pointer (assembly switch)
#if !LC_SIMT_ASM_SWITCH
  ucontext_t uc{};
#endif
  char* map = nullptr;        // whole mapping, guard page first
  std::size_t map_bytes = 0;
  char* stack_lo = nullptr;   // usable stack, above the guard page
  std::size_t stack_bytes = 0;
  unsigned color = 0;         // initial stack top offset (cache lines), see fiber_create
  void (*entry)(void*) = nullptr;
  void* arg = nullptr;
  // AddressSanitizer bookkeeping: this context's fake stack while it is switched out, and its
  // stack bounds (known from the mapping for fibers, learnt on the first switch for threads).
  void* asan_fake = nullptr;
  const void* asan_bottom = nullptr;
  std::size_t asan_size = 0;
};

// Maps the stack and prepares ctx to start entry(arg) when first switched to. Throws lc::Error.
// `index` staggers the stack tops so that the hot top frames of many fibers do not all map to
// the same cache sets (page-aligned tops made the context switch 2x slower).
void fiber_create(Context* ctx, std::size_t stack_bytes, void (*entry)(void*), void* arg, unsigned index);
// Makes ctx start afresh at entry(arg) on its next switch (its old frames are abandoned).
void fiber_reset(Context* ctx);
void fiber_destroy(Context* ctx);
// Suspends `from` (the running context) and resumes `to`; returns when `from` is resumed.
void context_switch(Context* from, Context* to);
// The first thing a fiber's entry function calls (finishes the switch that started it).
void fiber_started(Context* self);
// Installs the stack-overflow SIGSEGV handler (once per process) and an alternate signal stack
// for the calling thread (once per thread).
void install_overflow_handler();

}  // namespace lc::simt::detail
