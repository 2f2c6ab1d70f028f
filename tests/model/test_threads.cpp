// Several Predictors sharing one model in different std::threads (issue 7): the model is read-only
// after loading, so concurrent set_image + predict on it must neither race nor change a bit of the
// results. Each task is first run alone (the reference), then all tasks run at once, each in its
// own thread with its own Predictor, several rounds. .ci/sanitize.sh builds this file alone with
// TSan (and runs it with the whole suite under ASan/UBSan).
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <evsam/efficientvit/config_json.hpp>
#include <evsam/evsam.hpp>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_threads {

namespace {

const std::string kDir = std::string(EVSAM_TEST_DATA) + "/tiny/tiny_l/";

struct Task {
    std::string image;
    evsam::Prompt<float> prompt;
    bool multimask;
};

struct Result {
    evsam::Tensor<float> masks, iou, low_res;
    std::string error;  // a thread reports failures here (gtest assertions are not for worker threads)
};

std::vector<Task> make_tasks() {
    std::vector<Task> tasks;
    auto add = [&](const std::string& image, std::vector<std::array<double, 2>> points, std::vector<int> labels,
                   std::optional<std::array<double, 4>> box, bool multimask) {
        Task t{image, {}, multimask};
        t.prompt.points = std::move(points);
        t.prompt.labels = std::move(labels);
        t.prompt.box = box;
        tasks.push_back(std::move(t));
    };
    add("image_landscape.png", {{20.0, 15.0}}, {1}, std::nullopt, true);
    add("image_portrait.png", {{19.0, 28.75}, {5.0, 50.0}}, {1, 0}, std::nullopt, false);
    add("image_landscape.png", {}, {}, std::array<double, 4>{3.0, 4.0, 40.0, 30.0}, true);
    add("image_portrait.png", {{30.0, 10.0}}, {1}, std::array<double, 4>{0.0, 0.0, 44.0, 60.0}, false);
    return tasks;
}

Result run_task(const evsam::EfficientViTSam<float>& model, const Task& t, const evsam::Image& img) {
    Result r;
    try {
        evsam::Predictor<float> p(model);
        p.set_image(img);
        auto pred = p.predict(t.prompt, t.multimask, /*return_logits=*/true);
        r.masks = std::move(pred.masks);
        r.iou = std::move(pred.iou_predictions);
        r.low_res = std::move(pred.low_res_logits);
    } catch (const std::exception& e) {
        r.error = e.what();
    }
    return r;
}

bool same_bits(const evsam::Tensor<float>& a, const evsam::Tensor<float>& b) {
    return a.shape() == b.shape() &&
           std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(float)) == 0;
}

TEST(Threads, PredictorsOnOneSharedModelMatchASingleThreadedRun) {
    std::ifstream f(kDir + "config.json");
    ASSERT_TRUE(f.good());
    auto loaded =
        std::make_unique<evsam::EfficientViTSam<float>>(evsam::sam_config_from_json(nlohmann::json::parse(f)));
    evsam::load_state_dict(*loaded, evsam::Checkpoint::open(kDir + "model.pt"), "tiny_l");
    const evsam::EfficientViTSam<float>& model = *loaded;  // shared, read-only from here on
    const std::vector<Task> tasks = make_tasks();
    std::vector<evsam::Image> images;
    for (const Task& t : tasks) images.push_back(evsam::load_image(kDir + "predictor/" + t.image));

    std::vector<Result> reference;
    for (size_t i = 0; i < tasks.size(); ++i) {
        reference.push_back(run_task(model, tasks[i], images[i]));
        ASSERT_EQ(reference.back().error, "") << "task " << i;
        ASSERT_GT(reference.back().masks.numel(), 0);
    }

    constexpr int kRounds = 2;
    constexpr size_t kPerTask = 2;  // two threads on each task: same inputs at the same time too
    for (int round = 0; round < kRounds; ++round) {
        std::vector<Result> results(tasks.size() * kPerTask);
        std::vector<std::thread> threads;
        for (size_t k = 0; k < results.size(); ++k)
            threads.emplace_back(
                [&, k] { results[k] = run_task(model, tasks[k % tasks.size()], images[k % tasks.size()]); });
        for (auto& th : threads) th.join();
        for (size_t k = 0; k < results.size(); ++k) {
            SCOPED_TRACE("round " + std::to_string(round) + ", thread " + std::to_string(k));
            const Result& r = results[k];
            const Result& ref = reference[k % tasks.size()];
            ASSERT_EQ(r.error, "");
            EXPECT_TRUE(same_bits(r.masks, ref.masks)) << "mask logits differ from the single-threaded run";
            EXPECT_TRUE(same_bits(r.iou, ref.iou)) << "IoU predictions differ from the single-threaded run";
            EXPECT_TRUE(same_bits(r.low_res, ref.low_res)) << "low-res logits differ from the single-threaded run";
        }
    }
}

}  // namespace

}  // namespace test_threads
