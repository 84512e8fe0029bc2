// OpenBLAS single-threaded for the duration of a scope (restored after). The cpu backend runs its
// own OpenMP threads; OpenBLAS's pthread pool (Debian's libopenblas0-pthread) would compete with
// them for the same cores, and its idle threads spin for a while after each call, so every BLAS
// call of the cpu backend runs inside one of these: single-threaded inside an OpenMP region, or
// small enough that one thread is right.
// Depends on: OpenBLAS (cblas.h: openblas_get_num_threads, openblas_set_num_threads).
#pragma once

#include <cblas.h>

namespace lc::cpu {

class BlasSingleThread {
 public:
  BlasSingleThread() : saved_(openblas_get_num_threads()) {
    if (saved_ != 1) openblas_set_num_threads(1);
  }
  ~BlasSingleThread() {
    if (saved_ != 1) openblas_set_num_threads(saved_);
  }
  BlasSingleThread(const BlasSingleThread&) = delete;
  BlasSingleThread& operator=(const BlasSingleThread&) = delete;

 private:
  int saved_;
};

}  // namespace lc::cpu
