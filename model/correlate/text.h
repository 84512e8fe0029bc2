// Text helpers of `landcover correlate`: delimited tables (RFC 4180 quoting), CSV field quoting,
// times (ISO 8601 or YYYYMMDDhhmmss) as seconds since 1970-01-01 UTC, and numbers.
// Depends on: kernels/common/check.h.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace lc::co2 {

// Splits text into rows of fields separated by `delim`: fields may be quoted ("a,b", "" for a
// quote inside), lines end in LF or CRLF, a quoted field may span lines, empty lines are skipped.
// Throws lc::Error "<origin>: unterminated quoted field starting on line N".
std::vector<std::vector<std::string>> parse_delimited(const std::string& text, char delim,
                                                      const std::string& origin);

// `s` as one CSV field: quoted (quotes doubled) when it holds a comma, quote, CR or LF.
std::string csv_field(const std::string& s);

// Seconds since 1970-01-01 00:00:00 UTC of "YYYY-MM-DD", "YYYY-MM-DDThh:mm[:ss[.fff]]" (or a space
// for T) with an optional "Z" or "+hh:mm"/"-hh:mm", "YYYYMMDD" or "YYYYMMDDhhmmss";
// nullopt for anything else, including impossible dates (2015-02-30).
std::optional<double> parse_time(const std::string& s);
// Seconds since 1970 UTC of a civil date and time (no checks).
double civil_seconds(int year, int month, int day, int hour = 0, int minute = 0, double second = 0);
std::string format_date(double t);      // "YYYY-MM-DD" (UTC)
std::string format_datetime(double t);  // "YYYY-MM-DDThh:mm:ssZ" (UTC)

// The whole string as a finite double (surrounding spaces allowed); nullopt otherwise.
std::optional<double> parse_number(const std::string& s);
// Shortest text that reads back as the same double ("" for NaN).
std::string fmt(double v);

// Whole file as text; throws lc::Error "<path>: cannot read: <reason>".
std::string read_text(const std::string& path);

}  // namespace lc::co2
