// Progress reporting for long CLI phases (an epoch of training, decoding a data set, evaluation).
// On a terminal (isatty on the stream): one self-redrawing line with a bar, count, percentage,
// items per second, ETA and a status text, redrawn at most 10 times a second, ending with a
// newline at finish(). Otherwise (a log file, a pipe, CI): plain lines, one every
// `line_interval_s` seconds (default 10) plus a final one, nothing redrawn:
//   epoch 3/30: 12800/21600 (59%), 1790 img/s, ETA 0:05, loss 0.5312 acc 0.8120
//   epoch 3/30: 21600/21600 in 12.1 s, 1785 img/s, loss 0.5120 acc 0.8203
// Rates and the ETA use the average since the Progress was created.
// Depends on: the C and C++ standard libraries, POSIX isatty / ioctl(TIOCGWINSZ).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace lc::tools {

class Progress {
 public:
  enum class Mode {
    automatic,  // bar when `out` is a terminal, lines otherwise
    bar,
    lines,
    quiet,      // prints nothing
  };

  // `label` starts every line ("epoch 3/30"); `total` is the number of items expected (0 when
  // unknown: no bar, no ETA); `unit` names the items in the rate ("img" -> "1790 img/s").
  Progress(std::string label, std::int64_t total, std::string unit = "img", std::FILE* out = stderr,
           Mode mode = Mode::automatic);
  ~Progress();  // finish() if it was not called
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // `done` items so far (monotonic); `status` is appended ("loss 0.5312 acc 0.8120"). Cheap when
  // nothing is due to be printed: call it every step.
  void update(std::int64_t done, const std::string& status = "");
  // Prints the final state (bar: redrawn and ended with '\n'; lines: the summary line).
  void finish(const std::string& status = "");

  Mode mode() const { return mode_; }
  void set_line_interval(double seconds) { line_interval_s_ = seconds; }
  // For work whose size is known only once it has started (the clock started at construction).
  void set_total(std::int64_t total) { total_ = total; }
  double elapsed_s() const;

  // "0:05", "12:34", "1:02:03" (exposed for the callers' own summaries).
  static std::string format_duration(double seconds);

 private:
  void draw_bar(bool final);
  void print_line(bool final);

  std::string label_, unit_, status_;
  std::int64_t total_ = 0, done_ = 0;
  std::FILE* out_;
  Mode mode_;
  double line_interval_s_ = 10.0;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool drawn_ = false;
};

}  // namespace lc::tools
