#include "net/static_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace shardd::net {
namespace {

namespace fs = std::filesystem;

class StaticFilesTest : public ::testing::Test {
 protected:
  StaticFilesTest() {
    char tmpl[] = "/tmp/shardd-static-XXXXXX";
    base_ = ::mkdtemp(tmpl);
    root_ = base_ + "/web";
    fs::create_directories(root_ + "/panels");
    write(root_ + "/index.html", "<!doctype html>");
    write(root_ + "/app.js", "export {};");
    write(root_ + "/panels/index.html", "panels");
    write(root_ + "/.secret", "no");
    write(base_ + "/outside.txt", "outside");
    fs::create_directories(root_ + "/empty");
  }
  ~StaticFilesTest() override { fs::remove_all(base_); }
  static void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

  std::string base_, root_;
};

TEST_F(StaticFilesTest, FilesAndFolderIndexes) {
  auto page = lookup_static(root_, "/play/");
  ASSERT_EQ(page.kind, StaticLookup::Kind::kFile);
  EXPECT_EQ(page.file, root_ + "/index.html");
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_EQ(page.size, 15u);
  EXPECT_EQ(page.etag.substr(0, 3), "W/\"");
  auto js = lookup_static(root_, "/play/app.js");
  ASSERT_EQ(js.kind, StaticLookup::Kind::kFile);
  EXPECT_EQ(js.content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(lookup_static(root_, "/play/panels/").kind, StaticLookup::Kind::kFile);
  EXPECT_EQ(lookup_static(root_, "/play/panels").kind, StaticLookup::Kind::kAddSlash);
}

TEST_F(StaticFilesTest, NothingOutsideTheRootOrHidden) {
  for (const char* p : {"/play/../outside.txt", "/play/..", "/play/./app.js", "/play/.secret",
                        "/play//app.js", "/play/app.js/", "/play/%2e%2e/outside.txt",
                        "/play/app.js%00", "/play/a\\b", "/play/empty/", "/play/missing.js",
                        "/other/app.js", "/play", ""}) {
    EXPECT_EQ(lookup_static(root_, p).kind, StaticLookup::Kind::kNotFound) << p;
  }
  EXPECT_EQ(lookup_static("", "/play/").kind, StaticLookup::Kind::kNotFound);
  std::string deep = "/play/";
  for (int i = 0; i < 20; ++i) deep += "a/";
  EXPECT_EQ(lookup_static(root_, deep).kind, StaticLookup::Kind::kNotFound);
  EXPECT_EQ(lookup_static(root_, "/play/" + std::string(300, 'a')).kind,
            StaticLookup::Kind::kNotFound);
}

TEST_F(StaticFilesTest, ETagChangesWithTheFile) {
  auto before = lookup_static(root_, "/play/app.js");
  write(root_ + "/app.js", "export const x = 1;");
  auto after = lookup_static(root_, "/play/app.js");
  EXPECT_NE(before.etag, after.etag);
}

TEST(StaticFiles, ContentTypes) {
  EXPECT_EQ(content_type_for("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(content_type_for("a.svg"), "image/svg+xml");
  EXPECT_EQ(content_type_for("a.webmanifest"), "application/manifest+json");
  EXPECT_EQ(content_type_for("Makefile"), "application/octet-stream");
  EXPECT_EQ(content_type_for(".js"), "application/octet-stream");
}

TEST(StaticFiles, SameOriginIsTheHostTheRequestWasSentTo) {
  EXPECT_TRUE(same_origin("http://127.0.0.1:7100", "127.0.0.1:7100", false));
  EXPECT_TRUE(same_origin("HTTPS://Play.Example.com", "play.example.com", true));
  EXPECT_FALSE(same_origin("http://play.example.com", "play.example.com", true));
  EXPECT_FALSE(same_origin("https://evil.example", "play.example.com", true));
  EXPECT_FALSE(same_origin("http://127.0.0.1:7101", "127.0.0.1:7100", false));
  EXPECT_FALSE(same_origin("http://127.0.0.1:7100", "", false));
  EXPECT_FALSE(same_origin("null", "null", false));
}

TEST(StaticFiles, IfNoneMatchComparesWeakly) {
  EXPECT_TRUE(etag_matches("W/\"a-1\"", "W/\"a-1\""));
  EXPECT_TRUE(etag_matches("\"a-1\"", "W/\"a-1\""));
  EXPECT_TRUE(etag_matches("\"x\", W/\"a-1\"", "W/\"a-1\""));
  EXPECT_TRUE(etag_matches("*", "W/\"a-1\""));
  EXPECT_FALSE(etag_matches("W/\"a-2\"", "W/\"a-1\""));
  EXPECT_FALSE(etag_matches("", "W/\"a-1\""));
  EXPECT_FALSE(etag_matches(" , ,", "W/\"a-1\""));
}

}  // namespace
}  // namespace shardd::net
