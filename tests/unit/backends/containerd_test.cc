// The containerd backend's pure parts: image references, tar, gzip, the
// image builder and archives, and the container's process and runtime spec.
// The backend against a real containerd is tests/python/test_containerd.py.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>

#include "libofn/backends/containerd/internal/runtime_spec.h"
#include "libofn/backends/containerd/oci.h"

namespace ofn::containerd {
namespace {

namespace json = boost::json;

TEST(ImageReferenceTest, NormalizesTheWayDockerDoes) {
  struct Case {
    const char* in;
    const char* name;
  } cases[] = {
      {"busybox", "docker.io/library/busybox:latest"},
      {"openfunctiondev/sample-go-func:v1", "docker.io/openfunctiondev/sample-go-func:v1"},
      {"index.docker.io/library/nginx:1.25", "docker.io/library/nginx:1.25"},
      {"127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app:latest"},
      {"localhost/app:dev", "localhost/app:dev"},
      {"ghcr.io/x/y:1", "ghcr.io/x/y:1"},
  };
  for (const Case& c : cases) {
    auto r = ParseImageReference(c.in);
    ASSERT_TRUE(r.ok()) << c.in << ": " << r.status().message();
    EXPECT_EQ(r->Name(), c.name) << c.in;
  }
  auto d = ParseImageReference("ghcr.io/org/app@sha256:" + std::string(64, 'a'));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->registry, "ghcr.io");
  EXPECT_EQ(d->repository, "org/app");
  EXPECT_EQ(d->tag, "");
  EXPECT_EQ(d->digest, "sha256:" + std::string(64, 'a'));
}

TEST(ImageReferenceTest, ErrorsNameThePart) {
  EXPECT_NE(ParseImageReference("Upper/Case").status().message().find("repository"), std::string::npos);
  EXPECT_NE(ParseImageReference("app:bad tag").status().message().find("tag"), std::string::npos);
  EXPECT_NE(ParseImageReference("app@sha256:xyz").status().message().find("digest"), std::string::npos);
  EXPECT_FALSE(ParseImageReference("").ok());
}

TEST(TarTest, RoundTripsFilesLinksDirectoriesAndLongNames) {
  std::vector<TarEntry> in(4);
  in[0].path = "bin/";
  in[0].type = TarEntry::Type::kDirectory;
  in[0].mode = 0755;
  in[1].path = "bin/busybox";
  in[1].mode = 0755;
  in[1].data = std::string(1000, 'x') + "\0tail";
  in[2].path = "bin/sh";
  in[2].type = TarEntry::Type::kSymlink;
  in[2].link = "busybox";
  in[3].path = "deep/" + std::string(150, 'n') + "/file.txt";  // over ustar's 100 bytes: a pax header
  in[3].data = "long";
  in[3].uid = 1000;
  std::string tar = WriteTar(in);
  EXPECT_EQ(tar.size() % 512, 0u);
  auto out = ReadTar(tar);
  ASSERT_TRUE(out.ok()) << out.status().message();
  ASSERT_EQ(out->size(), 4u);
  EXPECT_EQ((*out)[0].type, TarEntry::Type::kDirectory);
  EXPECT_EQ((*out)[1].data, in[1].data);
  EXPECT_EQ((*out)[1].mode, 0755u);
  EXPECT_EQ((*out)[2].type, TarEntry::Type::kSymlink);
  EXPECT_EQ((*out)[2].link, "busybox");
  EXPECT_EQ((*out)[3].path, in[3].path);
  EXPECT_EQ((*out)[3].uid, 1000u);
  EXPECT_EQ(WriteTar(in), tar) << "the same entries give the same bytes";
}

TEST(TarTest, CorruptArchivesAreErrorsWithTheirOffset) {
  std::vector<TarEntry> in(1);
  in[0].path = "a";
  in[0].data = "hello";
  std::string tar = WriteTar(in);
  std::string bad_sum = tar;
  bad_sum[0] = 'b';
  EXPECT_NE(ReadTar(bad_sum).status().message().find("checksum"), std::string::npos);
  std::string cut = tar.substr(0, 512);  // header says 5 bytes follow; none do
  auto r = ReadTar(cut);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("byte 0"), std::string::npos) << r.status().message();
}

TEST(GzipTest, RoundTripsAndBoundsWhatItExpands) {
  std::string data(200000, 'z');
  auto gz = Gzip(data);
  ASSERT_TRUE(gz.ok());
  EXPECT_LT(gz->size(), data.size() / 10);
  auto back = Gunzip(*gz, 1 << 20);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, data);
  EXPECT_EQ(Gunzip(*gz, 1000).status().code(), StatusCode::kResourceExhausted);
  EXPECT_FALSE(Gunzip("not gzip at all", 1000).ok());
  EXPECT_FALSE(Gunzip(gz->substr(0, gz->size() / 2), 1 << 20).ok());
}

TEST(DigestTest, Sha256AndChainIds) {
  EXPECT_EQ(Sha256Digest(""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_TRUE(ValidDigest(Sha256Digest("x")));
  EXPECT_FALSE(ValidDigest("sha256:ABC"));
  const std::string a = Sha256Digest("a"), b = Sha256Digest("b");
  EXPECT_EQ(ChainId({a}), a);
  EXPECT_EQ(ChainId({a, b}), Sha256Digest(a + " " + b));
}

TEST(BuildImageTest, LayersConfigAndManifestAgree) {
  ImageBuild b;
  b.files.resize(1);
  b.files[0].path = "app/run.sh";
  b.files[0].data = "echo hi";
  b.config.entrypoint = {"/bin/sh", "/app/run.sh"};
  b.config.env = {"A=1"};
  b.config.exposed_ports = {"8080/tcp"};
  auto img = BuildImage(b);
  ASSERT_TRUE(img.ok());
  ASSERT_EQ(img->layers.size(), 1u);
  EXPECT_EQ(img->layers[0].digest, Sha256Digest(img->layers[0].data));
  auto tar = Gunzip(img->layers[0].data, 1 << 20);
  ASSERT_TRUE(tar.ok());
  EXPECT_EQ(img->diff_ids[0], Sha256Digest(*tar));
  auto m = ParseManifest(img->manifest.data);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->config.digest, img->config.digest);
  EXPECT_EQ(m->layers[0].digest, img->layers[0].digest);
  auto cfg = ParseImageConfig(img->config.data);
  ASSERT_TRUE(cfg.ok());
  EXPECT_EQ(cfg->diff_ids, img->diff_ids);
  EXPECT_EQ(cfg->image_config.entrypoint, b.config.entrypoint);
  EXPECT_EQ(cfg->image_config.exposed_ports, std::vector<std::string>{"8080/tcp"});
  EXPECT_EQ(BuildImage(b)->manifest.digest, img->manifest.digest) << "deterministic";

  // On top of it as a base: its layers stay, env merges by name, the
  // command is inherited unless set.
  ImageBuild top;
  top.base = &*img;
  top.files.resize(1);
  top.files[0].path = "extra";
  top.config.env = {"A=2", "B=3"};
  auto img2 = BuildImage(top);
  ASSERT_TRUE(img2.ok());
  ASSERT_EQ(img2->layers.size(), 2u);
  EXPECT_EQ(img2->layers[0].digest, img->layers[0].digest);
  EXPECT_EQ(img2->image_config.env, (std::vector<std::string>{"A=2", "B=3"}));
  EXPECT_EQ(img2->image_config.entrypoint, b.config.entrypoint);
}

TEST(ImageArchiveTest, OciLayoutRoundTripAndCorruptBlobs) {
  ImageBuild b;
  b.files.resize(1);
  b.files[0].path = "f";
  b.files[0].data = "data";
  auto img = BuildImage(b);
  ASSERT_TRUE(img.ok());
  std::string tar = WriteImageArchive(*img, "example.local/app:v1");
  auto a = ReadImageArchive(tar, "");
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_EQ(a->images.size(), 1u);
  EXPECT_EQ(a->images[0].first, "example.local/app:v1");
  EXPECT_EQ(a->images[0].second.digest, img->manifest.digest);
  EXPECT_EQ(a->blobs.size(), 3u);
  EXPECT_EQ(a->blobs.at(img->manifest.digest).media_type, kOciManifest);

  // A blob whose bytes do not match its name.
  auto entries = ReadTar(tar);
  ASSERT_TRUE(entries.ok());
  for (TarEntry& e : *entries) {
    if (e.path == "blobs/sha256/" + img->config.digest.substr(7)) e.data += " ";
  }
  auto bad = ReadImageArchive(WriteTar(*entries), "");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("does not match its digest"), std::string::npos);
  EXPECT_NE(ReadImageArchive(WriteTar({}), "").status().message().find("index.json"), std::string::npos);
}

TEST(ImageArchiveTest, DockerSaveArchivesGetManifests) {
  std::vector<TarEntry> layer(1);
  layer[0].path = "hello";
  layer[0].data = "world";
  const std::string layer_tar = WriteTar(layer);
  const std::string config =
      R"({"architecture":"amd64","os":"linux","config":{"Cmd":["/hello"]},"rootfs":{"type":"layers","diff_ids":[")" +
      Sha256Digest(layer_tar) + R"("]}})";
  std::vector<TarEntry> files(3);
  files[0].path = "manifest.json";
  files[0].data = R"([{"Config":"c.json","RepoTags":["app:v2"],"Layers":["l/layer.tar"]}])";
  files[1].path = "c.json";
  files[1].data = config;
  files[2].path = "l/layer.tar";
  files[2].data = layer_tar;
  auto a = ReadImageArchive(WriteTar(files), "");
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_EQ(a->images.size(), 1u);
  EXPECT_EQ(a->images[0].first, "docker.io/library/app:v2");
  auto m = ParseManifest(a->blobs.at(a->images[0].second.digest).data);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->layers[0].media_type, kDockerLayer);
  EXPECT_EQ(m->layers[0].digest, Sha256Digest(layer_tar));
}

TEST(SelectManifestTest, PicksTheMachinesPlatformOrSaysWhatThereIs) {
  const std::string d1 = Sha256Digest("1"), d2 = Sha256Digest("2");
  const std::string index = R"({"manifests":[{"digest":")" + d1 +
                            R"(","size":1,"platform":{"os":"linux","architecture":"arm64"}},{"digest":")" + d2 +
                            R"(","size":2,"platform":{"os":"linux","architecture":"amd64"}}]})";
  auto m = SelectManifest(index, "linux", "amd64");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->digest, d2);
  auto none = SelectManifest(index, "linux", "s390x");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("linux/arm64, linux/amd64"), std::string::npos);
}

TEST(DirectoryEntriesTest, KeepsSymlinksAsLinksUnderTheDestination) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("ofn-oci-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "bin");
  std::ofstream(dir / "bin" / "tool") << "#!/bin/sh\n";
  fs::create_symlink("tool", dir / "bin" / "alias");
  auto e = DirectoryEntries(dir.string(), "/app");
  fs::remove_all(dir);
  ASSERT_TRUE(e.ok());
  std::vector<std::string> paths;
  for (const TarEntry& t : *e) paths.push_back(t.path + (t.type == TarEntry::Type::kSymlink ? " -> " + t.link : ""));
  EXPECT_EQ(paths, (std::vector<std::string>{"app/", "app/bin", "app/bin/alias -> tool", "app/bin/tool"}));
  EXPECT_FALSE(DirectoryEntries("/no/such/dir", "/").ok());
}

backend::Workload ImageWorkload() {
  backend::Workload w;
  w.ns = "default";
  w.function = "fn";
  w.revision = "fn-00001";
  w.image = "example.local/app:v1";
  w.func_context = R"({"name":"fn"})";
  return w;
}

TEST(ContainerProcessTest, KubernetesCommandAndArgsOverTheImage) {
  ImageConfig image;
  image.entrypoint = {"/entry"};
  image.cmd = {"--default"};
  image.env = {"PATH=/custom", "FROM_IMAGE=1", "OVER=image"};
  image.working_dir = "/srv";
  backend::Workload w = ImageWorkload();
  w.env = {{"OVER", "spec"}};
  auto p = internal::MakeProcess(w, image, 4321);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->args, (std::vector<std::string>{"/entry", "--default"}));
  EXPECT_EQ(p->cwd, "/srv");
  auto has = [&](const std::string& kv) { return std::find(p->env.begin(), p->env.end(), kv) != p->env.end(); };
  EXPECT_TRUE(has("PATH=/custom"));
  EXPECT_TRUE(has("FROM_IMAGE=1"));
  EXPECT_TRUE(has("OVER=spec"));
  EXPECT_TRUE(has("PORT=4321"));
  bool ctx = false;
  for (const std::string& e : p->env) {
    if (e.rfind("FUNC_CONTEXT=", 0) == 0) {
      json::value v = json::parse(e.substr(13));
      EXPECT_EQ(v.at("port").as_string(), "4321");
      EXPECT_EQ(v.at("name").as_string(), "fn");
      ctx = true;
    }
  }
  EXPECT_TRUE(ctx);

  w.args = {"--mine"};  // args replace Cmd, the entrypoint stays
  EXPECT_EQ(internal::MakeProcess(w, image, 1)->args, (std::vector<std::string>{"/entry", "--mine"}));
  w.command = "/bin/other";  // a command replaces both
  w.args = {"x"};
  EXPECT_EQ(internal::MakeProcess(w, image, 1)->args, (std::vector<std::string>{"/bin/other", "x"}));
}

TEST(ContainerProcessTest, UsersPathsAndNothingToRun) {
  ImageConfig image;
  image.cmd = {"/run"};
  backend::Workload w = ImageWorkload();
  auto p = internal::MakeProcess(w, image, 1);
  ASSERT_TRUE(p.ok());
  EXPECT_NE(std::find(p->env.begin(), p->env.end(),
                      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
            p->env.end());
  image.user = "1000:2000";
  p = internal::MakeProcess(w, image, 1);
  EXPECT_EQ(p->uid, 1000u);
  EXPECT_EQ(p->gid, 2000u);
  image.user = "nobody";
  EXPECT_NE(internal::MakeProcess(w, image, 1).status().message().find("numeric"), std::string::npos);
  image.user.clear();
  w.working_dir = "relative";
  EXPECT_NE(internal::MakeProcess(w, image, 1).status().message().find("absolute"), std::string::npos);
  EXPECT_NE(internal::MakeProcess(ImageWorkload(), ImageConfig{}, 1).status().message().find("nothing to run"),
            std::string::npos);
}

TEST(RuntimeSpecTest, HostNetworkLimitsAndTheProcess) {
  internal::RuntimeSpecInput in;
  in.hostname = "fn-00001-abc";
  in.process.args = {"/run"};
  in.process.env = {"PORT=1"};
  in.process.uid = 7;
  in.memory_bytes = 64 << 20;
  in.cpu_millis = 500;
  in.cgroups_path = "/ofn/fn-00001-abc";
  in.readonly_rootfs = true;
  json::value v = json::parse(internal::MakeRuntimeSpec(in));
  EXPECT_EQ(v.at("process").at("args").as_array()[0].as_string(), "/run");
  EXPECT_EQ(v.at("process").at("user").at("uid").as_int64(), 7);
  EXPECT_TRUE(v.at("root").at("readonly").as_bool());
  EXPECT_EQ(v.at("linux").at("resources").at("memory").at("limit").as_int64(), 64 << 20);
  EXPECT_EQ(v.at("linux").at("resources").at("cpu").at("quota").as_int64(), 50000);
  EXPECT_EQ(v.at("linux").at("cgroupsPath").as_string(), "/ofn/fn-00001-abc");
  for (const json::value& ns : v.at("linux").at("namespaces").as_array()) {
    EXPECT_NE(ns.at("type").as_string(), "network") << "instances share the host's network";
  }
  in.memory_bytes = 0;
  in.cpu_millis = 0;
  json::value none = json::parse(internal::MakeRuntimeSpec(in));
  EXPECT_FALSE(none.at("linux").at("resources").as_object().contains("memory"));
  EXPECT_FALSE(none.at("linux").at("resources").as_object().contains("cpu"));
}

}  // namespace
}  // namespace ofn::containerd
