// StaticFiles on a real directory tree (a temporary copy of a UI with
// planted symlinks, a FIFO and files outside it): which names are served and
// which are refused, before and after touching the file system.
#include "http/static_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "node_process.h"

using namespace clusterlite;
namespace fs = std::filesystem;

namespace {

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// <tmp>/web (the UI directory) beside <tmp>/web-secret and <tmp>/outside.txt.
class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::path(dir_.path());
    web_ = root_ / "web";
    write_file(web_ / "index.html", "<!doctype html>");
    write_file(web_ / "app.js", "export {}");
    write_file(web_ / "css" / "site.css", "body{}");
    write_file(root_ / "web-secret" / "token.txt", "secret");
    write_file(root_ / "outside.txt", "outside");
    fs::create_directory_symlink("/etc", web_ / "etc");
    fs::create_symlink("/etc/passwd", web_ / "passwd");
    fs::create_symlink(root_ / "outside.txt", web_ / "outside.txt");
    fs::create_symlink("../web-secret/token.txt", web_ / "token.txt");
    fs::create_directory_symlink(root_ / "web-secret", web_ / "secret");
    fs::create_symlink("app.js", web_ / "alias.js");  // stays inside: served
    fs::create_symlink("missing.js", web_ / "dangling.js");
    ASSERT_EQ(::mkfifo((web_ / "fifo.js").c_str(), 0600), 0);
    // Larger than kMaxStaticFileBytes, sparse.
    std::ofstream(web_ / "huge.js").close();
    fs::resize_file(web_ / "huge.js", kMaxStaticFileBytes + 1);
  }

  test::TempDir dir_;
  fs::path root_;
  fs::path web_;
};

}  // namespace

TEST(StaticNameTest, AcceptsPlainRelativeNames) {
  for (const char* name : {"index.html", "app.js", "css/site.css", "a-b_c.1.css", "v2/x/y/z.png", "x..y.js"})
    EXPECT_TRUE(is_safe_static_name(name)) << name;
}

TEST(StaticNameTest, RefusesEverythingElseBeforeTouchingTheFileSystem) {
  const std::string nul("a\0b", 3);
  for (const std::string& name :
       {std::string(""), std::string("/etc/passwd"), std::string("//etc/passwd"), std::string("a//b"),
        std::string("a/"), std::string("."), std::string(".."), std::string("../x"), std::string("a/../b"),
        std::string("a/./b"), std::string("./a"), std::string(".git/config"), std::string("css/.env"),
        std::string("a\\b"), std::string("..\\x"), std::string("%2e%2e/x"), std::string("a%2Fb"), nul,
        std::string("a b"), std::string("a\nb"), std::string("\xc3\xa9.js"), std::string("a:b"),
        std::string("a?b"), std::string(kMaxStaticNameBytes + 1, 'a')})
    EXPECT_FALSE(is_safe_static_name(name)) << name;
  EXPECT_TRUE(is_safe_static_name(std::string(kMaxStaticNameBytes, 'a')));
}

TEST_F(StaticFilesTest, ServesFilesInsideTheDirectory) {
  StaticFiles files(web_.string());
  ASSERT_TRUE(files.enabled());
  auto index = files.read("");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->body, "<!doctype html>");
  EXPECT_STREQ(index->content_type, "text/html; charset=utf-8");
  auto css = files.read("css/site.css");
  ASSERT_TRUE(css);
  EXPECT_EQ(css->body, "body{}");
  EXPECT_STREQ(css->content_type, "text/css; charset=utf-8");
  // A symlink that stays inside the directory is followed.
  auto alias = files.resolve("alias.js");
  ASSERT_TRUE(alias);
  EXPECT_EQ(*alias, fs::canonical(web_ / "app.js"));
  ASSERT_TRUE(files.read("alias.js"));
  EXPECT_EQ(files.read("alias.js")->body, "export {}");
}

TEST_F(StaticFilesTest, RefusesSymlinksLeadingOutOfTheDirectory) {
  StaticFiles files(web_.string());
  for (const char* name : {"passwd", "etc/passwd", "etc/hostname", "outside.txt", "token.txt", "secret/token.txt"}) {
    EXPECT_FALSE(files.resolve(name)) << name;
    EXPECT_FALSE(files.read(name)) << name;
  }
}

TEST_F(StaticFilesTest, RefusesWhatIsNotARegularFile) {
  StaticFiles files(web_.string());
  for (const char* name : {"css", "missing.js", "dangling.js", "fifo.js", "huge.js", "css/missing.css"})
    EXPECT_FALSE(files.read(name)) << name;
}

TEST_F(StaticFilesTest, RefusesTraversalAndAbsoluteNames) {
  StaticFiles files(web_.string());
  for (const char* name : {"/etc/passwd", "//etc/passwd", "../outside.txt", "../web-secret/token.txt",
                           "css/../../outside.txt", "%2e%2e/outside.txt", "..%2foutside.txt", "/proc/self/environ"})
    EXPECT_FALSE(files.read(name)) << name;
}

TEST_F(StaticFilesTest, ADirectoryMustExistAndNotBeTheRoot) {
  EXPECT_FALSE(StaticFiles("").enabled());
  EXPECT_FALSE(StaticFiles("").read("index.html"));
  EXPECT_THROW(StaticFiles((root_ / "missing").string()), std::runtime_error);
  EXPECT_THROW(StaticFiles((web_ / "app.js").string()), std::runtime_error);
  EXPECT_THROW(StaticFiles("/"), std::runtime_error);
  try {
    StaticFiles bad((root_ / "missing").string());
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("http.ui_directory"), std::string::npos) << e.what();
  }
  // Given through a symlink, the directory is its target: files inside still serve.
  fs::create_directory_symlink(web_, root_ / "web-link");
  StaticFiles linked((root_ / "web-link").string());
  EXPECT_TRUE(linked.read("app.js"));
  EXPECT_FALSE(linked.read("passwd"));
}
