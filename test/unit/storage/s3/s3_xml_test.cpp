// s3_xml_test.cpp: reading S3's answers with expat (src/core/storage/s3/
// s3_xml.cpp) on documents shaped like S3's answers: ListObjectsV2, errors,
// multipart uploads; and on malformed or hostile input, which XmlElements
// refuses and XmlText reads no further than its first error.
#include "core/storage/s3/s3_xml.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"

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
  EXPECT_TRUE(XmlElements("", "Key").empty());
  EXPECT_TRUE(XmlElements("  \n", "Key").empty());
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

TEST(S3XmlTest, OnlyOutermostElementsAreReturned) {
  // Nested elements of the same name stay inside the outer one's text.
  EXPECT_EQ(Strings(XmlElements("<A><T>1<T>2</T>3</T><T>4</T></A>", "T")),
            (std::vector<std::string>{"1<T>2</T>3", "4"}));
  EXPECT_EQ(XmlText("<T>1<T>2</T>3</T>", "T"), "123");
}

TEST(S3XmlTest, CharacterReferences) {
  EXPECT_EQ(XmlText("<K>caf&#233;</K>", "K"), "caf\xC3\xA9");
  EXPECT_EQ(XmlText("<K>caf&#xE9;</K>", "K"), "caf\xC3\xA9");
  EXPECT_EQ(XmlText("<K>&#x1F600;</K>", "K"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(XmlText("<K>&#128512;</K>", "K"), "\xF0\x9F\x98\x80");
  EXPECT_EQ(XmlText("<K>&#65;&#x42;&#x7FF;&#x800;</K>", "K"), "AB\xDF\xBF\xE0\xA0\x80");
  EXPECT_EQ(XmlText("<K>a&#10;b&#13;c&#9;d</K>", "K"), "a\nb\rc\td");
  EXPECT_EQ(XmlText("<Key>caf&#233;/&#x1F600;.dump</Key>", "Key"),
            "caf\xC3\xA9/\xF0\x9F\x98\x80.dump");
  EXPECT_EQ(XmlText("<K>&lt;&gt;&amp;&quot;&apos;</K>", "K"), "<>&\"'");
  EXPECT_EQ(XmlText("<K>&amp;lt;</K>", "K"), "&lt;");  // decoded once, not twice
  EXPECT_EQ(XmlText("<K><![CDATA[a<b>&amp;]]></K>", "K"), "a<b>&amp;");
  EXPECT_EQ(XmlText("<K>a<!-- comment -->b</K>", "K"), "ab");
}

TEST(S3XmlTest, InvalidReferencesAreErrors) {
  // References to characters XML does not allow, unknown entities and bare
  // ampersands make the document malformed: XmlText finds nothing in the
  // element they spoil, XmlElements refuses the document.
  for (const char* text : {"&#0;", "&#xD800;", "&#x110000;", "&#9999999999;", "&#xFFFFFFFF;",
                           "&nbsp;", "a & b", "&amp", "&;", "&#;", "&#x;", "&#12a;"}) {
    std::string document = std::string("<K>") + text + "</K>";
    EXPECT_EQ(XmlText(document, "K"), "") << text;
    EXPECT_THROW(XmlElements(document, "K"), Error) << text;
  }
  // An element complete before the error is still read by XmlText.
  EXPECT_EQ(XmlText("<Error><Code>SlowDown</Code><Message>a & b</Message></Error>", "Code"),
            "SlowDown");
  EXPECT_EQ(XmlText("<Error><Code>SlowDown</Code><Message>a & b</Message></Error>", "Message"), "");
}

TEST(S3XmlTest, EscapeRoundTrips) {
  EXPECT_EQ(XmlEscape(R"(a<b>&"c"'d')"), "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;");
  EXPECT_EQ(XmlEscape("\"etag-1\""), "&quot;etag-1&quot;");
  EXPECT_EQ(XmlEscape("caf\xC3\xA9 \xF0\x9F\x98\x80"), "caf\xC3\xA9 \xF0\x9F\x98\x80");
  EXPECT_EQ(XmlEscape("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d");
  EXPECT_EQ(XmlEscape(""), "");
  for (const std::string text : {"prod/a&b/<x>", "\"3858f62230ac3c915f300c664312c11f-9\"",
                                 "it's &amp; already", "caf\xC3\xA9", "cr\r\nlf\r"}) {
    EXPECT_EQ(XmlText("<ETag>" + XmlEscape(text) + "</ETag>", "ETag"), text);
  }
}

TEST(S3XmlTest, MalformedDocumentsAreRefusedByXmlElements) {
  for (const char* text :
       {"<", "<Key", "<Key ", "<Key/", "<Key>", "<Key>unterminated", "<Key>almost</Key",
        R"(<Key attr="never closed)", "</Key></Key>", "<Keys><Keyx><Key", "<Key>a</Key><Key>b",
        "<Key>a</Other>", "<?xml version=\"1.0\"", "<a><?xml version=\"1.0\"?></a>"}) {
    EXPECT_THROW(XmlElements(text, "Key"), Error) << text;
    EXPECT_EQ(XmlText(text, "Missing"), "") << text;
  }
  try {
    XmlElements("<A>\n<Key>a</Key>\n<Key>b\n</A>", "Key");
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_EQ(error.kind(), ErrorKind::kIo);
    EXPECT_STREQ(error.what(), "S3 answered with XML that is not well-formed");
    EXPECT_EQ(error.detail(), "mismatched tag at byte 26");
  }
  // XmlText still reads what came before the break.
  EXPECT_EQ(XmlText("<Key>a</Key><Key>b", "Key"), "a");
  EXPECT_EQ(XmlText("<Key>", "Key"), "");

  // A document cut at every possible length: refused or read in full.
  const std::string page = kListPage;
  for (size_t length = 0; length <= page.size(); length++) {
    std::string_view cut(page.data(), length);
    try {
      std::vector<std::string_view> contents = XmlElements(cut, "Contents");
      EXPECT_TRUE(contents.empty() || contents.size() == 3u) << length;
      for (std::string_view entry : contents) {
        EXPECT_FALSE(XmlText(entry, "Key").empty());
      }
    } catch (const Error& error) {
      EXPECT_EQ(error.kind(), ErrorKind::kIo);
    }
    XmlText(cut, "NextContinuationToken");
  }
}

TEST(S3XmlTest, DocumentTypeDeclarationsAreRefused) {
  // Entity expansion ("billion laughs") and external entities need a DTD.
  const char laughs[] = R"(<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">)"
                        R"(<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>)"
                        R"(<Error><Code>&lol2;</Code></Error>)";
  EXPECT_THROW(XmlElements(laughs, "Code"), Error);
  EXPECT_EQ(XmlText(laughs, "Code"), "");
  const char external[] =
      R"(<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>)"
      R"(<Error><Code>&x;</Code></Error>)";
  EXPECT_THROW(XmlElements(external, "Code"), Error);
  EXPECT_EQ(XmlText(external, "Code"), "");
}

TEST(S3XmlTest, DeepNestingIsAnErrorNotAMemoryHog) {
  std::string deep;
  for (int i = 0; i < 100000; i++) {
    deep += "<a>";
  }
  try {
    XmlElements(deep, "Key");
    FAIL() << "no error";
  } catch (const Error& error) {
    EXPECT_NE(error.detail().find("nested deeper than 64 levels"), std::string::npos)
        << error.detail();
  }
  EXPECT_EQ(XmlText(deep, "a"), "");
  // 62 levels below the document's own root are fine.
  std::string ok;
  for (int i = 0; i < 62; i++) {
    ok += "<a>";
  }
  ok += "<Key>k</Key>";
  for (int i = 0; i < 62; i++) {
    ok += "</a>";
  }
  EXPECT_EQ(XmlText(ok, "Key"), "k");
}

TEST(S3XmlTest, DeclaredEncodingIsIgnoredAndByteOrderMarkAccepted) {
  // S3 answers in UTF-8; the text is read as UTF-8 whatever it declares, so
  // the views XmlElements returns are always the bytes as given.
  const char latin1[] =
      "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><R><Key>caf\xC3\xA9</Key></R>";
  EXPECT_EQ(Strings(XmlElements(latin1, "Key")), (std::vector<std::string>{"caf\xC3\xA9"}));
  EXPECT_EQ(XmlText("\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<R><Key>k</Key></R>", "Key"), "k");
  EXPECT_EQ(XmlText("\xEF\xBB\xBF<R><Key>k</Key></R>", "Key"), "k");
  // Bytes that are not UTF-8 make the document malformed.
  EXPECT_THROW(XmlElements("<R><Key>caf\xE9</Key></R>", "Key"), Error);
}

}  // namespace
}  // namespace pgbak
