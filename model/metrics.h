// Training metrics files: the per-epoch history as CSV (rewritten whole, atomically, after every
// epoch, so a crash never leaves a half-written file) and the confusion matrix, printed aligned
// with class names and written as CSV.
// Depends on: model/file_io.h (atomic file writes, in metrics.cpp), kernels/common/check.h.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace lc {

// One epoch of training. NaN marks "not measured" (no validation set): written as "nan".
struct EpochMetrics {
  std::int64_t epoch = 0;      // 1-based epoch number
  double loss = 0;             // mean training loss over the epoch's images
  double accuracy = 0;         // training accuracy in [0, 1]
  double val_loss = std::numeric_limits<double>::quiet_NaN();
  double val_accuracy = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0;          // wall time of the epoch (training + validation)
  double images_per_s = 0;     // training images per second of training time
  double lr = 0;               // learning rate used in the epoch
};

// CSV with a header line and one line per epoch, '\n' line ends, C locale, columns:
//   epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_s,lr
// loss/accuracy values with 6 decimals, seconds with 3, images_per_s with 1, lr as %.9g.
std::string metrics_csv_header();            // the header line without '\n'
std::string metrics_csv_row(const EpochMetrics& m);  // one line without '\n'
std::string metrics_csv(const std::vector<EpochMetrics>& history);
// Parses text written by metrics_csv (header checked; throws lc::Error naming `origin` and the line).
std::vector<EpochMetrics> parse_metrics_csv(const std::string& text, const std::string& origin = "metrics.csv");
// Writes metrics_csv(history) to `path` atomically (write_file_atomic).
void write_metrics_csv(const std::string& path, const std::vector<EpochMetrics>& history);

// Beyond these class counts the terminal gets a summary and the CSV the non-zero cells only, so
// the output stays proportionate to the data (10,000 classes would otherwise print 500 MB).
inline constexpr int kConfusionPrintClasses = 40;
inline constexpr int kConfusionDenseCsvClasses = 1000;

// counts[truth][predicted] over a data set, stored sparse (only the cells that occurred).
class ConfusionMatrix {
 public:
  ConfusionMatrix() = default;
  explicit ConfusionMatrix(std::vector<std::string> class_names);

  // Throws lc::Error when an index is outside [0, classes()).
  void add(int truth, int predicted, std::int64_t count = 1);
  void add(const std::int32_t* truth, const std::int32_t* predicted, std::size_t n);
  void clear();

  int classes() const { return int(names_.size()); }
  const std::vector<std::string>& class_names() const { return names_; }
  std::int64_t at(int truth, int predicted) const;
  std::int64_t row_total(int truth) const;       // images of class `truth`
  std::int64_t column_total(int predicted) const;
  std::int64_t total() const;
  std::int64_t correct() const;                  // the diagonal
  double accuracy() const;                       // correct / total; NaN when empty
  double recall(int c) const;                    // at(c, c) / row_total(c); NaN when the row is empty
  double precision(int c) const;                 // at(c, c) / column_total(c); NaN when the column is empty

  // Aligned text for a terminal: a header of predicted-class indices, then one row per true class
  // "  3 beach              |  12   0   1 ... |  92.3%" (index, name, counts, recall), then the
  // overall accuracy. Rows are true classes, columns predicted classes. Above
  // kConfusionPrintClasses classes: summary() instead.
  std::string format() const;
  // The accuracy, the ten classes of lowest recall and the ten largest confusions.
  std::string summary() const;
  // CSV: header "truth\predicted,<class 0>,...,<class K-1>", then one row per true class
  // "<class>,<count>,...". Above kConfusionDenseCsvClasses classes, the long form
  // "truth,predicted,count" with one line per non-zero cell. Class names containing ',' '"' or
  // line breaks are quoted (RFC 4180).
  std::string csv() const;
  void write_csv(const std::string& path) const;  // atomically

 private:
  std::vector<std::string> names_;
  std::int64_t key(int truth, int predicted) const;  // truth * classes + predicted
  std::string accuracy_line() const;
  std::map<std::int64_t, std::int64_t> counts_;     // key -> count, ordered by row
};

}  // namespace lc
