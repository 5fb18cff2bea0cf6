// fuzz_s3_xml.cpp: libFuzzer harness for reading S3's XML answers
// (src/core/storage/s3/s3_xml.cpp), which come from whoever controls the
// endpoint or the bucket.
//
// Each input is read as S3Storage reads its answers: a listing's Contents
// with their Key and Size, IsTruncated and NextContinuationToken, a listing
// of uploads, an error's Code and Message. Properties:
//   - XmlElements returns or throws a kIo Error, nothing else; XmlText never
//     throws;
//   - every view XmlElements returns lies within the input, and is element
//     content that XmlElements reads again without error; XmlText of the
//     document and of its first element's content agree;
//   - text escaped with XmlEscape reads back as itself whenever the escaped
//     document is well-formed (it is not for bytes XML does not allow).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/base/error.h"
#include "core/storage/s3/s3_xml.h"
#include "fuzz_util.h"

namespace pgbak {
namespace {

using fuzz::Check;

// Elements is XmlElements, checked; empty if the text is not well-formed.
std::vector<std::string_view> Elements(std::string_view xml, std::string_view tag, bool* ok) {
  try {
    std::vector<std::string_view> found = XmlElements(xml, tag);
    for (std::string_view view : found) {
      Check(view.data() >= xml.data() && view.data() + view.size() <= xml.data() + xml.size(),
            "a view lies outside the text");
    }
    *ok = true;
    return found;
  } catch (const Error& error) {
    Check(error.kind() == ErrorKind::kIo,
          std::string("XmlElements threw an Error of another kind: ") + error.what());
    *ok = false;
    return {};
  }
}

// CheckTag reads tag in xml both ways and checks that they agree.
void CheckTag(std::string_view xml, std::string_view tag) {
  bool ok = false;
  std::vector<std::string_view> found = Elements(xml, tag, &ok);
  std::string text = XmlText(xml, tag);
  if (!ok) {
    return;
  }
  for (std::string_view view : found) {
    bool inner_ok = false;
    Elements(view, "Key", &inner_ok);
    Check(inner_ok, "the content of an element is not well-formed content");
  }
  if (found.empty()) {
    Check(text.empty(), "XmlText found an element XmlElements did not");
    return;
  }
  std::string wrapped =
      "<" + std::string(tag) + ">" + std::string(found[0]) + "</" + std::string(tag) + ">";
  Check(XmlText(wrapped, tag) == text, "XmlText of the element's content differs");
}

// ReadLikeS3Storage does what S3Storage does with an answer.
void ReadLikeS3Storage(std::string_view xml) {
  bool ok = false;
  for (std::string_view contents : Elements(xml, "Contents", &ok)) {
    XmlText(contents, "Key");
    XmlText(contents, "Size");
  }
  for (std::string_view upload : Elements(xml, "Upload", &ok)) {
    XmlText(upload, "Key");
    XmlText(upload, "UploadId");
  }
  for (const char* tag : {"IsTruncated", "NextContinuationToken", "Code", "Message", "UploadId"}) {
    XmlText(xml, tag);
  }
}

void CheckEscape(std::string_view text) {
  std::string document = "<ETag>" + XmlEscape(text) + "</ETag>";
  bool ok = false;
  Elements(document, "ETag", &ok);
  if (ok) {
    Check(XmlText(document, "ETag") == text, "escaped text does not read back as itself");
  }
}

}  // namespace
}  // namespace pgbak

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view xml(reinterpret_cast<const char*>(data), size);
  pgbak::ReadLikeS3Storage(xml);
  for (const char* tag : {"Contents", "Key", "Error", "Upload"}) {
    pgbak::CheckTag(xml, tag);
  }
  pgbak::CheckEscape(xml);
  return 0;
}
