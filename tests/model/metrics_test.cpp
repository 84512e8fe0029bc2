// Tests of model/metrics: the per-epoch CSV (exact text from the documented formats, NaN,
// parse round trip, errors), atomic metrics files, and the confusion matrix (counts, accuracy,
// recall, precision, aligned text, CSV with quoting).
// Depends on: model/metrics.h, model/checkpoint.h (set_atomic_write_fault_for_testing), GoogleTest.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "kernels/common/check.h"
#include "model/checkpoint.h"
#include "model/metrics.h"
#include "tests/support/files.h"

namespace {

namespace fs = std::filesystem;

using lc::test::TempDir;

lc::EpochMetrics epoch(std::int64_t e, double loss, double acc, double vloss, double vacc, double sec, double ips,
                       double lr) {
  lc::EpochMetrics m;
  m.epoch = e;
  m.loss = loss;
  m.accuracy = acc;
  m.val_loss = vloss;
  m.val_accuracy = vacc;
  m.seconds = sec;
  m.images_per_s = ips;
  m.lr = lr;
  return m;
}

TEST(CpuMetrics, CsvTextIsAsDocumented) {
  std::vector<lc::EpochMetrics> h = {epoch(1, 1.5, 0.25, 1.25, 0.5, 12.3456, 1875.04, 0.001),
                                     epoch(2, 0.0000004, 1, std::nan(""), std::nan(""), 0.5, 2e6, 5e-4)};
  EXPECT_EQ(lc::metrics_csv(h),
            "epoch,loss,accuracy,val_loss,val_accuracy,seconds,images_per_s,lr\n"
            "1,1.500000,0.250000,1.250000,0.500000,12.346,1875.0,0.001\n"
            "2,0.000000,1.000000,nan,nan,0.500,2000000.0,0.0005\n");
}

TEST(CpuMetrics, CsvParsesBackAndRejectsBadText) {
  std::vector<lc::EpochMetrics> h = {epoch(1, 2.25, 0.125, 2.5, 0.0625, 3.5, 100.5, 0.001),
                                     epoch(2, 1.0, 0.5, std::nan(""), 0.75, 4.25, 200.0, 0.0001)};
  auto back = lc::parse_metrics_csv(lc::metrics_csv(h));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].epoch, 1);
  EXPECT_EQ(back[0].loss, 2.25);
  EXPECT_EQ(back[0].val_accuracy, 0.0625);
  EXPECT_EQ(back[1].images_per_s, 200.0);
  EXPECT_TRUE(std::isnan(back[1].val_loss));
  EXPECT_EQ(back[1].lr, 0.0001);

  EXPECT_THROW(lc::parse_metrics_csv(""), lc::Error);
  EXPECT_THROW(lc::parse_metrics_csv("epoch,loss\n"), lc::Error);
  try {
    lc::parse_metrics_csv(lc::metrics_csv_header() + "\n1,2,3\n", "m.csv");
    ADD_FAILURE() << "no error";
  } catch (const lc::Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.csv: line 2: 3 fields, expected 8"), std::string::npos) << e.what();
  }
  EXPECT_THROW(lc::parse_metrics_csv(lc::metrics_csv_header() + "\n1,x,0,0,0,0,0,0\n"), lc::Error);
}

TEST(CpuMetrics, MetricsFileIsWrittenAtomically) {
  TempDir dir;
  const std::string path = dir.file("metrics.csv");
  std::vector<lc::EpochMetrics> h = {epoch(1, 1, 0.5, 1, 0.5, 1, 1, 0.001)};
  lc::write_metrics_csv(path, h);
  EXPECT_EQ(lc::test::read_text_file(path), lc::metrics_csv(h));
  h.push_back(epoch(2, 0.5, 0.75, 0.5, 0.75, 1, 1, 0.001));
  lc::set_atomic_write_fault_for_testing(10);
  EXPECT_THROW(lc::write_metrics_csv(path, h), lc::Error);
  lc::set_atomic_write_fault_for_testing(-1);
  EXPECT_EQ(lc::test::read_text_file(path), lc::metrics_csv({h[0]}));  // the old file, whole
  lc::write_metrics_csv(path, h);
  EXPECT_EQ(lc::parse_metrics_csv(lc::test::read_text_file(path)).size(), 2u);
}

TEST(CpuConfusionMatrix, CountsAndRates) {
  lc::ConfusionMatrix cm({"forest", "river", "sea"});
  // truth forest: 3 forest, 1 river; truth river: 2 river, 2 sea; truth sea: none.
  const std::int32_t truth[] = {0, 0, 0, 0, 1, 1, 1, 1};
  const std::int32_t pred[] = {0, 0, 0, 1, 1, 1, 2, 2};
  cm.add(truth, pred, 8);
  EXPECT_EQ(cm.classes(), 3);
  EXPECT_EQ(cm.at(0, 0), 3);
  EXPECT_EQ(cm.at(0, 1), 1);
  EXPECT_EQ(cm.at(1, 2), 2);
  EXPECT_EQ(cm.total(), 8);
  EXPECT_EQ(cm.correct(), 5);
  EXPECT_DOUBLE_EQ(cm.accuracy(), 5.0 / 8.0);
  EXPECT_DOUBLE_EQ(cm.recall(0), 0.75);
  EXPECT_DOUBLE_EQ(cm.recall(1), 0.5);
  EXPECT_TRUE(std::isnan(cm.recall(2)));
  EXPECT_DOUBLE_EQ(cm.precision(1), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(cm.precision(2), 0.0);
  EXPECT_EQ(cm.row_total(1), 4);
  EXPECT_EQ(cm.column_total(2), 2);
  EXPECT_THROW(cm.add(3, 0), lc::Error);
  EXPECT_THROW(cm.add(0, -1), lc::Error);
  cm.clear();
  EXPECT_EQ(cm.total(), 0);
  EXPECT_TRUE(std::isnan(cm.accuracy()));
}

TEST(CpuConfusionMatrix, TextIsAlignedAndNamesClasses) {
  std::vector<std::string> names = {"a", "mediumresidential", "sea", "x", "y", "z", "p", "q", "r", "s", "t"};
  lc::ConfusionMatrix cm(names);
  cm.add(1, 1, 1234);
  cm.add(10, 0, 7);
  cm.add(2, 2, 5);
  std::string text = cm.format();
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  // header, rule, 11 rows, rule, summary
  ASSERT_EQ(lines.size(), 15u) << text;
  for (std::size_t i = 0; i < 14; ++i) EXPECT_EQ(lines[i].size(), lines[0].size()) << "line " << i << ":\n" << text;
  for (std::size_t c = 0; c < names.size(); ++c)
    EXPECT_NE(lines[2 + c].find(names[c]), std::string::npos) << lines[2 + c];
  EXPECT_NE(lines[3].find("1234"), std::string::npos);
  EXPECT_NE(lines[3].find("100.0%"), std::string::npos);
  EXPECT_NE(lines[12].find("0.0%"), std::string::npos);      // class t: all 7 wrong
  EXPECT_NE(lines[2].find("-"), std::string::npos);          // class a: no images, recall "-"
  EXPECT_NE(lines[14].find("(1239 / 1246)"), std::string::npos) << lines[14];
  // The "|" separators line up in every row.
  auto bar = lines[0].find('|');
  for (std::size_t i = 2; i < 13; ++i) EXPECT_EQ(lines[i].find('|'), bar) << lines[i];
}

TEST(CpuConfusionMatrix, CsvWithQuoting) {
  lc::ConfusionMatrix cm({"plain", "with, comma", "say \"hi\""});
  cm.add(0, 0, 2);
  cm.add(1, 2);
  cm.add(2, 0, 10);
  EXPECT_EQ(cm.csv(),
            "truth\\predicted,plain,\"with, comma\",\"say \"\"hi\"\"\"\n"
            "plain,2,0,0\n"
            "\"with, comma\",0,0,1\n"
            "\"say \"\"hi\"\"\",10,0,0\n");
  TempDir dir;
  cm.write_csv(dir.file("confusion.csv"));
  EXPECT_EQ(lc::test::read_text_file(dir.file("confusion.csv")), cm.csv());
}

}  // namespace
