// s3_xml.cpp: S3 documents through libexpat.
//
// XmlElements hands back views into the caller's text, and callers look into
// those views again, so both functions accept element content as well as a
// document: the text is parsed inside a wrapper element of our own (after
// the XML declaration, if it has one), which makes several top-level
// elements and bare text legal and a document type declaration an error.
// Offsets from expat are mapped back past the wrapper into the caller's text.
// The input is read as UTF-8 whatever its declaration says, so those offsets
// are byte offsets of the text as given.
#include "core/storage/s3/s3_xml.h"

#include <expat.h>

#include <limits>
#include <memory>
#include <type_traits>

#include "core/base/error.h"
#include "core/base/no_postgres.h"

namespace pgbak {

namespace {

// kWrapperOpen and kWrapperClose enclose the text given: a name with a
// hyphen, which no S3 element has.
constexpr std::string_view kWrapperOpen = "<pgbak-xml>";
constexpr std::string_view kWrapperClose = "</pgbak-xml>";

// kMaxDepth bounds element nesting (the wrapper included). S3's answers nest
// four deep; expat keeps every open element on its heap, so without a bound
// a 16 MiB answer of "<a>" would cost hundreds of MiB.
constexpr int kMaxDepth = 64;

// ParserDeleter frees an expat parser (ParserPtr owns one).
struct ParserDeleter {
  void operator()(XML_Parser parser) const { XML_ParserFree(parser); }
};
using ParserPtr = std::unique_ptr<std::remove_pointer_t<XML_Parser>, ParserDeleter>;

// PrologSize is the length of what must stay before the wrapper: a UTF-8
// byte order mark and an XML declaration ("<?xml" and a space, up to "?>").
// Without a closing "?>" the whole text is prolog, which expat then rejects.
size_t PrologSize(std::string_view xml) {
  size_t size = 0;
  if (xml.substr(0, 3) == "\xEF\xBB\xBF") {
    size = 3;
  }
  std::string_view rest = xml.substr(size);
  if (rest.size() > 5 && rest.substr(0, 5) == "<?xml" &&
      (rest[5] == ' ' || rest[5] == '\t' || rest[5] == '\n' || rest[5] == '\r')) {
    size_t end = rest.find("?>");
    size += end == std::string_view::npos ? rest.size() : end + 2;
  }
  return size;
}

// TagReader finds the outermost elements named tag_ in one text.
class TagReader {
 public:
  TagReader(std::string_view xml, std::string_view tag, bool first_only)
      : xml_(xml), tag_(tag), first_only_(first_only), prolog_(PrologSize(xml)) {}

  // Read parses the text; false if it is not well-formed (error() says why),
  // unless first_only and the first element ended before the error.
  bool Read() {
    ParserPtr owner(XML_ParserCreate("UTF-8"));
    if (!owner) {
      throw Error(ErrorKind::kInternal, "could not create an XML parser");
    }
    parser_ = owner.get();
    XML_SetUserData(parser_, this);
    XML_SetElementHandler(parser_, &TagReader::OnStart, &TagReader::OnEnd);
    XML_SetCharacterDataHandler(parser_, &TagReader::OnText);
    bool ok = Feed(xml_.substr(0, prolog_), false) && Feed(kWrapperOpen, false) &&
              Feed(xml_.substr(prolog_), false) && Feed(kWrapperClose, true);
    if (!ok && !done_ && error_.empty()) {
      error_ = std::string(XML_ErrorString(XML_GetErrorCode(parser_))) + " at byte " +
               std::to_string(Offset(XML_GetCurrentByteIndex(parser_)));
    }
    parser_ = nullptr;
    return ok || done_;
  }

  const std::vector<std::string_view>& elements() const { return elements_; }
  const std::string& text() const { return text_; }
  const std::string& error() const { return error_; }

 private:
  // Feed passes one piece of the stream to expat; false once it stopped.
  bool Feed(std::string_view piece, bool last) {
    // Pieces beyond INT_MAX bytes cannot be passed in one call; S3 answers
    // are read with a limit far below that.
    if (piece.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
      error_ = "document too large";
      return false;
    }
    return XML_Parse(parser_, piece.data(), static_cast<int>(piece.size()), last ? 1 : 0) ==
           XML_STATUS_OK;
  }

  // Offset maps a position in the stream fed to expat to one in xml_.
  size_t Offset(XML_Index index) const {
    size_t at = index < 0 ? 0 : static_cast<size_t>(index);
    if (at >= prolog_ + kWrapperOpen.size()) {
      at -= kWrapperOpen.size();
    } else if (at > prolog_) {
      at = prolog_;
    }
    return at < xml_.size() ? at : xml_.size();
  }

  // Stop ends the parse from inside a handler.
  void Stop(std::string why) {
    if (error_.empty() && !why.empty()) {
      error_ = std::move(why);
    }
    XML_StopParser(parser_, XML_FALSE);
  }

  // OnStart notes where a matching element's content begins; nesting below
  // a match is only counted.
  static void OnStart(void* data, const XML_Char* name, const XML_Char** /*attributes*/) {
    auto* self = static_cast<TagReader*>(data);
    if (++self->depth_ > kMaxDepth) {
      self->Stop("elements nested deeper than " + std::to_string(kMaxDepth) + " levels at byte " +
                 std::to_string(self->Offset(XML_GetCurrentByteIndex(self->parser_))));
      return;
    }
    if (self->match_depth_ > 0) {
      self->match_depth_++;
      return;
    }
    if (self->tag_ == name) {
      self->match_depth_ = 1;
      self->inner_begin_ = self->Offset(XML_GetCurrentByteIndex(self->parser_) +
                                        XML_GetCurrentByteCount(self->parser_));
    }
  }

  // OnEnd files a matching element's content when its end tag closes it.
  static void OnEnd(void* data, const XML_Char* /*name*/) {
    auto* self = static_cast<TagReader*>(data);
    self->depth_--;
    if (self->match_depth_ == 0 || --self->match_depth_ > 0) {
      return;
    }
    // The end of an empty-element tag (<tag/>) is reported with no bytes of
    // its own, right after the tag.
    size_t inner_end = self->inner_begin_;
    if (XML_GetCurrentByteCount(self->parser_) > 0) {
      inner_end = self->Offset(XML_GetCurrentByteIndex(self->parser_));
    }
    if (inner_end < self->inner_begin_) {
      inner_end = self->inner_begin_;
    }
    self->elements_.push_back(
        self->xml_.substr(self->inner_begin_, inner_end - self->inner_begin_));
    if (self->first_only_) {
      self->done_ = true;
      self->Stop({});
    }
  }

  // OnText gathers the decoded text of the first match (first_only_ only).
  static void OnText(void* data, const XML_Char* text, int size) {
    auto* self = static_cast<TagReader*>(data);
    if (self->first_only_ && self->match_depth_ > 0 && self->elements_.empty()) {
      self->text_.append(text, static_cast<size_t>(size));
    }
  }

  std::string_view xml_;
  std::string_view tag_;
  bool first_only_;
  size_t prolog_;
  XML_Parser parser_ = nullptr;
  int depth_ = 0;
  int match_depth_ = 0;     // open elements from the current match down, 0 outside
  size_t inner_begin_ = 0;  // offset in xml_ after the current match's start tag
  bool done_ = false;       // first_only_ and the first match ended
  std::vector<std::string_view> elements_;
  std::string text_;  // character data of the first match
  std::string error_;
};

}  // namespace

std::vector<std::string_view> XmlElements(std::string_view xml, std::string_view tag) {
  TagReader reader(xml, tag, false);
  if (!reader.Read()) {
    throw Error(ErrorKind::kIo, "S3 answered with XML that is not well-formed", reader.error());
  }
  return reader.elements();
}

std::string XmlText(std::string_view xml, std::string_view tag) {
  TagReader reader(xml, tag, true);
  reader.Read();
  return reader.elements().empty() ? std::string() : reader.text();
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\t':
        out += "&#9;";
        break;
      case '\n':
        out += "&#10;";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace pgbak
