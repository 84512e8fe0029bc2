// Fibers for the host SIMT emulator: stacks, the context switch, the stack-overflow handler.
// See fiber.h. Depends on: POSIX, kernels/common/check.h.
#include "kernels/simt/fiber.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "kernels/common/check.h"

#if LC_SIMT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if LC_SIMT_ASM_SWITCH
// void lc_simt_switch_x86_64(void** save_sp, void* new_sp): pushes the callee-saved registers,
// saves rsp in *save_sp, loads new_sp, pops the other context's registers and returns into it.
// (MXCSR and the x87 control word are not switched: kernels do not change rounding modes.)
// lc_simt_fiber_start_x86_64: where a fresh fiber's first switch returns to; r12 = argument,
// r13 = entry function. It ends the call chain for unwinders (rip undefined).
asm(R"(
  .pushsection .text
  .p2align 4
  .globl lc_simt_switch_x86_64
  .hidden lc_simt_switch_x86_64
  .type lc_simt_switch_x86_64, @function
lc_simt_switch_x86_64:
  .cfi_startproc
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .cfi_endproc
  .size lc_simt_switch_x86_64, .-lc_simt_switch_x86_64

  .p2align 4
  .globl lc_simt_fiber_start_x86_64
  .hidden lc_simt_fiber_start_x86_64
  .type lc_simt_fiber_start_x86_64, @function
lc_simt_fiber_start_x86_64:
  .cfi_startproc
  .cfi_undefined rip
  xorl %ebp, %ebp
  movq %r12, %rdi
  callq *%r13
  ud2
  .cfi_endproc
  .size lc_simt_fiber_start_x86_64, .-lc_simt_fiber_start_x86_64
  .popsection
)");
extern "C" void lc_simt_switch_x86_64(void** save_sp, void* new_sp);
extern "C" void lc_simt_fiber_start_x86_64();
#endif

namespace lc::simt::detail {

namespace {

// The context running on this OS thread (read by the SIGSEGV handler) and the one that switched
// to it last (for ASan's stack bounds).
thread_local Context* t_current = nullptr;
thread_local Context* t_switch_from = nullptr;

std::size_t page_bytes() {
  static const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

#if !LC_SIMT_ASM_SWITCH
void ucontext_entry(unsigned hi, unsigned lo) {
  Context* c = reinterpret_cast<Context*>((static_cast<std::uintptr_t>(hi) << 32) | lo);
  c->entry(c->arg);
  std::abort();  // entry functions never return
}
#endif

void after_switch_in(Context* self, void* fake) {
#if LC_SIMT_ASAN
  const void* bottom = nullptr;
  std::size_t size = 0;
  __sanitizer_finish_switch_fiber(fake, &bottom, &size);
  Context* prev = t_switch_from;
  if (prev && !prev->asan_bottom) {
    prev->asan_bottom = bottom;
    prev->asan_size = size;
  }
#else
  (void)fake;
#endif
  t_current = self;
}

// ---- stack overflow -------------------------------------------------------------------------
struct sigaction g_old_segv;

void write_str(const char* s) {
  std::size_t n = std::strlen(s);
  while (n > 0) {
    ssize_t w = write(2, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<std::size_t>(w);
  }
}

void on_segv(int sig, siginfo_t* info, void* uctx) {
  const Context* c = t_current;
  bool overflow = false;
  if (c && c->map) {
    const char* addr = static_cast<const char*>(info->si_addr);
    // The guard page, or (a frame without stack-clash probes) up to 1 MiB below it.
    const char* low = c->map > reinterpret_cast<char*>(1 << 20) ? c->map - (1 << 20) : nullptr;
    if (addr >= low && addr < c->stack_lo) overflow = true;
#if defined(__x86_64__)
    const char* rsp = reinterpret_cast<const char*>(
        static_cast<ucontext_t*>(uctx)->uc_mcontext.gregs[REG_RSP]);
    if (rsp >= low && rsp < c->stack_lo) overflow = true;
#endif
  }
  if (overflow) {
    char num[32];
    char* p = num + sizeof num;
    *--p = '\0';
    std::size_t kb = c->stack_bytes / 1024;
    do {
      *--p = static_cast<char>('0' + kb % 10);
      kb /= 10;
    } while (kb > 0);
    write_str("lc::simt: fiber stack overflow, raise the stack size (LC_SIMT_STACK_KB, now ");
    write_str(p);
    write_str(" KiB; or lc::simt::config().stack_bytes)\n");
    std::abort();
  }
  // Not ours: hand it to whoever handled SIGSEGV before us (e.g. AddressSanitizer).
  if ((g_old_segv.sa_flags & SA_SIGINFO) && g_old_segv.sa_sigaction) {
    g_old_segv.sa_sigaction(sig, info, uctx);
    return;
  }
  if (g_old_segv.sa_handler != SIG_DFL && g_old_segv.sa_handler != SIG_IGN) {
    g_old_segv.sa_handler(sig);
    return;
  }
  // Default action: restore it and return; the faulting instruction faults again.
  sigaction(SIGSEGV, &g_old_segv, nullptr);
}

constexpr std::size_t kAltStackBytes = 64 * 1024;

struct AltStack {
  void* mem = nullptr;
  ~AltStack() {
    if (!mem) return;
    stack_t ss{};
    ss.ss_flags = SS_DISABLE;
    sigaltstack(&ss, nullptr);
    munmap(mem, kAltStackBytes);
  }
};

}  // namespace

void install_overflow_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa{};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &g_old_segv);
  });
  thread_local AltStack alt;
  thread_local bool checked = false;
  if (checked) return;
  checked = true;
  stack_t cur{};
  if (sigaltstack(nullptr, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) return;  // has one already
  void* mem = mmap(nullptr, kAltStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return;  // no overflow message on this thread; not fatal
  stack_t ss{};
  ss.ss_sp = mem;
  ss.ss_size = kAltStackBytes;
  if (sigaltstack(&ss, nullptr) != 0) {
    munmap(mem, kAltStackBytes);
    return;
  }
  alt.mem = mem;
}

#ifndef LC_SIMT_COLORS
#define LC_SIMT_COLORS 16
#endif
constexpr unsigned kColors = LC_SIMT_COLORS;  // stack tops staggered by up to 16 cache lines: more made
                                            // the top frames straddle pages (TLB misses)

void fiber_create(Context* c, std::size_t stack_bytes, void (*entry)(void*), void* arg, unsigned index) {
  const std::size_t page = page_bytes();
  const std::size_t stack =
      (std::max<std::size_t>(stack_bytes, 16 * 1024) + kColors * 64 + page - 1) / page * page;
  const std::size_t total = stack + page;
  void* m = mmap(nullptr, total, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
  if (m == MAP_FAILED)
    LC_FAIL("lc::simt: cannot map a ", stack / 1024, " KiB fiber stack: ", std::strerror(errno),
            " (lower LC_SIMT_THREADS or LC_SIMT_STACK_KB, or raise vm.max_map_count)");
  if (mprotect(m, page, PROT_NONE) != 0) {
    const int err = errno;
    munmap(m, total);
    LC_FAIL("lc::simt: cannot protect a fiber stack guard page: ", std::strerror(err),
            " (lower LC_SIMT_THREADS, or raise vm.max_map_count)");
  }
  c->map = static_cast<char*>(m);
  c->map_bytes = total;
  c->stack_lo = c->map + page;
  c->stack_bytes = stack;
  c->entry = entry;
  c->arg = arg;
  c->color = (index * 37u) % kColors;
  c->asan_bottom = c->stack_lo;
  c->asan_size = stack;
  fiber_reset(c);
}

void fiber_reset(Context* c) {
#if LC_SIMT_ASAN
  // Abandoned frames may have left their redzones poisoned.
  ASAN_UNPOISON_MEMORY_REGION(c->stack_lo, c->stack_bytes);
#endif
  c->asan_fake = nullptr;
#if LC_SIMT_ASM_SWITCH
  const std::uintptr_t top =
      (reinterpret_cast<std::uintptr_t>(c->stack_lo + c->stack_bytes) - c->color * 64u) & ~std::uintptr_t{15};
  void** sp = reinterpret_cast<void**>(top - 72);  // 6 registers + return address + 16 zero bytes
  sp[0] = nullptr;                                  // r15
  sp[1] = nullptr;                                  // r14
  sp[2] = reinterpret_cast<void*>(c->entry);        // r13
  sp[3] = c->arg;                                   // r12
  sp[4] = nullptr;                                  // rbx
  sp[5] = nullptr;                                  // rbp
  sp[6] = reinterpret_cast<void*>(&lc_simt_fiber_start_x86_64);
  sp[7] = nullptr;
  sp[8] = nullptr;
  c->sp = sp;
#else
  if (getcontext(&c->uc) != 0) LC_FAIL("lc::simt: getcontext failed: ", std::strerror(errno));
  c->uc.uc_stack.ss_sp = c->stack_lo;
  c->uc.uc_stack.ss_size = c->stack_bytes - c->color * 64u;
  c->uc.uc_link = nullptr;
  const auto self = reinterpret_cast<std::uintptr_t>(c);
  makecontext(&c->uc, reinterpret_cast<void (*)()>(&ucontext_entry), 2,
              static_cast<unsigned>(self >> 32), static_cast<unsigned>(self & 0xffffffffu));
#endif
}

void fiber_destroy(Context* c) {
  if (!c->map) return;
#if LC_SIMT_ASAN
  ASAN_UNPOISON_MEMORY_REGION(c->stack_lo, c->stack_bytes);
#endif
  munmap(c->map, c->map_bytes);
  c->map = nullptr;
  c->stack_lo = nullptr;
}

void context_switch(Context* from, Context* to) {
#if LC_SIMT_ASAN
  __sanitizer_start_switch_fiber(&from->asan_fake, to->asan_bottom, to->asan_size);
#endif
  t_switch_from = from;
#if LC_SIMT_ASM_SWITCH
  lc_simt_switch_x86_64(&from->sp, to->sp);
#else
  if (swapcontext(&from->uc, &to->uc) != 0) std::abort();
#endif
  after_switch_in(from, from->asan_fake);
}

void fiber_started(Context* self) { after_switch_in(self, nullptr); }

}  // namespace lc::simt::detail
