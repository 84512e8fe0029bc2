// Regressions with GSL (see stats.h).
// Depends on: model/correlate/stats.h, GSL.
#include "model/correlate/stats.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_fit.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_multifit.h>
#include <gsl/gsl_statistics_double.h>
#include <gsl/gsl_vector.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>

namespace lc::co2 {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// GSL's default error handler aborts the process; here a failed computation must come back as
// NaN in the results instead (the inputs are checked before each call).
const bool kGslQuiet = [] {
  gsl_set_error_handler_off();
  return true;
}();

bool varies(const std::vector<double>& v) {
  return !v.empty() && std::any_of(v.begin(), v.end(), [&](double a) { return a != v.front(); });
}

std::string num(double v, const char* f = "%.3g") {
  char buf[32];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

struct MatrixFree { void operator()(gsl_matrix* m) const { gsl_matrix_free(m); } };
struct VectorFree { void operator()(gsl_vector* v) const { gsl_vector_free(v); } };
struct WorkFree { void operator()(gsl_multifit_linear_workspace* w) const { gsl_multifit_linear_free(w); } };
using Matrix = std::unique_ptr<gsl_matrix, MatrixFree>;
using Vector = std::unique_ptr<gsl_vector, VectorFree>;

struct LinearFit {
  Vector c;
  Matrix cov;
  double chisq = 0, rcond = kNaN;
};

// Least squares of y on the columns of X (which include the intercept column).
LinearFit linear_fit(const gsl_matrix* X, const gsl_vector* y) {
  LinearFit f{Vector(gsl_vector_alloc(X->size2)), Matrix(gsl_matrix_alloc(X->size2, X->size2))};
  std::unique_ptr<gsl_multifit_linear_workspace, WorkFree> w(gsl_multifit_linear_alloc(X->size1, X->size2));
  gsl_multifit_linear(X, y, f.c.get(), f.cov.get(), &f.chisq, w.get());
  f.rcond = gsl_multifit_linear_rcond(w.get());
  return f;
}

// R^2 of y on the columns of X (X includes the intercept column).
double r_squared(const gsl_matrix* X, const gsl_vector* y) {
  const LinearFit f = linear_fit(X, y);
  const double tss = gsl_stats_tss(y->data, y->stride, y->size);
  return tss > 0 ? 1.0 - f.chisq / tss : kNaN;
}

// The design matrix [1, x_0, ..., x_{p-1}] without column `skip` of x (skip < 0: none).
Matrix design(const std::vector<const std::vector<double>*>& x, std::size_t n, int skip) {
  const std::size_t p = 1 + x.size() - (skip >= 0 ? 1 : 0);
  Matrix X(gsl_matrix_alloc(n, p));
  for (std::size_t i = 0; i < n; ++i) {
    gsl_matrix_set(X.get(), i, 0, 1.0);
    std::size_t col = 1;
    for (std::size_t j = 0; j < x.size(); ++j)
      if (static_cast<int>(j) != skip) gsl_matrix_set(X.get(), i, col++, (*x[j])[i]);
  }
  return X;
}

// Variance inflation factor of each predictor: 1 / (1 - R^2 of it on the others).
std::vector<double> vifs(const std::vector<const std::vector<double>*>& x, std::size_t n) {
  std::vector<double> out;
  for (std::size_t j = 0; j < x.size(); ++j) {
    if (x.size() == 1) {
      out.push_back(1.0);
      continue;
    }
    const Matrix X = design(x, n, static_cast<int>(j));
    const gsl_vector_const_view y = gsl_vector_const_view_array(x[j]->data(), n);
    const double r2 = r_squared(X.get(), &y.vector);
    out.push_back(r2 >= 1.0 ? std::numeric_limits<double>::infinity() : 1.0 / (1.0 - r2));
  }
  return out;
}

}  // namespace

std::string verdict_for(int n, double lo, double hi, double p_value) {
  const std::string width = "+-" + num((hi - lo) / 2);
  if (n < kMinZonesToFit) return "n=" + std::to_string(n) + ": too few zones to fit anything";
  if (n < kMinZonesToConclude)
    return "n=" + std::to_string(n) + ": too few zones to conclude anything (the 95% interval is " + width +
           " ppm; at least " + std::to_string(kMinZonesToConclude) + " zones are needed before reading the sign)";
  if (lo <= 0 && hi >= 0)
    return "no relation detectable: the 95% interval includes 0; slopes within " + width + " ppm cannot be told from 0";
  return "differs from 0 at the 5% level (p=" + num(p_value, "%.2g") +
         "), but neighbouring zones are not independent, so the interval is too narrow: a hint, not a finding";
}

SimpleFit fit_simple(const std::vector<double>& x, const std::vector<double>& y) {
  SimpleFit f{};
  f.n = static_cast<int>(x.size());
  f.slope = f.slope_se = f.slope_lo = f.slope_hi = f.intercept = f.intercept_lo = f.intercept_hi = kNaN;
  f.pearson_r = f.spearman_rho = f.p_value = f.cov00 = f.cov01 = f.cov11 = f.t95 = kNaN;
  if (f.n < kMinZonesToFit) {
    f.verdict = verdict_for(f.n, kNaN, kNaN, kNaN);
    return f;
  }
  if (!varies(x)) {
    f.verdict = "n=" + std::to_string(f.n) + ": the fraction is the same in every zone, so no slope can be estimated";
    return f;
  }
  const std::size_t n = x.size();
  double sumsq = 0;
  gsl_fit_linear(x.data(), 1, y.data(), 1, n, &f.intercept, &f.slope, &f.cov00, &f.cov01, &f.cov11, &sumsq);
  const double df = static_cast<double>(n - 2);
  f.fitted = true;
  f.t95 = gsl_cdf_tdist_Pinv(0.975, df);
  f.slope_se = std::sqrt(f.cov11);
  f.slope_lo = f.slope - f.t95 * f.slope_se, f.slope_hi = f.slope + f.t95 * f.slope_se;
  const double ise = std::sqrt(f.cov00);
  f.intercept_lo = f.intercept - f.t95 * ise, f.intercept_hi = f.intercept + f.t95 * ise;
  f.p_value = f.slope_se > 0 ? 2.0 * gsl_cdf_tdist_Q(std::fabs(f.slope / f.slope_se), df) : 0.0;
  if (varies(y)) {
    f.pearson_r = gsl_stats_correlation(x.data(), 1, y.data(), 1, n);
    std::vector<double> work(2 * n);
    f.spearman_rho = gsl_stats_spearman(x.data(), 1, y.data(), 1, n, work.data());
  }
  f.verdict = verdict_for(f.n, f.slope_lo, f.slope_hi, f.p_value);
  return f;
}

MultipleFit fit_multiple(const std::vector<std::vector<double>>& x, const std::vector<std::string>& names,
                         const std::vector<double>& y) {
  MultipleFit m{};
  m.n = static_cast<int>(y.size());
  m.r2 = m.adj_r2 = m.f_p_value = m.rcond = m.max_vif = kNaN;
  std::vector<const std::vector<double>*> kept;
  std::vector<std::string> kept_names;
  for (std::size_t j = 0; j < x.size(); ++j) {
    if (varies(x[j])) kept.push_back(&x[j]), kept_names.push_back(names[j]);
    else m.dropped.push_back(names[j]);
  }
  m.parameters = static_cast<int>(kept.size()) + 1;
  if (kept.empty() || m.n < m.parameters + 2) {
    m.verdict = "n=" + std::to_string(m.n) + " zones for " + std::to_string(m.parameters) +
                " parameters: too few to fit the multiple regression";
    return m;
  }
  const std::size_t n = y.size();
  const Matrix X = design(kept, n, -1);
  const gsl_vector_const_view yv = gsl_vector_const_view_array(y.data(), n);
  const LinearFit f = linear_fit(X.get(), &yv.vector);
  const double df = static_cast<double>(m.n - m.parameters), t95 = gsl_cdf_tdist_Pinv(0.975, df);
  const std::vector<double> vif = vifs(kept, n);
  for (std::size_t j = 0; j < static_cast<std::size_t>(m.parameters); ++j) {
    Term t{j == 0 ? "(intercept)" : kept_names[j - 1], gsl_vector_get(f.c.get(), j),
           std::sqrt(gsl_matrix_get(f.cov.get(), j, j)), 0, 0, 0, j == 0 ? kNaN : vif[j - 1]};
    t.lo = t.coef - t95 * t.se, t.hi = t.coef + t95 * t.se;
    t.p_value = t.se > 0 ? 2.0 * gsl_cdf_tdist_Q(std::fabs(t.coef / t.se), df) : 0.0;
    m.terms.push_back(t);
  }
  const double tss = gsl_stats_tss(y.data(), 1, n);
  m.r2 = tss > 0 ? 1.0 - f.chisq / tss : kNaN;
  m.adj_r2 = 1.0 - (1.0 - m.r2) * (m.n - 1) / df;
  const double q = m.parameters - 1.0;
  m.f_p_value = gsl_cdf_fdist_Q((m.r2 / q) / ((1.0 - m.r2) / df), q, df);
  m.rcond = f.rcond;
  m.max_vif = *std::max_element(vif.begin(), vif.end());
  m.collinearity = m.max_vif > 10 ? "severe (largest VIF " + num(m.max_vif) + " > 10): the separate coefficients are not identifiable"
                   : m.max_vif > 5 ? "moderate (largest VIF " + num(m.max_vif) + ")"
                                   : "low (largest VIF " + num(m.max_vif) + ")";
  m.fitted = true;
  m.verdict = m.n < kMinZonesToConclude ? "n=" + std::to_string(m.n) + ": too few zones to conclude anything from the multiple regression"
              : m.f_p_value < 0.05 ? "the classes together explain part of the anomaly (F test p=" + num(m.f_p_value, "%.2g") + "); neighbouring zones are not independent"
                                   : "the classes together explain no detectable part of the anomaly (F test p=" + num(m.f_p_value, "%.2g") + ")";
  return m;
}

}  // namespace lc::co2
