// Terminal progress bar / periodic progress lines (see progress.h).
// Depends on: tools/progress.h, POSIX isatty, ioctl(TIOCGWINSZ).
#include "tools/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace lc::tools {

namespace {

int terminal_width(std::FILE* out) {
  struct winsize ws {};
  if (::ioctl(::fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
  return 80;
}

std::string rate_text(double per_s, const std::string& unit) {
  char buf[64];
  if (per_s >= 100) std::snprintf(buf, sizeof buf, "%.0f %s/s", per_s, unit.c_str());
  else std::snprintf(buf, sizeof buf, "%.1f %s/s", per_s, unit.c_str());
  return buf;
}

}  // namespace

Progress::Progress(std::string label, std::int64_t total, std::string unit, std::FILE* out, Mode mode)
    : label_(std::move(label)), unit_(std::move(unit)), total_(std::max<std::int64_t>(total, 0)), out_(out),
      mode_(mode) {
  if (mode_ == Mode::automatic) mode_ = ::isatty(::fileno(out_)) ? Mode::bar : Mode::lines;
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() {
  if (!finished_) finish(status_);
}

double Progress::elapsed_s() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<long long>(std::llround(seconds));
  char buf[32];
  if (s >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

void Progress::update(std::int64_t done, const std::string& status) {
  if (finished_ || mode_ == Mode::quiet) return;
  done_ = done;
  status_ = status;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  if (mode_ == Mode::bar) {
    if (!drawn_ || since >= 0.1) {
      last_draw_ = now;
      draw_bar(false);
    }
  } else if (since >= line_interval_s_) {
    last_draw_ = now;
    print_line(false);
  }
}

void Progress::finish(const std::string& status) {
  if (finished_) return;
  finished_ = true;
  if (mode_ == Mode::quiet) return;
  status_ = status;
  if (mode_ == Mode::bar) {
    draw_bar(true);
    std::fputc('\n', out_);
  } else {
    print_line(true);
  }
  std::fflush(out_);
}

void Progress::draw_bar(bool final) {
  drawn_ = true;
  const double t = elapsed_s();
  const double rate = t > 0 ? double(done_) / t : 0.0;
  std::string right;
  char buf[96];
  if (total_ > 0) {
    std::snprintf(buf, sizeof buf, " %lld/%lld %3d%%", static_cast<long long>(done_), static_cast<long long>(total_),
                  int(std::min<std::int64_t>(100, done_ * 100 / total_)));
  } else {
    std::snprintf(buf, sizeof buf, " %lld", static_cast<long long>(done_));
  }
  right += buf;
  if (done_ > 0) right += "  " + rate_text(rate, unit_);
  if (final) right += "  " + format_duration(t);
  else if (total_ > 0 && rate > 0) right += "  ETA " + format_duration(double(total_ - done_) / rate);
  if (!status_.empty()) right += "  " + status_;

  const int width = terminal_width(out_);
  std::string line = label_ + " ";
  // The bar takes what the text leaves (at most 40 columns); it goes when fewer than 10 are left.
  const int room = width - 1 - int(line.size() + right.size()) - 2;
  if (total_ > 0 && room >= 10) {
    int bar = std::min(room, 40);
    int fill = int(std::min<std::int64_t>(bar, done_ * bar / total_));
    line += "[" + std::string(std::size_t(fill), '#') + std::string(std::size_t(bar - fill), '.') + "]";
  }
  line += right;
  if (int(line.size()) > width - 1) line.resize(std::size_t(width - 1));
  // Carriage return, the line, then clear whatever a longer previous line left.
  std::fprintf(out_, "\r%s\x1b[K", line.c_str());
  std::fflush(out_);
}

void Progress::print_line(bool final) {
  const double t = elapsed_s();
  const double rate = t > 0 ? double(done_) / t : 0.0;
  std::string line = label_ + ": ";
  char buf[96];
  if (final) {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(done_));
    line += buf;
    if (total_ > 0) line += "/" + std::to_string(total_);
    std::snprintf(buf, sizeof buf, " in %.1f s", t);
    line += buf;
    if (done_ > 0) line += ", " + rate_text(rate, unit_);
  } else {
    if (total_ > 0) {
      std::snprintf(buf, sizeof buf, "%lld/%lld (%d%%)", static_cast<long long>(done_),
                    static_cast<long long>(total_), int(std::min<std::int64_t>(100, done_ * 100 / total_)));
    } else {
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(done_));
    }
    line += buf;
    if (done_ > 0) line += ", " + rate_text(rate, unit_);
    if (total_ > 0 && rate > 0) line += ", ETA " + format_duration(double(total_ - done_) / rate);
  }
  if (!status_.empty()) line += ", " + status_;
  std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
}

}  // namespace lc::tools
