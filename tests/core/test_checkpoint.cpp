// Checkpoint reader tests, driven by tests/data/ckpt/MANIFEST.json (written by
// validation/make_fixtures.py ckpt with upstream's own torch.save) and by the
// upstream state_dict schemas in tests/data/schema/<variant>.json.
#include <gtest/gtest.h>

#include <evsam/evsam.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

// Named after the file: the suite is a unity build (tests/CMakeLists.txt).
namespace test_checkpoint {

namespace {

using nlohmann::json;

const std::string kData = EVSAM_TEST_DATA;

json read_json(const std::string& path) {
    std::ifstream f(path);
    EXPECT_TRUE(f.good()) << "missing fixture " << path;
    return json::parse(f);
}

const json& manifest() {
    static const json m = read_json(kData + "/ckpt/MANIFEST.json");
    return m;
}

std::vector<std::string> files_of_kind(const std::string& kind) {
    std::vector<std::string> out;
    for (auto& [name, info] : manifest()["files"].items())
        if (info["kind"] == kind) out.push_back(name);
    return out;
}

bool mentions(const std::string& msg, const json& info) {
    if (info.contains("error_mentions"))
        for (auto& s : info["error_mentions"])
            if (msg.find(s.get<std::string>()) == std::string::npos) return false;
    if (info.contains("error_mentions_any")) {
        bool any = false;
        for (auto& s : info["error_mentions_any"]) any |= msg.find(s.get<std::string>()) != std::string::npos;
        if (!any) return false;
    }
    return true;
}

// Every tensor of every "tensors" fixture reads back exactly the values torch.load gives.
TEST(Checkpoint, TensorFixturesMatchTorchLoad) {
    auto files = files_of_kind("tensors");
    ASSERT_GE(files.size(), 10u);
    for (auto& file : files) {
        SCOPED_TRACE(file);
        const json& info = manifest()["files"][file];
        auto ck = evsam::Checkpoint::open(kData + "/ckpt/" + file);
        json expected = read_json(kData + "/ckpt/" + info["expected"].get<std::string>());
        EXPECT_EQ(ck.tensors().size(), expected.size());
        EXPECT_EQ(ck.wrapped(), info.value("wrapped", false));
        for (auto& [name, e] : expected.items()) {
            SCOPED_TRACE(name);
            const evsam::CheckpointTensor* t = ck.find(name);
            ASSERT_NE(t, nullptr);
            evsam::Shape shape = e["shape"].get<evsam::Shape>();
            EXPECT_EQ(t->desc.shape, shape);
            EXPECT_EQ(std::string(evsam::dtype_name(t->desc.dtype)), e["dtype"].get<std::string>());
            auto d = evsam::Checkpoint::to_tensor<double>(*t);
            auto f = evsam::Checkpoint::to_tensor<float>(*t);
            const auto& vals = e["values"];
            ASSERT_EQ(static_cast<size_t>(d.numel()), vals.size());
            for (size_t i = 0; i < vals.size(); ++i) {
                // fp16/bf16/fp32 upcast to double is exact; fp64 fixtures are compared as stored.
                ASSERT_EQ(d[static_cast<int64_t>(i)], vals[i].get<double>()) << "element " << i;
                ASSERT_EQ(f[static_cast<int64_t>(i)], static_cast<float>(vals[i].get<double>())) << "element " << i;
            }
        }
    }
}

// The C++ module tree declares exactly upstream's state_dict: same keys, order, shapes, kinds, for
// every registered model (EfficientViT-SAM l0..xl1; SAM's vit_b/l/h: 93,735,472 / 312,342,832 /
// 641,090,608 parameters, as upstream's own module tree counts them).
TEST(Checkpoint, SchemaMatchesUpstreamForAllVariants) {
    for (const auto& v : evsam::model_names()) {
        SCOPED_TRACE(v);
        json up = read_json(kData + "/schema/" + v + ".json");
        const evsam::AnySamConfig cfg = evsam::find_model(v).config();
        auto schema = evsam::sam_schema(cfg);
        ASSERT_EQ(schema.size(), up["entries"].size());
        for (size_t i = 0; i < schema.size(); ++i) {
            const json& e = up["entries"][i];
            ASSERT_EQ(schema[i].name, e["name"].get<std::string>()) << "entry " << i;
            EXPECT_EQ(schema[i].shape, e["shape"].get<evsam::Shape>()) << schema[i].name;
            EXPECT_EQ(schema[i].is_int64, e["dtype"] == "int64") << schema[i].name;
            EXPECT_EQ(schema[i].kind == evsam::ParamKind::parameter, e["kind"] == "param") << schema[i].name;
        }
        EXPECT_EQ(evsam::count_parameters(schema), up["params"].get<int64_t>());
        EXPECT_EQ(evsam::config_transform(cfg).resolution, up["resolution"].get<int64_t>());
    }
}

// Skeleton checkpoints (upstream key sets, stride-0 views of one shared storage) of all
// five variants, fp32/fp16/bf16 and wrapped: the variant is detected and every value loads.
template <class T>
void check_skeleton(const std::string& file, const json& info) {
    auto ck = evsam::Checkpoint::open(kData + "/ckpt/" + file);
    const std::string variant = info["variant"];
    EXPECT_EQ(evsam::detect_model(ck), variant);
    EXPECT_EQ(ck.float_dtype(), info["float_dtype"].get<std::string>());
    EXPECT_EQ(ck.wrapped(), info["wrapped"].get<bool>());
    evsam::EfficientViTSam<T> m(evsam::sam_config(variant));
    evsam::load_state_dict(m, ck, variant, /*fold_batchnorm=*/false);  // verbatim values
    // value_rule: floating entry j holds (j % K + 1) / 1024 everywhere; int64 entry at index i holds i.
    const int64_t K = info["storage_numel"];
    struct V : evsam::ParamVisitor<T> {
        int64_t K, j = 0, i = 0, checked = 0;
        void tensor(const std::string& n, evsam::Tensor<T>& t, const evsam::Shape& s, evsam::ParamKind) override {
            const T want = static_cast<T>(static_cast<double>(j % K + 1) / 1024.0);
            ASSERT_EQ(t.shape(), s) << n;
            int64_t bad = 0;
            for (int64_t k = 0; k < t.numel(); ++k) bad += t[k] != want;
            EXPECT_EQ(bad, 0) << n << ": elements differing from " << want;
            ++j, ++i, ++checked;
        }
        void index(const std::string& n, int64_t& v) override {
            EXPECT_EQ(v, i) << n;
            ++i, ++checked;
        }
    } v;
    v.K = K;
    m.visit(v, "");
    EXPECT_EQ(v.checked, info["num_entries"].get<int64_t>());
}

TEST(Checkpoint, SkeletonsOfAllVariantsLoadInFloatAndDouble) {
    auto files = files_of_kind("skeleton");
    ASSERT_GE(files.size(), 13u);
    for (auto& file : files) {
        SCOPED_TRACE(file);
        check_skeleton<float>(file, manifest()["files"][file]);
        check_skeleton<double>(file, manifest()["files"][file]);
    }
}

// Broken, malicious and legacy files fail when opened, with a message naming the problem.
TEST(Checkpoint, BrokenAndMaliciousFilesAreRefused) {
    int n = 0;
    for (auto& [file, info] : manifest()["files"].items()) {
        if (info["expect"] != "error" || info["stage"] != "file") continue;
        SCOPED_TRACE(file);
        ++n;
        try {
            evsam::Checkpoint::open(kData + "/ckpt/" + file);
            ADD_FAILURE() << "opened without error";
        } catch (const evsam::Error& e) {
            EXPECT_TRUE(mentions(e.what(), info)) << e.what();
            EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
        }
    }
    EXPECT_GE(n, 8);
}

// Files that parse but do not match the model: loading names the offending key.
TEST(Checkpoint, ModelMismatchesNameTheKey) {
    int n = 0;
    for (auto& [file, info] : manifest()["files"].items()) {
        if (info["expect"] != "error" || info["stage"] != "model") continue;
        SCOPED_TRACE(file);
        ++n;
        std::string msg;
        try {
            auto ck = evsam::Checkpoint::open(kData + "/ckpt/" + file);
            evsam::EfficientViTSam<float> m(evsam::sam_config(info.value("variant", std::string("l0"))));
            evsam::load_state_dict(m, ck, "l0");
        } catch (const evsam::Error& e) {
            msg = e.what();
        }
        ASSERT_FALSE(msg.empty()) << "loaded without error";
        EXPECT_TRUE(mentions(msg, info)) << msg;
        if (info.contains("variant")) {  // and detection refuses it too, naming the key
            auto ck = evsam::Checkpoint::open(kData + "/ckpt/" + file);
            try {
                evsam::detect_model(ck);
                ADD_FAILURE() << "variant detected for a broken checkpoint";
            } catch (const evsam::Error& e) {
                EXPECT_TRUE(mentions(e.what(), info)) << e.what();
            }
        }
    }
    EXPECT_GE(n, 5);
}

// Every truncation of a valid archive is refused cleanly (never a crash or an OOB read).
TEST(Checkpoint, EveryTruncationIsAnError) {
    std::ifstream f(kData + "/ckpt/tiny_shared.pt", std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    ASSERT_GT(bytes.size(), 100u);
    for (size_t n = 0; n < bytes.size(); n += 7) {
        std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
        EXPECT_THROW(evsam::Checkpoint::from_memory(cut, "cut"), evsam::Error) << "length " << n;
    }
}

TEST(Half, ConversionsRoundTripAndMatchIeee) {
    EXPECT_EQ(evsam::fp16_to_float(0x3C00), 1.0f);
    EXPECT_EQ(evsam::fp16_to_float(0xC000), -2.0f);
    EXPECT_EQ(evsam::fp16_to_float(0x0001), 5.960464477539063e-08f);  // smallest subnormal
    EXPECT_EQ(evsam::fp16_to_float(0x7BFF), 65504.0f);
    EXPECT_TRUE(std::isinf(evsam::fp16_to_float(0x7C00)));
    EXPECT_EQ(evsam::bf16_to_float(0x3F80), 1.0f);
    for (uint32_t h = 0; h < 0x10000; ++h) {
        const bool nan16 = (h & 0x7C00) == 0x7C00 && (h & 0x3FF), nanbf = (h & 0x7F80) == 0x7F80 && (h & 0x7F);
        if (!nan16) {
            ASSERT_EQ(evsam::float_to_fp16(evsam::fp16_to_float(static_cast<uint16_t>(h))), h) << h;
        }
        if (!nanbf) {
            ASSERT_EQ(evsam::float_to_bf16(evsam::bf16_to_float(static_cast<uint16_t>(h))), h) << h;
        }
    }
}

}  // namespace

}  // namespace test_checkpoint
