// s3_xml.h: just enough XML for S3's answers (ListObjectsV2, errors,
// multipart uploads) and for the CompleteMultipartUpload request body.
//
// S3's responses are flat, namespace-free documents of known shape, so
// elements are found by name rather than by parsing a tree; text is
// unescaped (the five predefined entities and numeric references).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pgbak {

// XmlElements returns the raw inner text of every <tag>...</tag> in xml, in
// order (elements may carry attributes; an empty <tag/> gives "").
std::vector<std::string_view> XmlElements(std::string_view xml, std::string_view tag);

// XmlText returns the unescaped text of the first <tag> element, or "".
std::string XmlText(std::string_view xml, std::string_view tag);

// XmlUnescape decodes entity and character references.
std::string XmlUnescape(std::string_view text);

// XmlEscape encodes text for element content or attribute values.
std::string XmlEscape(std::string_view text);

}  // namespace pgbak
