// database_properties_test.cpp: a database's recorded properties and the
// SQL that gives them back.
#include "core/archive/database_properties.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/base/error.h"

namespace pgbak {
namespace {

// kRecorded is what the backup's query writes for a database owned by app,
// closed to PUBLIC, with settings for everyone and for one role.
const char* kRecorded = R"({"owner": "app", "encoding": "LATIN1", "lc_collate": "C",
  "lc_ctype": "C", "locale_provider": "c", "icu_locale": null, "connection_limit": 20,
  "acl": [{"grantee": "app", "privilege": "CONNECT", "grantable": false},
          {"grantee": "app", "privilege": "CREATE", "grantable": false},
          {"grantee": "app", "privilege": "TEMPORARY", "grantable": false},
          {"grantee": "reader", "privilege": "CONNECT", "grantable": true}],
  "settings": [{"role": null, "setting": "default_transaction_read_only=on"},
               {"role": null, "setting": "search_path=app, \"My Schema\", public"},
               {"role": "reader", "setting": "statement_timeout=5s"}],
  "comment": "it's the app"})";

TEST(DatabasePropertiesTest, ReadsWhatTheBackupRecorded) {
  DatabaseProperties properties = DatabaseProperties::FromJson(kRecorded);
  EXPECT_EQ(properties.owner, "app");
  EXPECT_EQ(properties.encoding, "LATIN1");
  EXPECT_EQ(properties.connection_limit, 20);
  EXPECT_FALSE(properties.default_acl);
  ASSERT_EQ(properties.grants.size(), 4u);
  EXPECT_TRUE(properties.grants[3].grantable);
  ASSERT_EQ(properties.settings.size(), 3u);
  EXPECT_EQ(properties.settings[2].role, "reader");
  EXPECT_EQ(properties.settings[2].name, "statement_timeout");
  EXPECT_EQ(properties.settings[2].value, "5s");
  EXPECT_TRUE(properties.has_comment);
}

TEST(DatabasePropertiesTest, CreatesWithTheEncodingAndLocale) {
  DatabaseProperties properties = DatabaseProperties::FromJson(kRecorded);
  EXPECT_EQ(properties.CreateOptions(), " ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'");
  properties.locale_provider = "i";
  properties.icu_locale = "en-US";
  EXPECT_EQ(properties.CreateOptions(),
            " ENCODING 'LATIN1' LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LC_COLLATE 'C' LC_CTYPE "
            "'C'");
}

TEST(DatabasePropertiesTest, GivesGrantsSettingsLimitAndComment) {
  DatabaseProperties properties = DatabaseProperties::FromJson(kRecorded);
  std::vector<std::string> expected = {
      "REVOKE ALL ON DATABASE \"pgbak_restore_7\" FROM PUBLIC",
      "REVOKE ALL ON DATABASE \"pgbak_restore_7\" FROM \"app\"",
      "GRANT CONNECT ON DATABASE \"pgbak_restore_7\" TO \"app\"",
      "GRANT CREATE ON DATABASE \"pgbak_restore_7\" TO \"app\"",
      "GRANT TEMPORARY ON DATABASE \"pgbak_restore_7\" TO \"app\"",
      "GRANT CONNECT ON DATABASE \"pgbak_restore_7\" TO \"reader\" WITH GRANT OPTION",
      "ALTER DATABASE \"pgbak_restore_7\" SET \"default_transaction_read_only\" TO 'on'",
      "ALTER DATABASE \"pgbak_restore_7\" SET \"search_path\" TO 'app', 'My Schema', 'public'",
      "ALTER ROLE \"reader\" IN DATABASE \"pgbak_restore_7\" SET \"statement_timeout\" TO '5s'",
      "ALTER DATABASE \"pgbak_restore_7\" CONNECTION LIMIT 20",
      "COMMENT ON DATABASE \"pgbak_restore_7\" IS 'it''s the app'"};
  EXPECT_EQ(properties.ApplyStatements("pgbak_restore_7"), expected);
}

TEST(DatabasePropertiesTest, DefaultPrivilegesAreLeftAloneAndTheLimitLifted) {
  DatabaseProperties properties =
      DatabaseProperties::FromJson(R"({"owner": "o", "acl": null, "settings": null,
        "comment": null, "connection_limit": -1})");
  EXPECT_TRUE(properties.default_acl);
  EXPECT_EQ(properties.ApplyStatements("d"),
            std::vector<std::string>{"ALTER DATABASE \"d\" CONNECTION LIMIT -1"});
  // What a set made before 1.3 gets: nothing recorded, the limit lifted.
  EXPECT_EQ(DatabaseProperties().ApplyStatements("d"),
            std::vector<std::string>{"ALTER DATABASE \"d\" CONNECTION LIMIT -1"});
}

TEST(DatabasePropertiesTest, DamagedPropertiesAreCorrupt) {
  for (const char* bad : {"[]", "{\"acl\": 3}",
                          "{\"acl\": [{\"grantee\": \"a\", \"privilege\": "
                          "\"DROP\"}]}",
                          "{\"settings\": [{\"setting\": \"=x\"}]}", "{\"encoding\": 5}", "{"}) {
    try {
      DatabaseProperties::FromJson(bad);
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kCorrupt) << bad;
    }
  }
}

}  // namespace
}  // namespace pgbak
