// The one gradient checker of the tests: an analytic gradient against finite differences of a
// scalar loss, entry by entry, with the handling of kinks (points where the loss is not smooth:
// ELU's second derivative at 0, max-pool winner switches) stated once here.
//
// For entry i of the variable x: L+ = loss(x_i + h), L- = loss(x_i - h), L0 = loss(x) (only when
// one-sided differences are allowed). The step is the float difference actually taken
// ((x_i + h) - (x_i - h) in float), so rounding of x_i does not enter.
//   central  (L+ - L-) / (2h) must agree: |g - c| <= atol + rtol * |g|.
//   kinks    two ways, chosen by the test:
//            - skip_if: a predicate the test evaluates right after the L+ and L- evaluations
//              (e.g. "a pre-activation changed sign between them"); such entries are skipped,
//              and at most max_skipped of all entries may be;
//            - one_sided: when the central difference misses, the entry may still pass where the
//              left (L0 - L-) / h and right (L+ - L0) / h differences really disagree with each
//              other (by more than t1 = one_sided_atol + one_sided_rtol * |g|: a kink inside
//              [x_i - h, x_i + h]) and g lies between them (widened by t1): at a kink the backward
//              gives one side's slope, and a difference over an interval holding kinks averages
//              the slopes met in it. At most max_one_sided of the entries may pass this way.
// Every other miss fails the test (no "one miss allowed").
// Depends on: GoogleTest.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace lc::test {

struct GradCheckOptions {
  float h = 1e-2f;
  double atol = 1e-4, rtol = 0;   // central difference
  std::function<bool()> skip_if;  // kink predicate, evaluated after L+ and L- (optional)
  double max_skipped = 0.5;       // fraction of entries skip_if may skip
  bool one_sided = false;
  double one_sided_atol = 0, one_sided_rtol = 0;  // t1 above
  double max_one_sided = 0.25;    // fraction of entries that may pass one-sided
};

struct GradCheckStats {
  int checked = 0, skipped = 0, one_sided = 0, failed = 0;
  double worst = 0;  // the largest |g - central| / tolerance among entries passed centrally
};

// Checks analytic[i] for every i in `entries` (all of x when empty). x is perturbed in place and
// restored; `changed` (optional) is called after every change of x (e.g. to upload it).
// Failures are reported through ADD_FAILURE naming `what`, the entry and the differences.
inline GradCheckStats check_gradient(const std::string& what, std::vector<float>& x, const std::vector<float>& analytic,
                                     const std::function<double()>& loss, const GradCheckOptions& o,
                                     std::vector<std::size_t> entries = {},
                                     const std::function<void()>& changed = {}) {
  GradCheckStats st;
  if (x.size() != analytic.size()) {
    ADD_FAILURE() << what << ": " << x.size() << " values but " << analytic.size() << " gradient entries";
    return st;
  }
  if (entries.empty())
    for (std::size_t i = 0; i < x.size(); ++i) entries.push_back(i);
  auto set = [&](std::size_t i, float v) {
    x[i] = v;
    if (changed) changed();
  };
  const double mid = o.one_sided ? loss() : 0.0;
  for (std::size_t i : entries) {
    const float keep = x[i];
    set(i, keep + o.h);
    const float up_x = x[i];
    const double up = loss();
    set(i, keep - o.h);
    const float down_x = x[i];
    const double down = loss();
    const bool skip = o.skip_if && o.skip_if();
    set(i, keep);
    if (skip) {
      ++st.skipped;
      continue;
    }
    ++st.checked;
    const double g = analytic[i];
    const double central = (up - down) / (double(up_x) - double(down_x));
    const double tol = o.atol + o.rtol * std::fabs(g);
    if (std::fabs(central - g) <= tol) {
      st.worst = std::max(st.worst, std::fabs(central - g) / tol);
      continue;
    }
    if (o.one_sided) {
      const double right = (up - mid) / (double(up_x) - double(keep));
      const double left = (mid - down) / (double(keep) - double(down_x));
      const double tol1 = o.one_sided_atol + o.one_sided_rtol * std::fabs(g);
      const bool kink = std::fabs(right - left) > tol1;
      if (kink && g >= std::min(left, right) - tol1 && g <= std::max(left, right) + tol1) {
        ++st.one_sided;
        continue;
      }
      ADD_FAILURE() << what << "[" << i << "]: analytic " << g << ", central " << central << ", left " << left
                    << ", right " << right << (kink ? "" : " (no kink: the one-sided differences agree)");
    } else {
      ADD_FAILURE() << what << "[" << i << "]: analytic " << g << ", central difference " << central << " (tolerance "
                    << tol << ")";
    }
    ++st.failed;
  }
  const double total = double(st.checked + st.skipped);
  EXPECT_LE(st.skipped, o.max_skipped * total) << what << ": " << st.skipped << " of " << total
                                               << " entries skipped at kinks";
  EXPECT_LE(st.one_sided, o.max_one_sided * double(st.checked))
      << what << ": " << st.one_sided << " of " << st.checked << " entries passed only one-sided";
  return st;
}

}  // namespace lc::test
