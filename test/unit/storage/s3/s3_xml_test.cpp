// s3_xml_test.cpp: element lookup and entity handling (src/core/s3_xml.cpp)
// on documents shaped like S3's answers: ListObjectsV2, errors, multipart
// uploads; and malformed input, which must neither crash nor loop.
#include "core/storage/s3/s3_xml.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace pgbak {
namespace {

// Strings turns the views XmlElements returns into owned strings for
// comparisons.
std::vector<std::string> Strings(const std::vector<std::string_view>& views) {
  return std::vector<std::string>(views.begin(), views.end());
}

// A ListObjectsV2 page as S3 sends it (namespace on the root, escaped '&',
// raw UTF-8 in a key, quoted ETags, a continuation token).
constexpr char kListPage[] =
    R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>backups</Name>
  <Prefix>prod/</Prefix>
  <KeyCount>3</KeyCount>
  <MaxKeys>1000</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <Contents>
    <Key>prod/a&amp;b/set.manifest</Key>
    <LastModified>2026-11-20T01:02:03.000Z</LastModified>
    <ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>
    <Size>1234</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>prod/café/数据.dump</Key>
    <LastModified>2026-11-20T01:02:04.000Z</LastModified>
    <ETag>&quot;d41d8cd98f00b204e9800998ecf8427e-3&quot;</ETag>
    <Size>16777216000</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <Contents>
    <Key>prod/x &lt;y&gt; &apos;z&apos;</Key>
    <LastModified>2026-11-20T01:02:05.000Z</LastModified>
    <ETag>&quot;00&quot;</ETag>
    <Size>0</Size>
    <StorageClass>STANDARD</StorageClass>
  </Contents>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
</ListBucketResult>)";

TEST(S3XmlTest, ListObjectsV2Page) {
  EXPECT_EQ(XmlText(kListPage, "Name"), "backups");
  EXPECT_EQ(XmlText(kListPage, "IsTruncated"), "true");
  EXPECT_EQ(XmlText(kListPage, "NextContinuationToken"),
            "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");

  std::vector<std::string_view> contents = XmlElements(kListPage, "Contents");
  ASSERT_EQ(contents.size(), 3u);
  EXPECT_EQ(XmlText(contents[0], "Key"), "prod/a&b/set.manifest");
  EXPECT_EQ(XmlText(contents[0], "Size"), "1234");
  EXPECT_EQ(XmlText(contents[0], "ETag"), "\"9b2cf535f27731c974343645a3985328\"");
  EXPECT_EQ(XmlText(contents[1], "Key"), "prod/café/数据.dump");
  EXPECT_EQ(XmlText(contents[1], "Size"), "16777216000");
  EXPECT_EQ(XmlText(contents[1], "ETag"), "\"d41d8cd98f00b204e9800998ecf8427e-3\"");
  EXPECT_EQ(XmlText(contents[2], "Key"), "prod/x <y> 'z'");
  EXPECT_EQ(XmlText(contents[2], "Size"), "0");

  // The raw inner text is not unescaped; only XmlText unescapes.
  EXPECT_EQ(Strings(XmlElements(kListPage, "Key")),
            (std::vector<std::string>{"prod/a&amp;b/set.manifest", "prod/café/数据.dump",
                                      "prod/x &lt;y&gt; &apos;z&apos;"}));
}

TEST(S3XmlTest, LastPageHasNoContinuationToken) {
  const char page[] =
      R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name>)"
      R"(<Prefix>p/</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>)"
      R"(<IsTruncated>false</IsTruncated></ListBucketResult>)";
  EXPECT_EQ(XmlText(page, "IsTruncated"), "false");
  EXPECT_EQ(XmlText(page, "NextContinuationToken"), "");
  EXPECT_TRUE(XmlElements(page, "Contents").empty());
  EXPECT_EQ(XmlText(page, "KeyCount"), "0");
}

TEST(S3XmlTest, ElementWithAttributes) {
  std::vector<std::string_view> roots = XmlElements(kListPage, "ListBucketResult");
  ASSERT_EQ(roots.size(), 1u);
  EXPECT_EQ(XmlText(roots[0], "Name"), "backups");
  EXPECT_EQ(XmlText(R"(<Part number="1" kind='x'>one</Part>)", "Part"), "one");
  EXPECT_EQ(XmlText("<Part\tid=\"1\"\n>tab</Part>", "Part"), "tab");
}

TEST(S3XmlTest, ErrorDocument) {
  const char error[] =
      R"(<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>SignatureDoesNotMatch</Code>
  <Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message>
  <AWSAccessKeyId>AKIAIOSFODNN7EXAMPLE</AWSAccessKeyId>
  <StringToSign>AWS4-HMAC-SHA256&#10;20130524T000000Z</StringToSign>
  <RequestId>4442587FB7D0A2F9</RequestId>
  <HostId>eftixk72aD6Ap51TnqcoF8eFidJG9Z/2mkiDFu8yU9AS1ed4OpIszj7UDNEHGran</HostId>
</Error>)";
  EXPECT_EQ(XmlElements(error, "Error").size(), 1u);
  EXPECT_EQ(XmlText(error, "Code"), "SignatureDoesNotMatch");
  EXPECT_EQ(XmlText(error, "Message"),
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.");
  EXPECT_EQ(XmlText(error, "StringToSign"), "AWS4-HMAC-SHA256\n20130524T000000Z");
  EXPECT_EQ(XmlText(error, "RequestId"), "4442587FB7D0A2F9");
}

TEST(S3XmlTest, InitiateMultipartUploadResult) {
  const char initiate[] =
      R"(<?xml version="1.0" encoding="UTF-8"?>
<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>backups</Bucket>
  <Key>prod/2026/set-1.dump.zst</Key>
  <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>
</InitiateMultipartUploadResult>)";
  EXPECT_EQ(XmlText(initiate, "UploadId"),
            "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA");
  EXPECT_EQ(XmlText(initiate, "Key"), "prod/2026/set-1.dump.zst");
  EXPECT_EQ(XmlText(initiate, "Bucket"), "backups");
}

TEST(S3XmlTest, CompleteMultipartUploadResultAndErrorInside200) {
  const char complete[] =
      R"(<?xml version="1.0" encoding="UTF-8"?>
<CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Location>https://backups.s3.amazonaws.com/prod/set-1.dump.zst</Location>
  <Bucket>backups</Bucket>
  <Key>prod/set-1.dump.zst</Key>
  <ETag>"3858f62230ac3c915f300c664312c11f-9"</ETag>
</CompleteMultipartUploadResult>)";
  EXPECT_EQ(XmlElements(complete, "CompleteMultipartUploadResult").size(), 1u);
  EXPECT_TRUE(XmlElements(complete, "Error").empty());
  EXPECT_EQ(XmlText(complete, "ETag"), "\"3858f62230ac3c915f300c664312c11f-9\"");
  EXPECT_EQ(XmlText(complete, "Location"), "https://backups.s3.amazonaws.com/prod/set-1.dump.zst");

  // S3 can answer CompleteMultipartUpload with 200 and an error document.
  const char error_in_200[] =
      R"(<?xml version="1.0" encoding="UTF-8"?>

<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>)";
  EXPECT_TRUE(XmlElements(error_in_200, "CompleteMultipartUploadResult").empty());
  EXPECT_EQ(XmlElements(error_in_200, "Error").size(), 1u);
  EXPECT_EQ(XmlText(error_in_200, "Code"), "InternalError");
}

TEST(S3XmlTest, EmptyElements) {
  EXPECT_EQ(Strings(XmlElements("<A><Tag/><Tag /><Tag></Tag><Tag>x</Tag></A>", "Tag")),
            (std::vector<std::string>{"", "", "", "x"}));
  EXPECT_EQ(Strings(XmlElements(R"(<Tag a="1"/>)", "Tag")), (std::vector<std::string>{""}));
  EXPECT_EQ(XmlText("<Prefix/><Prefix>later</Prefix>", "Prefix"), "");
  EXPECT_EQ(XmlText("<A>x</A>", "Missing"), "");
}

TEST(S3XmlTest, LongerNameWithTheSamePrefixIsNotTheElement) {
  const char uploads[] =
      R"(<ListMultipartUploadsResult><Bucket>b</Bucket><KeyMarker>m&amp;</KeyMarker>)"
      R"(<UploadIdMarker></UploadIdMarker><NextKeyMarker>n</NextKeyMarker>)"
      R"(<Upload><Key>k1</Key><UploadId>u1</UploadId></Upload>)"
      R"(<Upload><Key>k2</Key><UploadId>u2</UploadId></Upload></ListMultipartUploadsResult>)";
  EXPECT_EQ(Strings(XmlElements(uploads, "Key")), (std::vector<std::string>{"k1", "k2"}));
  EXPECT_EQ(XmlText(uploads, "Key"), "k1");
  EXPECT_EQ(XmlText(uploads, "KeyMarker"), "m&");
  EXPECT_EQ(Strings(XmlElements(uploads, "UploadId")), (std::vector<std::string>{"u1", "u2"}));
  EXPECT_EQ(XmlText(uploads, "UploadIdMarker"), "");
  EXPECT_EQ(XmlElements(uploads, "Upload").size(), 2u);
  // A shorter name is not found inside a longer one either.
  EXPECT_TRUE(XmlElements("<KeyMarker>m</KeyMarker>", "Key").empty());
  EXPECT_TRUE(XmlElements("<NextKeyMarker>m</NextKeyMarker>", "KeyMarker").empty());
}

TEST(S3XmlTest, CharacterReferences) {
  EXPECT_EQ(XmlUnescape("caf&#233;"), "caf\xC3\xA9");
  EXPECT_EQ(XmlUnescape("caf&#xE9;"), "caf\xC3\xA9");
  EXPECT_EQ(XmlUnescape("&#x1F600;"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(XmlUnescape("&#X1f600;"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(XmlUnescape("&#128512;"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(XmlUnescape("&#65;&#x42;&#x7FF;&#x800;"), "AB\xDF\xBF\xE0\xA0\x80");
  EXPECT_EQ(XmlUnescape("a&#10;b&#13;c&#9;d"), "a\nb\rc\td");
  EXPECT_EQ(XmlText("<Key>caf&#233;/&#x1F600;.dump</Key>", "Key"),
            "caf\xC3\xA9/\xF0\x9F\x98\x80.dump");
}

TEST(S3XmlTest, InvalidCodePointsBecomeReplacementCharacter) {
  const std::string replacement = "\xEF\xBF\xBD";
  EXPECT_EQ(XmlUnescape("&#0;"), replacement);
  EXPECT_EQ(XmlUnescape("&#xD800;"), replacement);
  EXPECT_EQ(XmlUnescape("&#x110000;"), replacement);
  EXPECT_EQ(XmlUnescape("&#9999999999;"), replacement);
  EXPECT_EQ(XmlUnescape("&#xFFFFFFFF;"), replacement);
}

TEST(S3XmlTest, PredefinedEntitiesAndLiteralAmpersands) {
  EXPECT_EQ(XmlUnescape("&lt;&gt;&amp;&quot;&apos;"), "<>&\"'");
  EXPECT_EQ(XmlUnescape("&amp;lt;"), "&lt;");  // decoded once, not twice
  EXPECT_EQ(XmlUnescape("plain text"), "plain text");
  EXPECT_EQ(XmlUnescape(""), "");
  // Anything that is not a known reference stays as it was.
  EXPECT_EQ(XmlUnescape("a & b"), "a & b");
  EXPECT_EQ(XmlUnescape("a & b; c"), "a & b; c");
  EXPECT_EQ(XmlUnescape("&nbsp;"), "&nbsp;");
  EXPECT_EQ(XmlUnescape("&amp"), "&amp");
  EXPECT_EQ(XmlUnescape("&"), "&");
  EXPECT_EQ(XmlUnescape("&;"), "&;");
  EXPECT_EQ(XmlUnescape("&#;"), "&#;");
  EXPECT_EQ(XmlUnescape("&#x;"), "&#x;");
  EXPECT_EQ(XmlUnescape("&#12a;"), "&#12a;");
  EXPECT_EQ(XmlUnescape("&#xZZ;"), "&#xZZ;");
  EXPECT_EQ(XmlUnescape("&averyveryverylongname;"), "&averyveryverylongname;");
}

TEST(S3XmlTest, EscapeRoundTrips) {
  EXPECT_EQ(XmlEscape(R"(a<b>&"c"'d')"), "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;");
  EXPECT_EQ(XmlEscape("\"etag-1\""), "&quot;etag-1&quot;");
  EXPECT_EQ(XmlEscape("caf\xC3\xA9 \xF0\x9F\x98\x80"), "caf\xC3\xA9 \xF0\x9F\x98\x80");
  EXPECT_EQ(XmlEscape(""), "");
  for (const std::string text : {"prod/a&b/<x>", "\"3858f62230ac3c915f300c664312c11f-9\"",
                                 "it's &amp; already", "caf\xC3\xA9"}) {
    EXPECT_EQ(XmlUnescape(XmlEscape(text)), text);
    EXPECT_EQ(XmlText("<ETag>" + XmlEscape(text) + "</ETag>", "ETag"), text);
  }
}

TEST(S3XmlTest, MalformedInputNeitherCrashesNorLoops) {
  // Each of these must return (the test would hang otherwise) with no
  // element made up from the broken part.
  EXPECT_TRUE(XmlElements("", "Key").empty());
  EXPECT_TRUE(XmlElements("<", "Key").empty());
  EXPECT_TRUE(XmlElements("<Key", "Key").empty());
  EXPECT_TRUE(XmlElements("<Key ", "Key").empty());
  EXPECT_TRUE(XmlElements("<Key/", "Key").empty());
  EXPECT_TRUE(XmlElements("<Key>", "Key").empty());
  EXPECT_TRUE(XmlElements("<Key>unterminated", "Key").empty());
  EXPECT_TRUE(XmlElements("<Key>almost</Key", "Key").empty());
  EXPECT_TRUE(XmlElements(R"(<Key attr="never closed)", "Key").empty());
  EXPECT_TRUE(XmlElements("</Key></Key>", "Key").empty());
  EXPECT_TRUE(XmlElements("<Keys><Keyx><Key", "Key").empty());
  EXPECT_EQ(XmlText("<Key>", "Key"), "");
  EXPECT_EQ(XmlUnescape("&#"), "&#");
  EXPECT_EQ(XmlUnescape("&#x"), "&#x");
  EXPECT_EQ(XmlUnescape("trailing &"), "trailing &");

  // Complete elements before a truncation are still found.
  EXPECT_EQ(Strings(XmlElements("<Key>a</Key><Key>b</Key><Key>trunc", "Key")),
            (std::vector<std::string>{"a", "b"}));

  // A document cut at every possible length.
  const std::string page = kListPage;
  for (size_t length = 0; length <= page.size(); length++) {
    std::string_view cut(page.data(), length);
    std::vector<std::string_view> contents = XmlElements(cut, "Contents");
    EXPECT_LE(contents.size(), 3u);
    for (std::string_view entry : contents) {
      EXPECT_FALSE(XmlText(entry, "Key").empty());
    }
    XmlText(cut, "NextContinuationToken");
  }

  // Unbalanced and stray markup.
  const std::string garbage =
      "<<<Key>>>&&&#;;<Key/></Key><Key<Key>x</Key>>&#xFFFFFFFFFFFFFFFFFFFF;";
  std::vector<std::string_view> keys = XmlElements(garbage, "Key");
  EXPECT_FALSE(keys.empty());
  XmlUnescape(garbage);
}

}  // namespace
}  // namespace pgbak
