// The communicator of a process not started by a launcher (one rank) and the gradient all-reduce
// node of the training step (NetworkOptions::grad_allreduce, runtime/graph.h): it sees the
// finished gradients of the step, before Adam, once per step, and what it leaves there is what
// Adam applies.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "model/model_spec.h"
#include "runtime/comm.h"
#include "runtime/graph.h"

namespace lc::test {
namespace {

const char* kModel = R"({"name": "t", "input": [8, 8, 3], "layers": [
  {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "elu"},
  {"type": "maxpool"},
  {"type": "flatten"},
  {"type": "dense", "units": "classes"}]})";

TEST(CpuComm, OneRankWorldWithoutALauncher) {
  Communicator& w = world();
  ASSERT_EQ(w.size(), 1) << "lc_tests is not started by mpirun";
  EXPECT_EQ(w.rank(), 0);
  EXPECT_EQ(w.name(), "single");
  EXPECT_EQ(rank_prefix(), "");
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(owns(w, i));
  EXPECT_EQ(sum_over_ranks(w, 7), 7);
  std::vector<float> v{1.5f, -2.f};
  w.allreduce(v.data(), 2, Reduce::mean, nullptr);
  EXPECT_EQ(v, (std::vector<float>{1.5f, -2.f}));
  std::vector<double> d{3.25};
  w.sum_host(d);
  EXPECT_EQ(d[0], 3.25);
  EXPECT_EQ(make_device_communicator(false), nullptr);
}

// One training step of a fresh network (seed 3) on fixed data, with `hook` as grad_allreduce.
std::vector<NamedTensor> step_with(const std::function<void(float*, std::int64_t, stream_t)>& hook, Network** keep = nullptr) {
  static Backend be(BackendKind::cpu);
  NetworkOptions o;
  o.batch = 4;
  o.grad_allreduce = hook;
  auto* net = new Network(parse_model_json(kModel, "t"), 3, be, o);
  net->init_parameters(3);
  float* x = net->input().data<float>();
  for (std::int64_t i = 0; i < net->input().numel(); ++i) x[i] = std::sin(0.37f * float(i));
  std::int32_t* y = net->labels().data<std::int32_t>();
  for (int i = 0; i < 4; ++i) y[i] = i % 3;
  net->train_step();
  std::vector<NamedTensor> p = net->export_tensors(Network::TensorSet::params);
  if (keep) *keep = net; else delete net;
  return p;
}

TEST(CpuComm, GradientHookRunsOncePerStepBeforeAdam) {
  const std::vector<NamedTensor> plain = step_with(nullptr);
  // The identity hook: the same step, bit for bit; called once with the whole gradient buffer.
  int calls = 0;
  float* seen = nullptr;
  std::int64_t seen_n = 0;
  double grad_norm = 0;
  Network* net = nullptr;
  const std::vector<NamedTensor> same = step_with(
      [&](float* g, std::int64_t n, stream_t) {
        ++calls, seen = g, seen_n = n;
        for (std::int64_t i = 0; i < n; ++i) grad_norm += double(g[i]) * g[i];
      },
      &net);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(seen, net->grad_buffer());
  EXPECT_EQ(seen_n, net->param_buffer_floats());
  EXPECT_GT(grad_norm, 0) << "the backward pass has run before the hook";
  delete net;
  ASSERT_EQ(plain.size(), same.size());
  for (std::size_t i = 0; i < plain.size(); ++i) EXPECT_EQ(plain[i].data, same[i].data) << plain[i].name;
  // A hook that zeroes the gradients: Adam (m = v = 0) leaves the initial parameters.
  Backend be(BackendKind::cpu);
  Network init(parse_model_json(kModel, "t"), 3, be, {});
  init.init_parameters(3);
  const std::vector<NamedTensor> before = init.export_tensors(Network::TensorSet::params);
  const std::vector<NamedTensor> zeroed = step_with([](float* g, std::int64_t n, stream_t) {
    for (std::int64_t i = 0; i < n; ++i) g[i] = 0;
  });
  bool moved = false;
  for (std::size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].data, zeroed[i].data) << before[i].name;
    moved = moved || before[i].data != plain[i].data;
  }
  EXPECT_TRUE(moved) << "without the hook the step changes the parameters";
}

}  // namespace
}  // namespace lc::test
