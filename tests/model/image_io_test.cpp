// Tests of model/image_io: PNG round trips, grey / grey+alpha / RGBA conversion to RGB, JPEG
// decoding, clear errors for corrupt, truncated, empty and missing files, and the resize filter.
// Depends on: model/image_io.h, stb_image_write (its implementation lives in model/image_io.cpp),
// GoogleTest.
#include <gtest/gtest.h>
#include <stb_image_write.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "kernels/common/check.h"
#include "model/image_io.h"
#include "tests/support/files.h"

namespace {

namespace fs = std::filesystem;

using lc::test::TempDir;

void write_bytes(const std::string& path, const std::vector<unsigned char>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

std::vector<unsigned char> read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<unsigned char>(std::istreambuf_iterator<char>(f), {});
}

// Expects fn() to throw lc::Error whose message contains every part.
template <class Fn>
void expect_error(Fn fn, const std::vector<std::string>& parts) {
  try {
    fn();
    ADD_FAILURE() << "no error thrown; expected one containing '" << parts.front() << "'";
  } catch (const lc::Error& e) {
    std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' not in: " << msg;
  }
}

TEST(CpuImageIo, PngRgbRoundTripIsExact) {
  TempDir dir;
  const int w = 7, h = 5;  // odd sizes: no row padding assumptions
  std::vector<std::uint8_t> px(std::size_t(w) * h * 3);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = std::uint8_t((i * 37 + 11) % 256);
  lc::write_png(dir.file("a.png"), w, h, 3, px.data());
  lc::RgbImage img = lc::decode_image_file(dir.file("a.png"));
  EXPECT_EQ(img.width, w);
  EXPECT_EQ(img.height, h);
  EXPECT_EQ(img.rgb, px);
}

TEST(CpuImageIo, GreyIsReplicatedIntoRgb) {
  TempDir dir;
  const int w = 4, h = 3;
  std::vector<std::uint8_t> grey(std::size_t(w) * h);
  for (std::size_t i = 0; i < grey.size(); ++i) grey[i] = std::uint8_t(20 * i + 3);
  lc::write_png(dir.file("g.png"), w, h, 1, grey.data());
  lc::RgbImage img = lc::decode_image_file(dir.file("g.png"));
  ASSERT_EQ(img.rgb.size(), grey.size() * 3);
  for (std::size_t i = 0; i < grey.size(); ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(img.rgb[3 * i + c], grey[i]) << "pixel " << i << " channel " << c;
}

TEST(CpuImageIo, AlphaIsDropped) {
  TempDir dir;
  const int w = 3, h = 2;
  // RGBA: alpha varies (0 = fully transparent) but the RGB values must come through unchanged.
  std::vector<std::uint8_t> rgba(std::size_t(w) * h * 4);
  for (std::size_t i = 0; i < rgba.size(); ++i) rgba[i] = std::uint8_t(i * 13 + 1);
  lc::write_png(dir.file("rgba.png"), w, h, 4, rgba.data());
  lc::RgbImage img = lc::decode_image_file(dir.file("rgba.png"));
  ASSERT_EQ(img.rgb.size(), std::size_t(w) * h * 3);
  for (int p = 0; p < w * h; ++p)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(img.rgb[3 * p + c], rgba[4 * p + c]);

  // Grey + alpha: grey replicated, alpha dropped.
  std::vector<std::uint8_t> ga(std::size_t(w) * h * 2);
  for (int p = 0; p < w * h; ++p) {
    ga[2 * p] = std::uint8_t(40 * p);
    ga[2 * p + 1] = std::uint8_t(p % 2 ? 0 : 255);
  }
  lc::write_png(dir.file("ga.png"), w, h, 2, ga.data());
  img = lc::decode_image_file(dir.file("ga.png"));
  for (int p = 0; p < w * h; ++p)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(img.rgb[3 * p + c], ga[2 * p]);
}

TEST(CpuImageIo, JpegDecodesCloseToTheSource) {
  TempDir dir;
  const int w = 16, h = 16;
  // Flat colour: JPEG reproduces it up to rounding in the colour transform.
  std::vector<std::uint8_t> px(std::size_t(w) * h * 3);
  for (int p = 0; p < w * h; ++p) {
    px[3 * p] = 200;
    px[3 * p + 1] = 90;
    px[3 * p + 2] = 30;
  }
  ASSERT_TRUE(stbi_write_jpg(dir.file("a.jpg").c_str(), w, h, 3, px.data(), 100));
  lc::RgbImage img = lc::decode_image_file(dir.file("a.jpg"));
  ASSERT_EQ(img.width, w);
  ASSERT_EQ(img.height, h);
  for (std::size_t i = 0; i < px.size(); ++i) EXPECT_NEAR(int(img.rgb[i]), int(px[i]), 3) << "byte " << i;
}

TEST(CpuImageIo, CorruptFileGivesAClearError) {
  TempDir dir;
  std::vector<unsigned char> garbage(1000);
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<unsigned char>((i * 7919) >> 3);
  write_bytes(dir.file("bad.jpg"), garbage);
  expect_error([&] { lc::decode_image_file(dir.file("bad.jpg")); }, {dir.file("bad.jpg"), "cannot decode"});

  // A JPEG header followed by garbage.
  garbage[0] = 0xFF;
  garbage[1] = 0xD8;
  garbage[2] = 0xFF;
  write_bytes(dir.file("bad2.jpg"), garbage);
  expect_error([&] { lc::decode_image_file(dir.file("bad2.jpg")); }, {dir.file("bad2.jpg"), "cannot decode"});

  write_bytes(dir.file("empty.png"), {});
  expect_error([&] { lc::decode_image_file(dir.file("empty.png")); }, {dir.file("empty.png"), "cannot decode"});

  expect_error([&] { lc::decode_image_file(dir.file("missing.png")); }, {dir.file("missing.png"), "cannot read"});
}

TEST(CpuImageIo, TruncatedPngGivesAClearError) {
  TempDir dir;
  const int w = 32, h = 32;
  std::vector<std::uint8_t> px(std::size_t(w) * h * 3);
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = std::uint8_t((i * 2654435761u) >> 24);  // incompressible
  lc::write_png(dir.file("full.png"), w, h, 3, px.data());
  std::vector<unsigned char> bytes = read_bytes(dir.file("full.png"));
  ASSERT_GT(bytes.size(), 100u);
  for (std::size_t keep : {std::size_t(8), std::size_t(40), bytes.size() / 2, bytes.size() - 20}) {
    std::vector<unsigned char> cut(bytes.begin(), bytes.begin() + std::ptrdiff_t(keep));
    write_bytes(dir.file("cut.png"), cut);
    expect_error([&] { lc::decode_image_file(dir.file("cut.png")); }, {dir.file("cut.png"), "cannot decode"});
  }
}

TEST(CpuImageIo, DecodeFromMemoryNamesTheOrigin) {
  const unsigned char junk[] = {1, 2, 3, 4, 5, 6, 7, 8};
  expect_error([&] { lc::decode_image_memory(junk, sizeof junk, "blob#3"); }, {"blob#3", "cannot decode"});
}

TEST(CpuImageIo, ShrinkAveragesBlocks) {
  // 8x6 -> 4x3: every output pixel is the mean of a 2x2 block. Each block holds v, v+2, v+4, v+6
  // (mean v+3, exact), with v depending on the block and channel.
  const int w = 8, h = 6;
  lc::RgbImage in;
  in.width = w;
  in.height = h;
  in.rgb.resize(std::size_t(w) * h * 3);
  auto base = [](int by, int bx, int c) { return 10 * by + 40 * bx + 3 * c; };
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        in.rgb[(std::size_t(y) * w + x) * 3 + c] = std::uint8_t(base(y / 2, x / 2, c) + 2 * (2 * (y % 2) + x % 2));
  lc::RgbImage out = lc::resize_rgb(in, 4, 3);
  ASSERT_EQ(out.width, 4);
  ASSERT_EQ(out.height, 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x)
      for (int c = 0; c < 3; ++c)
        EXPECT_EQ(int(out.rgb[(std::size_t(y) * 4 + x) * 3 + c]), base(y, x, c) + 3) << y << "," << x << "," << c;
}

TEST(CpuImageIo, ResizeKeepsFlatColourAndSameSize) {
  lc::RgbImage in;
  in.width = 3;
  in.height = 5;
  in.rgb.assign(3 * 5 * 3, 0);
  for (int p = 0; p < 15; ++p) {
    in.rgb[3 * p] = 17;
    in.rgb[3 * p + 1] = 130;
    in.rgb[3 * p + 2] = 254;
  }
  for (auto [ow, oh] : {std::pair{64, 64}, std::pair{2, 2}, std::pair{1, 1}, std::pair{7, 3}}) {
    lc::RgbImage out = lc::resize_rgb(in, ow, oh);
    ASSERT_EQ(out.rgb.size(), std::size_t(ow) * oh * 3);
    for (int p = 0; p < ow * oh; ++p) {
      EXPECT_EQ(out.rgb[3 * p], 17);
      EXPECT_EQ(out.rgb[3 * p + 1], 130);
      EXPECT_EQ(out.rgb[3 * p + 2], 254);
    }
  }
  EXPECT_EQ(lc::resize_rgb(in, 3, 5).rgb, in.rgb);
  EXPECT_THROW(lc::resize_rgb(in, 0, 5), lc::Error);
}

}  // namespace
