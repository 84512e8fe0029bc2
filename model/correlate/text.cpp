// Text helpers of `landcover correlate` (see text.h).
// Depends on: model/correlate/text.h, kernels/common/check.h.
#include "model/correlate/text.h"

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "kernels/common/check.h"

namespace lc::co2 {

std::vector<std::vector<std::string>> parse_delimited(const std::string& text, char delim,
                                                      const std::string& origin) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, field_started = false;
  int line = 1, quote_line = 0;
  auto end_field = [&] {
    row.push_back(std::move(field));
    field.clear();
    field_started = false;
  };
  auto end_row = [&] {
    if (field_started || !field.empty() || !row.empty()) end_field();
    const bool blank = row.size() == 1 && row[0].empty();
    if (!row.empty() && !blank) rows.push_back(std::move(row));
    row.clear();
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        if (c == '\n') ++line;
        field += c;
      }
    } else if (c == '"' && field.empty()) {
      quoted = field_started = true;
      quote_line = line;
    } else if (c == delim) {
      end_field();
      field_started = true;  // a delimiter means one more field follows, even an empty one
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      end_row();
      ++line;
    } else {
      field += c;
    }
  }
  if (quoted) LC_FAIL(origin, ": unterminated quoted field starting on line ", quote_line);
  end_row();
  return rows;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

double civil_seconds(int year, int month, int day, int hour, int minute, double second) {
  using namespace std::chrono;
  const sys_days d{std::chrono::year{year} / std::chrono::month{static_cast<unsigned>(month)} /
                   std::chrono::day{static_cast<unsigned>(day)}};
  return static_cast<double>(d.time_since_epoch().count()) * 86400.0 + hour * 3600.0 + minute * 60.0 + second;
}

namespace {

bool valid_civil(int y, int mo, int d, int h, int mi, double s) {
  const std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{static_cast<unsigned>(mo)},
                                        std::chrono::day{static_cast<unsigned>(d)}};
  return mo >= 1 && mo <= 12 && d >= 1 && ymd.ok() && h >= 0 && h < 24 && mi >= 0 && mi < 60 && s >= 0 && s < 61;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// "YYYYMMDD" or "YYYYMMDDhhmmss".
std::optional<double> parse_compact(const std::string& s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (s.size() == 8 && std::sscanf(s.c_str(), "%4d%2d%2d", &y, &mo, &d) == 3) {
  } else if (s.size() == 14 && std::sscanf(s.c_str(), "%4d%2d%2d%2d%2d%2d", &y, &mo, &d, &h, &mi, &sec) == 6) {
  } else {
    return std::nullopt;
  }
  if (!valid_civil(y, mo, d, h, mi, sec)) return std::nullopt;
  return civil_seconds(y, mo, d, h, mi, sec);
}

// Zone suffix: "", "Z", "+hh:mm", "-hh:mm", "+hhmm", "+hh"; seconds east of UTC or nullopt.
std::optional<double> parse_offset(const std::string& z) {
  if (z.empty() || z == "Z") return 0.0;
  if (z[0] != '+' && z[0] != '-') return std::nullopt;
  std::string digits;
  for (std::size_t i = 1; i < z.size(); ++i)
    if (z[i] != ':') digits += z[i];
  if (!all_digits(digits) || (digits.size() != 2 && digits.size() != 4)) return std::nullopt;
  const int h = std::stoi(digits.substr(0, 2)), m = digits.size() == 4 ? std::stoi(digits.substr(2)) : 0;
  if (h > 23 || m > 59) return std::nullopt;
  return (z[0] == '-' ? -1.0 : 1.0) * (h * 3600.0 + m * 60.0);
}

}  // namespace

std::optional<double> parse_time(const std::string& raw) {
  std::string s = raw;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(s.begin());
  if (all_digits(s)) return parse_compact(s);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, n = 0;
  double sec = 0;
  if (s.size() < 10 || std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10) return std::nullopt;
  std::string rest = s.substr(10);
  if (!rest.empty()) {
    if (rest[0] != 'T' && rest[0] != ' ') return std::nullopt;
    int used = 0;
    if (std::sscanf(rest.c_str() + 1, "%2d:%2d%n", &h, &mi, &used) != 2 || used != 5) return std::nullopt;
    rest = rest.substr(1 + used);
    if (!rest.empty() && rest[0] == ':') {
      std::size_t k = 1;
      while (k < rest.size() && (std::isdigit(static_cast<unsigned char>(rest[k])) || rest[k] == '.')) ++k;
      const auto v = parse_number(rest.substr(1, k - 1));
      if (!v || k < 3) return std::nullopt;
      sec = *v;
      rest = rest.substr(k);
    }
  }
  const auto offset = parse_offset(rest);
  if (!offset || !valid_civil(y, mo, d, h, mi, sec)) return std::nullopt;
  return civil_seconds(y, mo, d, h, mi, sec) - *offset;
}

std::string format_date(double t) {
  using namespace std::chrono;
  const auto days = static_cast<int>(std::floor(t / 86400.0));
  const year_month_day ymd{sys_days{std::chrono::days{days}}};
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()));
  return buf;
}

std::string format_datetime(double t) {
  const double day_start = std::floor(t / 86400.0) * 86400.0;
  const auto secs = static_cast<int>(std::lround(t - day_start));
  char buf[48];
  std::snprintf(buf, sizeof buf, "T%02d:%02d:%02dZ", secs / 3600, secs / 60 % 60, secs % 60);
  return format_date(day_start) + buf;
}

std::optional<double> parse_number(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  if (b < e && s[b] == '+') ++b;
  double v = 0;
  const auto [p, ec] = std::from_chars(s.data() + b, s.data() + e, v);
  if (b == e || ec != std::errc() || p != s.data() + e || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::string fmt(double v) {
  if (std::isnan(v)) return "";
  char buf[32];
  const auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return ec == std::errc() ? std::string(buf, p) : std::string();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) LC_FAIL(path, ": cannot read: ", std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) LC_FAIL(path, ": cannot read: read error");
  return ss.str();
}

}  // namespace lc::co2
