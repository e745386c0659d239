#define OPENSSL_SUPPRESS_DEPRECATED
#include "services/account/password.h"

#include <gtest/gtest.h>
#include <openssl/rand.h>

#include "services/account/errors.h"
#include "services/account/names.h"

namespace shardd::account {
namespace {

AuthConfig cheap() {
  AuthConfig c;
  c.scrypt_n = 1024;
  return c;
}

TEST(PasswordTest, HashVerifiesAndCarriesItsParameters) {
  std::string h;
  ASSERT_TRUE(hash_password("correct-horse", cheap(), &h).ok());
  EXPECT_EQ(h.rfind("scrypt$1024$8$1$", 0), 0u) << h;
  bool rehash = true;
  EXPECT_TRUE(verify_password("correct-horse", h, cheap(), &rehash));
  EXPECT_FALSE(rehash);
  EXPECT_FALSE(verify_password("wrong-horse", h, cheap(), &rehash));
}

TEST(PasswordTest, ParametersTheKdfCannotUseNeverProduceAHash) {
  AuthConfig bad = cheap();
  bad.scrypt_n = 3000;  // not a power of two
  std::string h = "untouched";
  Status st = hash_password("correct-horse", bad, &h);
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(h, "untouched") << "a failed derivation must never become a stored hash";
  EXPECT_FALSE(hash_password_checked("correct-horse", bad, &h).ok());
  EXPECT_EQ(h, "untouched");
}

TEST(PasswordTest, ARehashWithBadParametersIsRefusedAndTheOldHashStillWorks) {
  std::string h;
  ASSERT_TRUE(hash_password("correct-horse", cheap(), &h).ok());
  AuthConfig bad = cheap();
  bad.scrypt_n = 3000;
  bool needs_rehash = false;
  ASSERT_TRUE(verify_password("correct-horse", h, bad, &needs_rehash));
  EXPECT_TRUE(needs_rehash);  // parameters differ...
  std::string fresh;
  EXPECT_FALSE(hash_password_checked("correct-horse", bad, &fresh).ok());  // ...but no rehash
  EXPECT_TRUE(fresh.empty());
}

TEST(PasswordTest, AFailingRandomGeneratorGivesNoSalt) {
  RAND_METHOD failing{};
  failing.bytes = [](unsigned char*, int) { return 0; };
  failing.status = [] { return 0; };
  RAND_set_rand_method(&failing);
  std::string h = "untouched";
  Status st = hash_password("correct-horse", cheap(), &h);
  RAND_set_rand_method(nullptr);
  EXPECT_EQ(st.code(), ErrorCode::kUnavailable);
  EXPECT_EQ(h, "untouched");
}

TEST(NamesTest, PasswordLengthCountsCharacters) {
  EXPECT_FALSE(valid_password("😀😀😀"));  // 3 characters, 12 bytes
  EXPECT_FALSE(valid_password("1234567"));
  EXPECT_TRUE(valid_password("12345678"));
  std::string e100;
  for (int i = 0; i < 100; ++i) e100 += "é";  // 100 characters, 200 bytes
  EXPECT_TRUE(valid_password(e100));
  std::string e129;
  for (int i = 0; i < 129; ++i) e129 += "é";
  EXPECT_FALSE(valid_password(e129));
  EXPECT_TRUE(valid_password(std::string(128, 'x')));
  EXPECT_FALSE(valid_password(std::string(129, 'x')));
  EXPECT_FALSE(valid_password("abcdefgh\xff"));
}

TEST(NamesTest, DisplayNames) {
  std::string key;
  EXPECT_TRUE(check_display_name("Alice", {}, &key).ok());
  EXPECT_EQ(key, "alice");
  EXPECT_TRUE(check_display_name("Émile Zola", {}, &key).ok());
  EXPECT_EQ(key, "émile zola");
  EXPECT_TRUE(check_display_name("龙之战士", {}, &key).ok());
  EXPECT_TRUE(check_display_name("Dark-Knight_7", {}, &key).ok());
  EXPECT_TRUE(check_display_name("ΣΩΚΡΑΤΗΣ", {}, &key).ok());
  EXPECT_EQ(key, "σωκρατησ");
  for (const char* bad :
       {"ab", " Alice", "Alice ", "Al  ice", "Al\tice", "<b>Alice</b>", "[SYSTEM]", "___",
        "a\xE2\x80\xAE"
        "bc",
        "0123456789012345678901234", "\xff\xfe\xfd"}) {
    Status st = check_display_name(bad, {}, &key);
    EXPECT_EQ(st.code(), kInvalidName) << bad;
  }
  EXPECT_EQ(check_display_name("Admin", {}, &key).code(), kInvalidName);
  EXPECT_EQ(check_display_name("SYSTEM", {}, &key).code(), kInvalidName);
  EXPECT_EQ(check_display_name("xXBadWordXx", {"badword"}, &key).code(), kInvalidName);
  EXPECT_TRUE(check_display_name("Good Word", {"badword"}, &key).ok());
}

}  // namespace
}  // namespace shardd::account
