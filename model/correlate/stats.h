// Statistics of `landcover correlate` (all fits and distributions from GSL):
//   fit_simple    least-squares line y = a + b x with 95% intervals (Student t, n - 2 df), Pearson
//                 r, Spearman rho, the two-sided p-value of b = 0;
//   fit_multiple  y = a + sum_j b_j x_j over several predictors, with intervals, p-values, R^2,
//                 the F test, the reciprocal condition number of the design and each predictor's
//                 variance inflation factor (collinearity).
// The verdict strings say in words what n and the interval allow one to conclude.
// Depends on: GSL.
#pragma once

#include <string>
#include <vector>

namespace lc::co2 {

constexpr int kMinZonesToFit = 3;        // below: no line is fitted
constexpr int kMinZonesToConclude = 30;  // below: the output says nothing can be concluded

struct SimpleFit {
  int n = 0;
  bool fitted = false;
  double slope, slope_se, slope_lo, slope_hi;  // 95% interval
  double intercept, intercept_lo, intercept_hi;
  double pearson_r, spearman_rho, p_value;
  double cov00, cov01, cov11, t95;  // for confidence bands: se(x)^2 = cov00 + 2 x cov01 + x^2 cov11
  std::string verdict;
};
SimpleFit fit_simple(const std::vector<double>& x, const std::vector<double>& y);

struct Term {
  std::string name;
  double coef, se, lo, hi, p_value;
  double vif;  // NaN for the intercept
};

struct MultipleFit {
  int n = 0, parameters = 0;
  bool fitted = false;
  std::vector<Term> terms;            // "(intercept)" first, then the predictors
  std::vector<std::string> dropped;   // predictors left out because they do not vary
  double r2, adj_r2, f_p_value, rcond, max_vif;
  std::string collinearity, verdict;  // words
};
// `x[j]` holds predictor j for every observation, named names[j].
MultipleFit fit_multiple(const std::vector<std::vector<double>>& x, const std::vector<std::string>& names,
                         const std::vector<double>& y);

// The words for an estimate with its 95% interval from n zones.
std::string verdict_for(int n, double lo, double hi, double p_value);

}  // namespace lc::co2
