#include "tools/bench/kernel_timeline.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "eval/report/font.h"
#include "sparse_transformer/core/png.h"

namespace st::bench {
namespace {

using attention::cuda::CtaTimes;
using attention::cuda::kTimelineCtas;
using attention::cuda::kTimelinePasses;

const char* const kPassNames[] = {"forward", "dq", "dk/dv", "dk/dv split"};
const report::Rgb kPassColors[] = {
    {66, 114, 196}, {237, 125, 49}, {84, 160, 80}, {150, 90, 170}};

// Microseconds of t after t0.
double Us(uint64_t t, uint64_t t0) {
  return (static_cast<double>(t) - t0) / 1e3;
}
// A CTA's end (its loop's end where it recorded no end).
uint64_t EndNs(const CtaTimes& c) { return c.end_ns ? c.end_ns : c.loop_ns; }
// When step 0's rows arrived (its start where not recorded: dk/dv).
uint64_t FirstNs(const CtaTimes& c) {
  return c.first_ns ? c.first_ns : c.start_ns;
}

absl::Status WriteCsv(const std::vector<CtaTimes>& ctas, uint64_t t0,
                      const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return absl::UnavailableError("cannot write " + path);
  std::fprintf(f, "pass,cta,sm,steps,start_us,first_us,loop_us,end_us\n");
  for (const CtaTimes& c : ctas) {
    std::fprintf(f, "%s,%d,%d,%d,%.3f,%.3f,%.3f,%.3f\n", kPassNames[c.pass],
                 c.cta, c.sm, c.steps, Us(c.start_ns, t0), Us(FirstNs(c), t0),
                 Us(c.loop_ns, t0), Us(EndNs(c), t0));
  }
  if (std::fclose(f) != 0)
    return absl::UnavailableError("cannot write " + path);
  return absl::OkStatus();
}

std::string Summary(const std::vector<CtaTimes>& ctas, uint64_t t0) {
  std::string out;
  for (int pass = 0; pass < kTimelinePasses; ++pass) {
    int count = 0;
    int64_t steps = 0;
    double first = 1e30, last = 0, pre = 0, loop = 0, post = 0;
    for (const CtaTimes& c : ctas) {
      if (c.pass != pass) continue;
      ++count;
      steps += c.steps;
      first = std::min(first, Us(c.start_ns, t0));
      last = std::max(last, Us(EndNs(c), t0));
      pre += Us(FirstNs(c), c.start_ns);
      loop += Us(c.loop_ns, FirstNs(c));
      post += Us(EndNs(c), c.loop_ns);
    }
    if (count == 0) continue;
    absl::StrAppendFormat(
        &out,
        "  %-11s %6d CTAs  %7.1f .. %7.1f us  per CTA: %5.2f us to step 0's "
        "rows, %6.2f loop, %4.2f stores; %.3f us a step\n",
        kPassNames[pass], count, first, last, pre / count, loop / count,
        post / count, steps > 0 ? loop / static_cast<double>(steps) : 0.0);
    if (count == kTimelineCtas) {
      absl::StrAppendFormat(&out,
                            "  (%s: only the first %d CTAs are recorded)\n",
                            kPassNames[pass], kTimelineCtas);
    }
  }
  return out;
}

// One band per SM (lanes for CTAs resident together), time across; a CTA's
// wait for step 0's rows light, its stores dark.
Image Picture(const std::vector<CtaTimes>& ctas, uint64_t t0, double total,
              const std::string& title) {
  constexpr int kLanes = 3, kLaneH = 2, kBand = kLanes * kLaneH + 1;
  constexpr int kLeft = 40, kTop = 34, kPlotW = 1400;
  int sms = 0;
  for (const CtaTimes& c : ctas) sms = std::max(sms, c.sm + 1);
  Image img;
  img.width = kLeft + kPlotW + 20;
  img.height = kTop + sms * kBand + 24;
  img.channels = 3;
  img.pixels.assign(static_cast<size_t>(img.width) * img.height * 3, 255);
  auto x_of = [&](double us) {
    return kLeft + static_cast<int>(us / total * (kPlotW - 1));
  };
  auto fill = [&](int x0, int x1, int y0, int y1, report::Rgb c) {
    for (int y = y0; y < y1; ++y)
      for (int x = x0; x <= x1; ++x) report::SetPixel(&img, x, y, c);
  };
  auto shade = [](report::Rgb c, double k) {  // k > 1 lighter, < 1 darker
    auto ch = [&](uint8_t v) {
      return static_cast<uint8_t>(k >= 1 ? 255 - (255 - v) / k : v * k);
    };
    return report::Rgb{ch(c.r), ch(c.g), ch(c.b)};
  };
  std::vector<const CtaTimes*> order;
  for (const CtaTimes& c : ctas) order.push_back(&c);
  std::sort(order.begin(), order.end(),
            [](const CtaTimes* a, const CtaTimes* b) {
              return a->start_ns < b->start_ns;
            });
  std::vector<std::array<uint64_t, kLanes>> lane_free(sms);
  for (auto& l : lane_free) l.fill(0);
  for (const CtaTimes* c : order) {
    int lane = 0;
    while (lane + 1 < kLanes && lane_free[c->sm][lane] > c->start_ns) ++lane;
    lane_free[c->sm][lane] = EndNs(*c);
    const int y0 = kTop + c->sm * kBand + lane * kLaneH, y1 = y0 + kLaneH;
    const report::Rgb col = kPassColors[c->pass];
    const int xs = x_of(Us(c->start_ns, t0)), xf = x_of(Us(FirstNs(*c), t0));
    const int xl = x_of(Us(c->loop_ns, t0)), xe = x_of(Us(EndNs(*c), t0));
    fill(xs, xf, y0, y1, shade(col, 2.5));
    fill(xf, xl, y0, y1, col);
    fill(xl, xe, y0, y1, shade(col, 0.55));
  }
  // Time axis: ticks at a round step (1, 2 or 5 x 10^k), labelled in us.
  double step = std::pow(10.0, std::floor(std::log10(total / 10)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (total / (m * step) <= 12) {
      step *= m;
      break;
    }
  }
  const int axis_y = kTop + sms * kBand + 2;
  for (double t = 0; t <= total; t += step) {
    const int x = x_of(t);
    fill(x, x, axis_y, axis_y + 4, {0, 0, 0});
    const std::string label = absl::StrFormat("%g", t);
    report::DrawText(&img, x - report::TextWidth(label) / 2, axis_y + 7, label,
                     {0, 0, 0});
  }
  report::DrawText(&img, kLeft + kPlotW - report::TextWidth("us") - 2,
                   axis_y + 7 + 9, "us", {0, 0, 0});
  report::DrawText(&img, 2, kTop, "SM", {0, 0, 0});
  report::DrawText(
      &img, kLeft, 4,
      absl::StrFormat("%s: one forward+backward, %.1f us; rows: SMs", title,
                      total),
      {0, 0, 0});
  int lx = kLeft;
  for (int pass = 0; pass < kTimelinePasses; ++pass) {
    fill(lx, lx + 10, 18, 25, kPassColors[pass]);
    report::DrawText(&img, lx + 14, 18, kPassNames[pass], {0, 0, 0});
    lx += 24 + report::TextWidth(kPassNames[pass]);
  }
  report::DrawText(&img, lx + 8, 18,
                   "light: waiting for step 0's rows; dark: stores", {0, 0, 0});
  return img;
}

}  // namespace

std::string FileTag(absl::string_view label) {
  std::string tag;
  for (char ch : label) {
    if (std::isalnum(static_cast<unsigned char>(ch))) {
      tag += ch;
    } else if (!tag.empty() && tag.back() != '_') {
      tag += '_';
    }
  }
  while (!tag.empty() && tag.back() == '_') tag.pop_back();
  return tag;
}

absl::StatusOr<std::string> WriteKernelTimeline(
    const std::vector<CtaTimes>& ctas, const std::string& base,
    const std::string& title) {
  if (ctas.empty()) {
    return absl::InvalidArgumentError("kernel timeline " + base +
                                      ": no CTA recorded");
  }
  uint64_t t0 = ctas[0].start_ns, t1 = 0;
  for (const CtaTimes& c : ctas) {
    if (c.pass < 0 || c.pass >= kTimelinePasses || c.sm < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("kernel timeline ", base, ": bad record (pass ", c.pass,
                       ", sm ", c.sm, ")"));
    }
    t0 = std::min(t0, c.start_ns);
    t1 = std::max(t1, EndNs(c));
  }
  const double total = std::max(Us(t1, t0), 1e-3);
  absl::Status s = WriteCsv(ctas, t0, base + ".csv");
  if (!s.ok()) return s;
  s = WritePng(base + ".png", Picture(ctas, t0, total, title));
  if (!s.ok()) return s;
  return absl::StrFormat("timeline %s: %.1f us from the first CTA's start\n",
                         title, total) +
         Summary(ctas, t0);
}

}  // namespace st::bench
