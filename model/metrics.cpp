// Per-epoch metrics CSV and the confusion matrix (text and CSV).
// Depends on: model/metrics.h, model/file_io.h (write_file_atomic), kernels/common/check.h.
#include "model/metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "kernels/common/check.h"
#include "model/file_io.h"

namespace lc {

namespace {

std::string fmt(const char* f, double v) {
  if (std::isnan(v)) return "nan";
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::vector<std::string> split_commas(const std::string& line) {
  std::vector<std::string> out(1);
  for (char ch : line) {
    if (ch == ',') out.emplace_back();
    else out.back() += ch;
  }
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) {
    if (ch == '"') q += '"';
    q += ch;
  }
  return q + "\"";
}

}  // namespace

std::string metrics_csv_header() { return "epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_s,lr"; }

std::string metrics_csv_row(const EpochMetrics& m) {
  return std::to_string(m.epoch) + "," + fmt("%.6f", m.loss) + "," + fmt("%.6f", m.accuracy) + "," +
         fmt("%.6f", m.val_loss) + "," + fmt("%.6f", m.val_accuracy) + "," + fmt("%.3f", m.seconds) + "," +
         fmt("%.1f", m.images_per_s) + "," + fmt("%.9g", m.lr);
}

std::string metrics_csv(const std::vector<EpochMetrics>& history) {
  std::string out = metrics_csv_header() + "\n";
  for (const auto& m : history) out += metrics_csv_row(m) + "\n";
  return out;
}

std::vector<EpochMetrics> parse_metrics_csv(const std::string& text, const std::string& origin) {
  std::vector<EpochMetrics> out;
  std::size_t pos = 0;
  int line_no = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line_no == 1) {
      if (line != metrics_csv_header())
        LC_FAIL(origin, ": line 1: expected the header '", metrics_csv_header(), "', found '", line, "'");
      continue;
    }
    if (line.empty()) continue;
    auto f = split_commas(line);
    if (f.size() != 8) LC_FAIL(origin, ": line ", line_no, ": ", f.size(), " fields, expected 8");
    auto num = [&](const std::string& s, int col) {
      char* endp = nullptr;
      double v = std::strtod(s.c_str(), &endp);
      if (s.empty() || *endp != '\0') LC_FAIL(origin, ": line ", line_no, ", column ", col, ": not a number: '", s, "'");
      return v;
    };
    EpochMetrics m;
    double e = num(f[0], 1);
    if (e != std::floor(e)) LC_FAIL(origin, ": line ", line_no, ": epoch '", f[0], "' is not an integer");
    m.epoch = std::int64_t(e);
    m.loss = num(f[1], 2);
    m.accuracy = num(f[2], 3);
    m.val_loss = num(f[3], 4);
    m.val_accuracy = num(f[4], 5);
    m.seconds = num(f[5], 6);
    m.images_per_s = num(f[6], 7);
    m.lr = num(f[7], 8);
    out.push_back(m);
  }
  if (line_no == 0) LC_FAIL(origin, ": empty (expected a header line)");
  return out;
}

void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& history) {
  write_file_atomic(path, metrics_csv(history));
}

// ----- Confusion matrix ------------------------------------------------------------------------

ConfusionMatrix::ConfusionMatrix(std::vector<std::string> class_names) : names_(std::move(class_names)) {}

std::int64_t ConfusionMatrix::key(int truth, int predicted) const {
  return std::int64_t(truth) * std::int64_t(names_.size()) + predicted;
}

void ConfusionMatrix::add(int truth, int predicted, std::int64_t count) {
  if (truth < 0 || truth >= classes() || predicted < 0 || predicted >= classes())
    LC_FAIL("confusion matrix: class index out of range (truth ", truth, ", predicted ", predicted, ", ",
            classes(), " classes)");
  counts_[key(truth, predicted)] += count;
}

void ConfusionMatrix::add(const std::int32_t* truth, const std::int32_t* predicted, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) add(truth[i], predicted[i]);
}

void ConfusionMatrix::clear() { counts_.clear(); }

std::int64_t ConfusionMatrix::at(int truth, int predicted) const {
  LC_CHECK(truth >= 0 && truth < classes() && predicted >= 0 && predicted < classes(),
           "confusion matrix: index out of range");
  auto it = counts_.find(key(truth, predicted));
  return it == counts_.end() ? 0 : it->second;
}

std::int64_t ConfusionMatrix::row_total(int truth) const {
  std::int64_t s = 0;
  // Cells are ordered by row: one row is one contiguous key range.
  for (auto it = counts_.lower_bound(key(truth, 0)); it != counts_.end() && it->first < key(truth + 1, 0); ++it)
    s += it->second;
  return s;
}

std::int64_t ConfusionMatrix::column_total(int predicted) const {
  std::int64_t s = 0;
  for (const auto& [k, v] : counts_)
    if (k % std::int64_t(names_.size()) == predicted) s += v;
  return s;
}

std::int64_t ConfusionMatrix::total() const {
  std::int64_t s = 0;
  for (const auto& [k, v] : counts_) s += v;
  return s;
}

std::int64_t ConfusionMatrix::correct() const {
  std::int64_t s = 0;
  for (const auto& [k, v] : counts_)
    if (k / std::int64_t(names_.size()) == k % std::int64_t(names_.size())) s += v;
  return s;
}

double ConfusionMatrix::accuracy() const {
  std::int64_t t = total();
  return t ? double(correct()) / double(t) : std::nan("");
}

double ConfusionMatrix::recall(int c) const {
  std::int64_t t = row_total(c);
  return t ? double(at(c, c)) / double(t) : std::nan("");
}

double ConfusionMatrix::precision(int c) const {
  std::int64_t t = column_total(c);
  return t ? double(at(c, c)) / double(t) : std::nan("");
}

std::string ConfusionMatrix::accuracy_line() const {
  const double a = accuracy();
  return "accuracy " + (std::isnan(a) ? std::string("-") : fmt("%.2f", 100.0 * a) + "%") + " (" +
         std::to_string(correct()) + " / " + std::to_string(total()) + ")\n";
}

std::string ConfusionMatrix::summary() const {
  const int k = classes();
  std::string out = std::to_string(k) + " classes (the full matrix is in the CSV); " + accuracy_line();
  // The classes with the lowest recall and the largest off-diagonal cells, ten of each.
  std::vector<std::pair<double, int>> rec;
  for (int c = 0; c < k; ++c)
    if (!std::isnan(recall(c))) rec.push_back({recall(c), c});
  std::partial_sort(rec.begin(), rec.begin() + std::min<std::size_t>(10, rec.size()), rec.end());
  out += "lowest recall:\n";
  for (std::size_t i = 0; i < std::min<std::size_t>(10, rec.size()); ++i)
    out += "  " + fmt("%5.1f%%", 100.0 * rec[i].first) + "  " + names_[std::size_t(rec[i].second)] + "\n";
  std::vector<std::pair<std::int64_t, std::int64_t>> off;  // (-count, key)
  for (const auto& [kk, v] : counts_)
    if (kk / k != kk % k && v > 0) off.push_back({-v, kk});
  std::partial_sort(off.begin(), off.begin() + std::min<std::size_t>(10, off.size()), off.end());
  out += "most frequent confusions (true -> predicted):\n";
  for (std::size_t i = 0; i < std::min<std::size_t>(10, off.size()); ++i)
    out += "  " + std::to_string(-off[i].first) + "  " + names_[std::size_t(off[i].second / k)] + " -> " +
           names_[std::size_t(off[i].second % k)] + "\n";
  return out;
}

std::string ConfusionMatrix::format() const {
  const int k = classes();
  if (k > kConfusionPrintClasses) return summary();
  std::size_t name_w = 5;  // "class"
  for (const auto& n : names_) name_w = std::max(name_w, n.size());
  std::int64_t biggest = 0;
  for (const auto& [kk, v] : counts_) biggest = std::max(biggest, v);
  std::size_t cell_w = std::max(std::to_string(biggest).size(), std::to_string(std::max(k - 1, 0)).size());
  std::size_t idx_w = std::to_string(std::max(k - 1, 0)).size();

  auto pad_left = [](const std::string& s, std::size_t w) { return std::string(w > s.size() ? w - s.size() : 0, ' ') + s; };
  auto pad_right = [](const std::string& s, std::size_t w) { return s + std::string(w > s.size() ? w - s.size() : 0, ' '); };

  std::string out;
  // Header: "<idx> <name> | predicted indices | recall"
  out += pad_left("", idx_w) + " " + pad_right("class", name_w) + " |";
  for (int p = 0; p < k; ++p) out += " " + pad_left(std::to_string(p), cell_w);
  out += " | recall\n";
  std::size_t rule = idx_w + 1 + name_w + 2 + std::size_t(k) * (cell_w + 1) + 9;
  out += std::string(rule, '-') + "\n";
  for (int t = 0; t < k; ++t) {
    out += pad_left(std::to_string(t), idx_w) + " " + pad_right(names_[std::size_t(t)], name_w) + " |";
    for (int p = 0; p < k; ++p) out += " " + pad_left(std::to_string(at(t, p)), cell_w);
    double r = recall(t);
    out += " | " + (std::isnan(r) ? pad_left("-", 6) : pad_left(fmt("%.1f", 100.0 * r), 5) + "%") + "\n";
  }
  out += std::string(rule, '-') + "\n";
  out += "rows: true class, columns: predicted class; " + accuracy_line();
  return out;
}

std::string ConfusionMatrix::csv() const {
  if (classes() > kConfusionDenseCsvClasses) {
    std::string out = "truth,predicted,count\n";
    for (const auto& [kk, v] : counts_)
      if (v != 0)
        out += csv_field(names_[std::size_t(kk / classes())]) + "," + csv_field(names_[std::size_t(kk % classes())]) +
               "," + std::to_string(v) + "\n";
    return out;
  }
  std::string out = "truth\\predicted";
  for (const auto& n : names_) out += "," + csv_field(n);
  out += "\n";
  for (int t = 0; t < classes(); ++t) {
    out += csv_field(names_[std::size_t(t)]);
    for (int p = 0; p < classes(); ++p) out += "," + std::to_string(at(t, p));
    out += "\n";
  }
  return out;
}

void ConfusionMatrix::write_csv(const std::string& path) const { write_file_atomic(path, csv()); }

}  // namespace lc
