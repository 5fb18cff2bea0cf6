// backup_options_test.cpp: pgbak_run options and qualified names
// (src/core/backup_options.cpp).
#include "core/options/backup_options.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "core/base/error.h"

namespace pgbak {
namespace {

using Args = std::vector<std::string>;

// OptionsError returns the error ParseBackupOptions throws for text.
Error OptionsError(const std::string& text) {
  try {
    ParseBackupOptions(text);
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter) << text;
    return error;
  }
  ADD_FAILURE() << "accepted " << text;
  return Error(ErrorKind::kInternal, "");
}

std::string NameError(const std::string& text, bool allow_schema = true) {
  try {
    ParseQualifiedName(text, allow_schema);
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kInvalidParameter);
    if (text.find('\0') == std::string::npos) {
      EXPECT_EQ(std::string(error.what()), "invalid name \"" + text + "\"");
    }
    return error.detail();
  }
  ADD_FAILURE() << "accepted " << text;
  return {};
}

QualifiedName Name(const std::string& schema, const std::string& name) {
  return QualifiedName{schema, name};
}

TEST(QualifiedNameTest, UnquotedPartsAreFoldedToLowerCase) {
  EXPECT_EQ(ParseQualifiedName("Orders", true), Name("", "orders"));
  EXPECT_EQ(ParseQualifiedName("Sales.Orders", true), Name("sales", "orders"));
  EXPECT_EQ(ParseQualifiedName("t_1$x", true), Name("", "t_1$x"));
  // Non-ASCII letters are kept as they are (PostgreSQL folds ASCII only here).
  EXPECT_EQ(ParseQualifiedName("\xc3\x9c"
                               "ber",
                               true),
            Name("",
                 "\xc3\x9c"
                 "ber"));
}

TEST(QualifiedNameTest, QuotedPartsAreExact) {
  EXPECT_EQ(ParseQualifiedName("\"My Table\"", true), Name("", "My Table"));
  EXPECT_EQ(ParseQualifiedName("\"My.Table\"", true), Name("", "My.Table"));
  EXPECT_EQ(ParseQualifiedName("Public.\"x\"\"y\"", true), Name("public", "x\"y"));
  EXPECT_EQ(ParseQualifiedName("\"A.B\".\"C.D\"", true), Name("A.B", "C.D"));
  EXPECT_EQ(ParseQualifiedName("\"\"\"\"", true), Name("", "\""));
  EXPECT_EQ(ParseQualifiedName("\"Sch\"", false), Name("", "Sch"));
  EXPECT_EQ(ParseQualifiedName(std::string(63, 'a'), false).name, std::string(63, 'a'));
}

TEST(QualifiedNameTest, Errors) {
  EXPECT_NE(NameError("").find("empty"), std::string::npos);
  EXPECT_NE(NameError("a..b").find("Zero-length"), std::string::npos);
  EXPECT_NE(NameError(".a").find("Zero-length"), std::string::npos);
  EXPECT_NE(NameError("a.").find("Zero-length"), std::string::npos);
  EXPECT_NE(NameError("\"\"").find("Zero-length"), std::string::npos);
  EXPECT_NE(NameError("\"abc").find("Unterminated"), std::string::npos);
  EXPECT_NE(NameError("\"a\"b").find("closing quote"), std::string::npos);
  EXPECT_NE(NameError("a\"b\"").find("quote"), std::string::npos);
  EXPECT_NE(NameError("a.b.c").find("Too many"), std::string::npos);
  EXPECT_NE(NameError("a.b", false).find("cannot be qualified"), std::string::npos);
  EXPECT_NE(NameError(std::string(64, 'a')).find("longer than 63 bytes"), std::string::npos);
  EXPECT_NE(NameError("\"" + std::string(64, 'A') + "\"").find("63"), std::string::npos);
  EXPECT_NE(NameError(" a").find("white space"), std::string::npos);
  EXPECT_NE(NameError("a ").find("white space"), std::string::npos);
  EXPECT_NE(NameError("a b").find("white space"), std::string::npos);
  EXPECT_NE(NameError(std::string("a\0b", 3)).find("control"), std::string::npos);
  try {
    ParseQualifiedName(std::string("a\0b\n", 4), true);
  } catch (const Error& error) {
    EXPECT_STREQ(error.what(), "invalid name \"a\\x00b\\x0a\"");
  }
}

TEST(QualifiedNameTest, ExactPatternQuotesEveryPart) {
  EXPECT_EQ(ExactPattern(Name("", "orders")), "*.\"orders\"");
  EXPECT_EQ(ExactPattern(Name("Sales", "Orders*")), "\"Sales\".\"Orders*\"");
  EXPECT_EQ(ExactPattern(Name("a.b", "x\"y")), "\"a.b\".\"x\"\"y\"");
}

TEST(BackupOptionsTest, DefaultsFromEmptyObject) {
  BackupOptions options = ParseBackupOptions("{}");
  EXPECT_EQ(options.format, "custom");
  EXPECT_FALSE(options.schema_only);
  EXPECT_FALSE(options.data_only);
  EXPECT_FALSE(options.zstd_level.has_value());
  EXPECT_EQ(options.DumpArguments(), Args{"--format=custom"});
  EXPECT_EQ(options.ToJson().Serialize(), R"({"format":"custom"})");
  EXPECT_TRUE(options.IncludesTableData("public", "t"));
}

TEST(BackupOptionsTest, EachValidKey) {
  EXPECT_EQ(ParseBackupOptions(R"({"format":"plain"})").DumpArguments(), Args{"--format=plain"});
  EXPECT_EQ(ParseBackupOptions(R"({"schema_only":true})").DumpArguments(),
            (Args{"--format=custom", "--schema-only"}));
  EXPECT_EQ(ParseBackupOptions(R"({"data_only":true})").DumpArguments(),
            (Args{"--format=custom", "--data-only"}));
  EXPECT_EQ(ParseBackupOptions(R"({"schema_only":false,"data_only":false})").DumpArguments(),
            Args{"--format=custom"});
  // A selection carries every definition; other tables' data is excluded
  // by ExcludedDataArguments (see SelectionCarriesDefinitions).
  EXPECT_EQ(ParseBackupOptions(R"({"tables":["Orders","s.\"Line Items\""]})").DumpArguments(),
            (Args{"--format=custom", "--no-blobs"}));
  EXPECT_EQ(ParseBackupOptions(R"({"data_only":true,"tables":["Orders","s.\"Line Items\""]})")
                .DumpArguments(),
            (Args{"--format=custom", "--data-only", "--table=*.\"orders\"",
                  "--table=\"s\".\"Line Items\"", "--exclude-table=pg_*.*",
                  "--exclude-table=information_schema.*"}));
  EXPECT_EQ(ParseBackupOptions(R"({"exclude_tables":["log"]})").DumpArguments(),
            (Args{"--format=custom", "--exclude-table=*.\"log\""}));
  EXPECT_EQ(ParseBackupOptions(R"({"schemas":["App","\"X\"\"Y\""]})").DumpArguments(),
            (Args{"--format=custom", "--no-blobs"}));
  EXPECT_EQ(
      ParseBackupOptions(R"({"data_only":true,"schemas":["App","\"X\"\"Y\""]})").DumpArguments(),
      (Args{"--format=custom", "--data-only", "--schema=\"app\"", "--schema=\"X\"\"Y\""}));
  EXPECT_EQ(ParseBackupOptions(R"({"exclude_schemas":["tmp"]})").DumpArguments(),
            (Args{"--format=custom", "--exclude-schema=\"tmp\""}));
  EXPECT_EQ(ParseBackupOptions(R"({"zstd_level":19})").zstd_level, 19);
  EXPECT_EQ(ParseBackupOptions(R"({"zstd_level":1})").zstd_level, 1);
  EXPECT_EQ(ParseBackupOptions(R"({"zstd_level":1})").DumpArguments(), Args{"--format=custom"});
}

TEST(BackupOptionsTest, SelectionCarriesDefinitions) {
  std::vector<std::pair<std::string, std::string>> relations = {
      {"public", "orders"}, {"public", "log"}, {"s", "Line Items"}, {"s", "orders"}, {"t", "x"}};
  BackupOptions tables = ParseBackupOptions(R"({"tables":["Orders","s.\"Line Items\""]})");
  EXPECT_TRUE(tables.SelectsData());
  // An unqualified name selects the table in every user schema; a schema
  // with nothing selected is left out whole, unless it has sequences.
  EXPECT_EQ(tables.ExcludedDataArguments(relations),
            (Args{"--exclude-table-data=\"public\".\"log\"", "--exclude-table-data=\"t\".*"}));
  EXPECT_EQ(tables.ExcludedDataArguments(relations, {"t"}),
            (Args{"--exclude-table-data=\"public\".\"log\"", "--exclude-table-data=\"t\".\"x\""}));
  BackupOptions schemas = ParseBackupOptions(R"({"schemas":["s"],"exclude_tables":["s.orders"]})");
  EXPECT_EQ(schemas.DumpArguments(),
            (Args{"--format=custom", "--no-blobs", "--exclude-table=\"s\".\"orders\""}));
  EXPECT_EQ(schemas.ExcludedDataArguments(relations),
            (Args{"--exclude-table-data=\"public\".*", "--exclude-table-data=\"s\".\"orders\"",
                  "--exclude-table-data=\"t\".*"}));
  // Without a selection, or data only, nothing is excluded this way.
  EXPECT_FALSE(ParseBackupOptions("{}").SelectsData());
  EXPECT_TRUE(ParseBackupOptions("{}").ExcludedDataArguments(relations).empty());
  BackupOptions data_only = ParseBackupOptions(R"({"data_only":true,"tables":["orders"]})");
  EXPECT_FALSE(data_only.SelectsData());
  EXPECT_TRUE(data_only.ExcludedDataArguments(relations).empty());
}

TEST(BackupOptionsTest, ToJsonIsNormalizedAndReadsBack) {
  BackupOptions options = ParseBackupOptions(
      R"({"zstd_level":7,"tables":["Orders","\"Big Co\".\"T\"","\"x\"\"y\""],"data_only":true,)"
      R"("exclude_tables":["s.t"],"exclude_schemas":["Tmp"],"format":"plain"})");
  std::string normalized = options.ToJson().Serialize();
  EXPECT_EQ(normalized,
            R"({"format":"plain","data_only":true,"tables":["orders","\"Big Co\".\"T\"",)"
            R"("\"x\"\"y\""],"exclude_tables":["s.t"],"exclude_schemas":["tmp"],)"
            R"("zstd_level":7})");
  BackupOptions again = ParseBackupOptions(normalized);
  EXPECT_EQ(again.tables, options.tables);
  EXPECT_EQ(again.ToJson().Serialize(), normalized);
  EXPECT_EQ(again.DumpArguments(), options.DumpArguments());
}

TEST(BackupOptionsTest, UnknownKeyIsRejectedWithAHint) {
  Error error = OptionsError(R"({"foo":1})");
  EXPECT_STREQ(error.what(), "unknown backup option \"foo\"");
  EXPECT_NE(error.hint().find("format, schema_only, data_only, tables"), std::string::npos);
  EXPECT_NE(error.hint().find("zstd_level"), std::string::npos);
  EXPECT_STREQ(OptionsError(R"({"format":"custom","Format":"plain"})").what(),
               "unknown backup option \"Format\"");
}

TEST(BackupOptionsTest, WrongTypesNameTheKey) {
  EXPECT_EQ(std::string(OptionsError(R"({"schema_only":"yes"})").what()),
            "backup option \"schema_only\" must be a boolean, not string");
  EXPECT_EQ(std::string(OptionsError(R"({"data_only":1})").what()),
            "backup option \"data_only\" must be a boolean, not number");
  EXPECT_EQ(std::string(OptionsError(R"({"format":1})").what()),
            "backup option \"format\" must be a string, not number");
  EXPECT_EQ(std::string(OptionsError(R"({"tables":"orders"})").what()),
            "backup option \"tables\" must be an array of strings, not string");
  EXPECT_EQ(std::string(OptionsError(R"({"exclude_tables":[1]})").what()),
            "backup option \"exclude_tables\" must contain only strings, not number");
  EXPECT_EQ(std::string(OptionsError(R"({"schemas":[""]})").what()),
            "backup option \"schemas\" cannot contain an empty name");
  EXPECT_EQ(std::string(OptionsError(R"({"exclude_schemas":null})").what()),
            "backup option \"exclude_schemas\" must be an array of strings, not null");
  EXPECT_EQ(std::string(OptionsError(R"({"zstd_level":"3"})").what()),
            "backup option \"zstd_level\" must be an integer between 1 and 19, not string");
}

TEST(BackupOptionsTest, BadValuesNameTheKey) {
  EXPECT_EQ(std::string(OptionsError(R"({"format":"tar"})").what()),
            "backup option \"format\" must be \"custom\" or \"plain\", not \"tar\"");
  for (const char* level : {"0", "20", "-1", "3.5", "1e100"}) {
    std::string message = OptionsError(std::string(R"({"zstd_level":)") + level + "}").what();
    EXPECT_EQ(message, std::string("backup option \"zstd_level\" must be an integer between 1 "
                                   "and 19, not ") +
                           level);
  }
  Error bad_name = OptionsError(R"({"tables":["a.b.c"]})");
  EXPECT_STREQ(bad_name.what(), "invalid name \"a.b.c\" in backup option \"tables\"");
  EXPECT_NE(bad_name.detail().find("Too many"), std::string::npos);
  EXPECT_STREQ(OptionsError(R"({"schemas":["a.b"]})").what(),
               "invalid name \"a.b\" in backup option \"schemas\"");
}

TEST(BackupOptionsTest, ConflictingOptionsAreRejected) {
  Error both_only = OptionsError(R"({"schema_only":true,"data_only":true})");
  EXPECT_NE(std::string(both_only.what()).find("\"schema_only\" and \"data_only\""),
            std::string::npos);
  Error tables_and_schemas = OptionsError(R"({"tables":["t"],"schemas":["s"]})");
  EXPECT_NE(std::string(tables_and_schemas.what()).find("\"tables\" and \"schemas\""),
            std::string::npos);
  EXPECT_NE(tables_and_schemas.hint().find("Use one of them"), std::string::npos);
  // Empty lists select nothing and conflict with nothing.
  EXPECT_NO_THROW(ParseBackupOptions(R"({"tables":[],"schemas":["s"]})"));
}

TEST(BackupOptionsTest, NonObjectsAndBadJsonAreRejected) {
  EXPECT_EQ(std::string(OptionsError("[]").what()),
            "backup options must be a JSON object, not array");
  EXPECT_EQ(std::string(OptionsError("null").what()),
            "backup options must be a JSON object, not null");
  Error bad_json = OptionsError("{\"format\":");
  EXPECT_STREQ(bad_json.what(), "invalid backup options");
  EXPECT_NE(bad_json.detail().find("offset"), std::string::npos);
  EXPECT_NE(std::string(OptionsError(R"({"format":"plain","format":"custom"})").detail())
                .find("duplicate"),
            std::string::npos);
}

TEST(BackupOptionsTest, IncludesTableDataMirrorsPgDump) {
  EXPECT_FALSE(ParseBackupOptions(R"({"schema_only":true})").IncludesTableData("public", "t"));
  EXPECT_TRUE(ParseBackupOptions(R"({"data_only":true})").IncludesTableData("public", "t"));

  BackupOptions tables = ParseBackupOptions(R"({"tables":["orders","sales.\"Items\""]})");
  EXPECT_TRUE(tables.IncludesTableData("public", "orders"));
  EXPECT_TRUE(tables.IncludesTableData("other", "orders"));
  EXPECT_TRUE(tables.IncludesTableData("sales", "Items"));
  EXPECT_FALSE(tables.IncludesTableData("public", "Items"));
  EXPECT_FALSE(tables.IncludesTableData("sales", "items"));
  EXPECT_FALSE(tables.IncludesTableData("public", "customers"));

  BackupOptions schemas = ParseBackupOptions(R"({"schemas":["app"],"exclude_tables":["log"]})");
  EXPECT_TRUE(schemas.IncludesTableData("app", "orders"));
  EXPECT_FALSE(schemas.IncludesTableData("public", "orders"));
  EXPECT_FALSE(schemas.IncludesTableData("app", "log"));

  BackupOptions excluded =
      ParseBackupOptions(R"({"exclude_schemas":["tmp"],"exclude_tables":["app.audit"]})");
  EXPECT_FALSE(excluded.IncludesTableData("tmp", "t"));
  EXPECT_FALSE(excluded.IncludesTableData("app", "audit"));
  EXPECT_TRUE(excluded.IncludesTableData("public", "audit"));
  EXPECT_TRUE(excluded.IncludesTableData("app", "orders"));

  BackupOptions include_and_exclude =
      ParseBackupOptions(R"({"tables":["t"],"exclude_tables":["s.t"]})");
  EXPECT_TRUE(include_and_exclude.IncludesTableData("public", "t"));
  EXPECT_FALSE(include_and_exclude.IncludesTableData("s", "t"));
}

// lock_wait_timeout bounds each of pg_dump's waits for a table lock (while
// it waits, its snapshot holds the cluster's xmin horizon back).
TEST(BackupOptionsTest, LockWaitTimeout) {
  EXPECT_FALSE(ParseBackupOptions("{}").lock_wait_timeout_seconds.has_value());
  struct Case {
    const char* json;
    int seconds;
  };
  for (const Case& c :
       {Case{"0", 0}, Case{"1", 1}, Case{"86400", 86400}, Case{R"("30 seconds")", 30},
        Case{R"("5 minutes")", 300}, Case{R"("1 hour")", 3600}, Case{R"("1 day")", 86400}}) {
    BackupOptions options =
        ParseBackupOptions(std::string(R"({"lock_wait_timeout": )") + c.json + "}");
    EXPECT_EQ(options.lock_wait_timeout_seconds, c.seconds) << c.json;
    EXPECT_EQ(options.ToJson().Find("lock_wait_timeout")->AsInt64(), c.seconds);
    // pg_dump's argument comes from the worker, which knows the setting.
    EXPECT_EQ(options.DumpArguments(), Args{"--format=custom"});
  }
  for (const char* text : {"-1", "86401", "1.5", R"("0 seconds")", R"("soon")", R"("25 hours")",
                           R"("500 ms")", "true", "null"}) {
    Error error = OptionsError(std::string(R"({"lock_wait_timeout": )") + text + "}");
    EXPECT_EQ(std::string(error.what())
                  .rfind("backup option \"lock_wait_timeout\" must be an "
                         "interval such as \"2 minutes\" or a number of "
                         "seconds from 0 to 86400, not ",
                         0),
              0u)
        << error.what();
    EXPECT_NE(error.hint().find("0 waits as long as it takes"), std::string::npos);
  }
}

// pg_dump dumps whatever -t or -n selects, system catalogs too:
// {"tables": ["pg_authid"]} dumped pg_catalog.pg_authid with its password
// hashes.
TEST(BackupOptionsTest, SystemSchemasAreNeverSelected) {
  struct Case {
    const char* json;
    const char* message;
  };
  for (const Case& c : {
           Case{R"({"tables": ["pg_catalog.pg_authid"]})",
                "backup option \"tables\" cannot name table \"pg_catalog.pg_authid\": "
                "\"pg_catalog\" is a system schema"},
           Case{R"({"tables": ["Information_Schema.sql_features"]})",
                "backup option \"tables\" cannot name table "
                "\"information_schema.sql_features\": \"information_schema\" is a system schema"},
           Case{R"({"exclude_tables": ["pg_toast.pg_toast_1260"]})",
                "backup option \"exclude_tables\" cannot name table "
                "\"pg_toast.pg_toast_1260\": \"pg_toast\" is a system schema"},
           Case{R"({"schemas": ["pg_catalog"]})",
                "backup option \"schemas\" cannot name schema \"pg_catalog\": \"pg_catalog\" is "
                "a system schema"},
           Case{R"({"schemas": ["pg_temp_3"]})",
                "backup option \"schemas\" cannot name schema \"pg_temp_3\": \"pg_temp_3\" is a "
                "system schema"},
           Case{R"({"exclude_schemas": ["information_schema"]})",
                "backup option \"exclude_schemas\" cannot name schema \"information_schema\": "
                "\"information_schema\" is a system schema"},
       }) {
    Error error = OptionsError(c.json);
    EXPECT_EQ(std::string(error.what()), c.message);
    EXPECT_NE(error.hint().find("unqualified table names are looked up in those only"),
              std::string::npos);
  }
  // Quoted otherwise, these are ordinary names.
  EXPECT_EQ(ParseBackupOptions(R"({"schemas": ["\"PG_catalog\""]})").schemas.size(), 1u);
  EXPECT_EQ(ParseBackupOptions(R"({"tables": ["public.pg_authid"]})").tables.size(), 1u);
  EXPECT_TRUE(IsSystemSchema("pg_"));
  EXPECT_FALSE(IsSystemSchema("pg"));
  EXPECT_FALSE(IsSystemSchema("information_schema2"));
  // An unqualified name still reads as a pattern over every schema; the
  // system schemas' tables are excluded again, and excluded only when
  // tables are selected.
  EXPECT_EQ(ParseBackupOptions(R"({"exclude_tables": ["log"]})").DumpArguments(),
            (Args{"--format=custom", "--exclude-table=*.\"log\""}));
}

// NameListJson renders {"key": [names...]} as JSON text.
std::string NameListJson(const std::string& key, const std::vector<std::string>& names) {
  json::Value list = json::Value::Array();
  for (const std::string& name : names) {
    list.Append(json::Value::String(name));
  }
  json::Value object = json::Value::Object();
  object.Set(key, list);
  return object.Serialize();
}

// LimitError returns the kLimitExceeded error ParseBackupOptions throws.
Error LimitError(const std::string& text) {
  try {
    ParseBackupOptions(text);
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kLimitExceeded) << error.what();
    return error;
  }
  ADD_FAILURE() << "accepted " << text.size() << " bytes of options";
  return Error(ErrorKind::kInternal, "");
}

// ArgvBytes is what args take of the kernel's ARG_MAX: each string with its
// terminating zero, and a pointer to it.
size_t ArgvBytes(const Args& args) {
  size_t bytes = 0;
  for (const std::string& arg : args) {
    bytes += arg.size() + 1 + sizeof(char*);
  }
  return bytes;
}

TEST(BackupOptionsLimitsTest, OversizedOptionsAreRefusedBeforeParsing) {
  // 300000 names: the request that failed at run time with "Argument list
  // too long". Refused by size, before any name is parsed.
  std::string many = NameListJson("exclude_tables", std::vector<std::string>(300000, "t"));
  Error huge = LimitError(many);
  EXPECT_EQ(std::string(huge.what()),
            "backup options are too large: " + std::to_string(many.size()) + " bytes");
  EXPECT_NE(huge.hint().find("at most 65536 bytes"), std::string::npos);
  // Not even valid JSON is read past the limit.
  EXPECT_EQ(LimitError(std::string(kMaxOptionsBytes + 1, '{')).kind(), ErrorKind::kLimitExceeded);
}

TEST(BackupOptionsLimitsTest, AtMostOneThousandNamesInAllLists) {
  std::vector<std::string> names;
  for (size_t i = 0; i < kMaxSelectedNames; i++) {
    names.push_back("t" + std::to_string(i));
  }
  EXPECT_EQ(ParseBackupOptions(NameListJson("exclude_tables", names)).exclude_tables.size(),
            kMaxSelectedNames);
  names.push_back("one_more");
  Error error = LimitError(NameListJson("exclude_tables", names));
  EXPECT_STREQ(error.what(), "backup options name too many tables and schemas: 1001");
  EXPECT_NE(error.hint().find("At most 1000 names in all"), std::string::npos);
  // The lists count together.
  json::Value split = json::Value::Object();
  json::Value tables = json::Value::Array(), excluded = json::Value::Array();
  for (size_t i = 0; i < 600; i++) {
    tables.Append(json::Value::String("s.t" + std::to_string(i)));
    excluded.Append(json::Value::String("s.x" + std::to_string(i)));
  }
  split.Set("tables", tables);
  split.Set("exclude_tables", excluded);
  EXPECT_EQ(LimitError(split.Serialize()).kind(), ErrorKind::kLimitExceeded);
}

// The worst pg_dump command lines the limits allow stay far below the
// kernel's smallest ARG_MAX (128 KiB), environment included.
TEST(BackupOptionsLimitsTest, WorstCaseDumpArgumentsFitTheKernelLimit) {
  // Most names of one shape that the limits allow (make(i) is the i-th
  // name, as written in JSON before escaping).
  auto most = [](const std::string& key, const std::function<std::string(size_t)>& make) {
    std::vector<std::string> names;
    size_t json_bytes = key.size() + 6;  // {"key":[]}
    while (names.size() < kMaxSelectedNames) {
      std::string name = make(names.size());
      size_t escaped = name.size() + static_cast<size_t>(std::count(name.begin(), name.end(), '"'));
      if (json_bytes + escaped + 3 > kMaxOptionsBytes) {
        break;
      }
      json_bytes += escaped + 3;  // quotes and a comma
      names.push_back(name);
    }
    std::string text = NameListJson(key, names);
    EXPECT_LE(text.size(), kMaxOptionsBytes);
    return ArgvBytes(ParseBackupOptions(text).DumpArguments());
  };
  size_t worst = 0;
  for (size_t length : {1, 8, 30, 50, 60, 63}) {
    for (const char* key : {"tables", "exclude_tables", "schemas", "exclude_schemas"}) {
      worst = std::max(worst, most(key, [length](size_t i) {
                         std::string name = "n" + std::to_string(i);
                         name.resize(std::max(length, name.size()), 'x');
                         return name;
                       }));
    }
  }
  // Qualified names made of quotes: each is doubled in the pattern (and takes
  // two bytes in JSON).
  worst = std::max(worst, most("exclude_tables", [](size_t i) {
                     return "\"" + std::string(60, '"') + "\".\"" + std::to_string(i) +
                            std::string(58, '"') + "\"";
                   }));
  worst = std::max(worst,
                   most("exclude_tables", [](size_t i) { return "s" + std::to_string(i) + ".t"; }));
  EXPECT_GT(worst, 64u * 1024);
  EXPECT_LT(worst, 100u * 1024);
}

// These messages are also pinned by the pg_regress output in
// expected/bad_input.out; change both together.
TEST(BackupOptionsTest, JobsIsAnIntegerInRange) {
  EXPECT_FALSE(ParseBackupOptions("{}").jobs.has_value());
  BackupOptions options = ParseBackupOptions(R"({"jobs": 3})");
  EXPECT_EQ(options.jobs, 3);
  EXPECT_EQ(options.ToJson().Serialize(), R"({"format":"custom","jobs":3})");
  EXPECT_EQ(ParseBackupOptions(R"({"jobs": 32})").jobs, 32);
  // jobs chooses how the data is exported, not what pg_dump selects.
  EXPECT_EQ(options.DumpArguments(), Args{"--format=custom"});
  for (const char* bad : {"0", "33", "-1", "2.5", "\"2\"", "true", "null"})
    EXPECT_EQ(std::string(OptionsError(std::string(R"({"jobs": )") + bad + "}").what()),
              std::string("backup option \"jobs\" must be an integer between 1 and 32, not ") +
                  (std::string(bad) == "\"2\"" ? "\"2\"" : bad))
        << bad;
  for (const char* other :
       {R"("format": "plain")", R"("schema_only": true)", R"("data_only": true)"})
    EXPECT_EQ(std::string(OptionsError(std::string(R"({"jobs": 2, )") + other + "}").what()),
              "backup option \"jobs\" above 1 needs a custom-format backup of definitions and "
              "data")
        << other;
  EXPECT_EQ(ParseBackupOptions(R"({"jobs": 1, "format": "plain"})").jobs, 1);
}

TEST(BackupOptionsTest, MessagesMatchTheRegressionSuite) {
  EXPECT_STREQ(OptionsError(R"({"fromat": "plain"})").what(), "unknown backup option \"fromat\"");
  EXPECT_STREQ(OptionsError(R"({"format": "directory"})").what(),
               "backup option \"format\" must be \"custom\" or \"plain\", not \"directory\"");
  EXPECT_STREQ(OptionsError(R"({"zstd_level": 2.5})").what(),
               "backup option \"zstd_level\" must be an integer between 1 and 19, not 2.5");
  Error unterminated = OptionsError(R"({"tables": ["\"unterminated"]})");
  EXPECT_STREQ(unterminated.what(), "invalid name \"\"unterminated\" in backup option \"tables\"");
  EXPECT_EQ(unterminated.detail(), "Unterminated quoted identifier.");
  EXPECT_EQ(OptionsError(R"({"schemas": ["a.b"]})").detail(), "A schema name cannot be qualified.");
  EXPECT_EQ(OptionsError("[]").hint(),
            "Valid backup options are: format, schema_only, data_only, tables, exclude_tables, "
            "schemas, exclude_schemas, zstd_level, lock_wait_timeout, jobs.");
  EXPECT_EQ(OptionsError(R"({"tables": ["t"], "schemas": ["s"]})").hint(),
            "Use one of them: \"tables\" accepts schema-qualified names such as "
            "\"myschema.mytable\".");
}

}  // namespace
}  // namespace pgbak
