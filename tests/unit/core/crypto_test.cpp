// RAND_set_rand_method is deprecated in OpenSSL 3 but is still how a test
// makes RAND_bytes fail.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "shardd/core/crypto.h"

#include <gtest/gtest.h>
#include <openssl/rand.h>

#include <set>

namespace shardd {
namespace {

// Makes RAND_bytes fail while alive.
class FailingRandom {
 public:
  FailingRandom() {
    method_.bytes = [](unsigned char*, int) { return 0; };
    method_.status = [] { return 0; };
    RAND_set_rand_method(&method_);
  }
  ~FailingRandom() { RAND_set_rand_method(nullptr); }

 private:
  RAND_METHOD method_{};
};

TEST(CryptoTest, TokensAreRandomAndUrlSafe) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string t;
    ASSERT_TRUE(random_token(&t).ok());
    EXPECT_EQ(t.size(), 43u);
    EXPECT_EQ(
        t.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos);
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 100u);
}

TEST(CryptoTest, AFailingGeneratorGivesNoToken) {
  std::string t = "untouched";
  {
    FailingRandom fail;
    Status st = random_token(&t);
    EXPECT_EQ(st.code(), ErrorCode::kUnavailable);
    unsigned char buf[8];
    EXPECT_FALSE(random_bytes(buf, sizeof buf));
  }
  EXPECT_EQ(t, "untouched");
  EXPECT_TRUE(random_token(&t).ok());  // back to normal
}

}  // namespace
}  // namespace shardd
