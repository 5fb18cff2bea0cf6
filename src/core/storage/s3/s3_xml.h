// s3_xml.h: reading S3's XML answers (ListObjectsV2, errors, multipart
// uploads) with expat, and escaping text for the CompleteMultipartUpload
// request body.
//
// An answer comes from whoever controls the endpoint or the bucket, so it is
// parsed by a real XML parser (libexpat) rather than searched for tags:
// entity and character references, CDATA sections and comments are handled
// as XML defines them, and a document that is not well-formed is an error,
// not a source of half-read elements. Document type declarations are refused
// (S3 never sends one; refusing them leaves no entity expansion to abuse).
// Elements are found by name at any depth, without namespace processing, as
// S3's flat, namespace-free documents allow.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pgbak {

// XmlElements returns the raw inner text (markup and references as they are
// in xml) of every outermost <tag> element of xml, in document order; an
// empty <tag/> gives "". xml is a whole document (an XML declaration may open
// it) or element content such as an earlier result of XmlElements. Throws a
// kIo Error naming the byte offset if xml is not well-formed.
std::vector<std::string_view> XmlElements(std::string_view xml, std::string_view tag);

// XmlText returns the text of the first <tag> element of xml (a document or
// element content, as for XmlElements), references decoded, or "" if there
// is none. It never throws for malformed input: an error answer may be
// anything, such as a proxy's HTML page; an element complete before the
// first error still counts, anything after it does not.
std::string XmlText(std::string_view xml, std::string_view tag);

// XmlEscape encodes text for element content or attribute values; tab,
// newline and carriage return become character references, so that XML's
// end-of-line and attribute normalization leave the text as it was.
std::string XmlEscape(std::string_view text);

}  // namespace pgbak
