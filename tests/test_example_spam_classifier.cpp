// Tests of the spam classifier example's data pieces (examples/spam_classifier/spam_corpus.hpp):
// the decoders (quoted-printable, base64, HTML), header parsing, the text of MIME messages,
// the stratified split, and the strict corpus loader on missing and damaged data. No network:
// every message is written here.
#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nabla/nabla.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "../examples/spam_classifier/spam_corpus.hpp"
#include "temp_dir.hpp"

// The unity build compiles several test files in one translation unit: names stay per file.
namespace test_example_spam_classifier {

namespace example = spam_classifier;
namespace detail = spam_classifier::detail;

namespace {

void write_file(const std::filesystem::path& path, const std::string& contents) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream file(path, std::ios::binary);
  file << contents;
}

/// Writes the five groups, two small messages each, into the scratch directory `root`.
const std::filesystem::path& make_corpus(const std::filesystem::path& root) {
  for (const auto& group : example::kGroups)
    for (int i = 1; i <= 2; ++i)
      write_file(root / "data" / group.name / ("0000" + std::to_string(i) + ".abc.txt"),
                 "From x@example.com  Thu Aug 22 13:17:22 2002\nSubject: " + std::string(group.name) + " " +
                     std::to_string(i) + "\n\nbody of message " + std::to_string(i) + "\n");
  return root;
}

}  // namespace

TEST_CASE("spam_classifier: quoted-printable decoding", "[example][spam_classifier]") {
  CHECK(detail::decode_quoted_printable("caf=E9 =3D a soft=\nbreak") == "caf\xE9 = a softbreak");
  // A '=' that starts no escape passes through.
  CHECK(detail::decode_quoted_printable("a = b, =ZZ, end=") == "a = b, =ZZ, end=");
}

TEST_CASE("spam_classifier: base64 decoding", "[example][spam_classifier]") {
  CHECK(detail::decode_base64("SGVsbG8sIHdv\ncmxkIQ==") == "Hello, world!");
  CHECK(detail::decode_base64("TWFu") == "Man");
  CHECK(detail::decode_base64("") == "");
  // Damaged input gives what could be decoded, never an error.
  CHECK(detail::decode_base64("TW!!Fu") == "Man");
}

TEST_CASE("spam_classifier: HTML to text", "[example][spam_classifier]") {
  const std::string text = detail::html_to_text(
      "<HTML><head><STYLE>p { color: red }</STYLE><script>var x = 1;</script></head>"
      "<body><p>Buy&nbsp;now &amp; save&#33;</p><!-- hidden words --></body></HTML>");
  CHECK(text.find("Buy now & save!") != std::string::npos);
  CHECK(text.find("color") == std::string::npos);
  CHECK(text.find("var") == std::string::npos);
  CHECK(text.find("hidden") == std::string::npos);
  CHECK(text.find('<') == std::string::npos);
  // An unclosed tag swallows the rest, and a stray '&' stays.
  CHECK(detail::html_to_text("a & b <unclosed") == "a & b  ");
}

TEST_CASE("spam_classifier: header parsing", "[example][spam_classifier]") {
  const auto fields = detail::parse_headers(
      "From someone@example.com  Thu Aug 22 13:17:22 2002\n"
      "Subject: a long\n\tfolded subject\n"
      "Content-Type: multipart/alternative;\n boundary=\"=_next part\"\n"
      "{\"not\": \"a header\"}\n");
  REQUIRE(fields.size() == 2);
  CHECK(detail::header_value(fields, "subject") == "a long folded subject");
  const std::string content_type = detail::header_value(fields, "content-type");
  CHECK(detail::media_type(content_type) == "multipart/alternative");
  CHECK(detail::content_type_parameter(content_type, "boundary") == "=_next part");
  CHECK(detail::content_type_parameter("text/plain; charset=us-ascii; format=flowed", "charset") == "us-ascii");
  CHECK(detail::content_type_parameter("text/plain", "boundary").empty());
  CHECK(detail::header_value(fields, "to").empty());
}

namespace {

/// A multipart message with a quoted-printable text part, a base64 HTML part and an image.
const std::string kMimeMessage =
    "From spammer@example.com  Thu Aug 22 13:17:22 2002\r\n"
    "Received: from relay.example.com\r\n"
    "Subject: Cheap offer\r\n"
    "Content-Type: multipart/mixed; boundary=outer\r\n"
    "\r\n"
    "This is a multi-part message in MIME format.\r\n"
    "--outer\r\n"
    "Content-Type: multipart/alternative; boundary=\"inner\"\r\n"
    "\r\n"
    "--inner\r\n"
    "Content-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Save 50=25 to=\r\n"
    "day\r\n"
    "--inner\r\n"
    "Content-Type: text/html\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "PGI+Q2xpY2sgaGVyZTwvYj4=\r\n"  // <b>Click here</b>
    "--inner--\r\n"
    "--outer\r\n"
    "Content-Type: image/gif\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=\r\n"
    "--outer--\r\n"
    "epilogue words\r\n";

}  // namespace

TEST_CASE("spam_classifier: the text of a MIME message", "[example][spam_classifier]") {
  const std::string& message = kMimeMessage;
  const std::string text = example::message_text(message, example::TextMode::clean);
  CHECK(text.starts_with("Cheap offer\n"));
  CHECK(text.find("Save 50% today") != std::string::npos);
  CHECK(text.find("Click here") != std::string::npos);
  CHECK(text.find("<b>") == std::string::npos);
  CHECK(text.find("R0lGOD") == std::string::npos);  // the image is left out
  CHECK(text.find("relay") == std::string::npos);   // so are the other headers
  CHECK(text.find("preamble") == std::string::npos);
  CHECK(text.find("multi-part message") == std::string::npos);
  CHECK(text.find("epilogue") == std::string::npos);
  CHECK(example::message_text(message, example::TextMode::raw) == message);
}

TEST_CASE("spam_classifier: malformed MIME never fails", "[example][spam_classifier]") {
  // Parts nested far deeper than any real message: the depth bound stops the descent.
  std::string nested = "Subject: deep\nContent-Type: multipart/mixed; boundary=b\n\n";
  for (int level = 0; level < 50; ++level) nested += "--b\nContent-Type: multipart/mixed; boundary=b\n\n";
  nested += "innermost";
  CHECK_NOTHROW(example::message_text(nested, example::TextMode::clean));
  // A multipart without a boundary, a part without headers, no closing delimiter.
  CHECK(example::message_text("Subject: s\nContent-Type: multipart/mixed\n\nplain body", example::TextMode::clean) ==
        "s\nplain body");
  CHECK(example::message_text("Subject: s\nContent-Type: multipart/mixed; boundary=x\n\n--x\n\nno headers here",
                              example::TextMode::clean)
            .find("no headers here") != std::string::npos);
  // Headers only (no body at all).
  CHECK(example::message_text("Subject: only headers", example::TextMode::clean) == "only headers\n");
}

TEST_CASE("spam_classifier: a message cut after every byte", "[example][spam_classifier]") {
  // What an interrupted copy leaves: every prefix must give some text, never an error or a
  // read past the end (the sanitizer build checks the latter).
  for (std::size_t length = 0; length <= kMimeMessage.size(); ++length) {
    const std::string prefix = kMimeMessage.substr(0, length);
    INFO("length " << length);
    REQUIRE_NOTHROW(example::message_text(prefix, example::TextMode::clean));
  }
  CHECK(example::message_text(kMimeMessage.substr(0, kMimeMessage.find("day\r\n")), example::TextMode::clean)
            .find("Save 50% to") != std::string::npos);
}

TEST_CASE("spam_classifier: stratified split", "[example][spam_classifier]") {
  std::vector<int> labels;
  for (int i = 0; i < 100; ++i) labels.push_back(i % 4 == 0 ? 1 : 0);  // 25 spam, 75 ham
  const example::Split split = example::stratified_split(labels, 0.2, 7);
  REQUIRE(split.test.size() == 20);  // round(0.2 * 75) + round(0.2 * 25) = 15 + 5
  REQUIRE(split.train.size() == 80);
  CHECK(std::count_if(split.test.begin(), split.test.end(), [&](std::size_t i) { return labels[i] == 1; }) == 5);
  std::set<std::size_t> all(split.train.begin(), split.train.end());
  all.insert(split.test.begin(), split.test.end());
  CHECK(all.size() == 100);  // disjoint, and every sample is used
  CHECK(std::is_sorted(split.test.begin(), split.test.end()));
  CHECK_FALSE(std::is_sorted(split.train.begin(), split.train.end()));  // shuffled for validation_split

  const example::Split again = example::stratified_split(labels, 0.2, 7);
  CHECK(again.train == split.train);
  CHECK(again.test == split.test);
  CHECK(example::stratified_split(labels, 0.2, 8).test != split.test);

  REQUIRE_THROWS_AS(example::stratified_split(labels, 0.001, 7), std::invalid_argument);
  REQUIRE_THROWS_WITH(example::stratified_split({0, 0, 1}, 0.5, 7), Catch::Contains("too few spam messages (1)"));
}

TEST_CASE("spam_classifier: loading the corpus", "[example][spam_classifier]") {
  const nabla_test::TempDir scratch("spam_classifier");
  const std::filesystem::path& root = make_corpus(scratch.path());
  const example::Corpus corpus = example::load_corpus(root);
  REQUIRE(corpus.emails.size() == 10);
  CHECK_FALSE(corpus.is_full());
  CHECK(corpus.emails.front().group == "easy-ham-1");
  CHECK(corpus.emails.front().label == 0);
  CHECK(corpus.emails.back().group == "spam-2");
  CHECK(corpus.emails.back().label == 1);
  CHECK(example::message_text(corpus.emails.back().raw, example::TextMode::clean) == "spam-2 2\nbody of message 2\n");
  // The group directories may also sit directly in the given directory.
  CHECK(example::load_corpus(root / "data").emails.size() == 10);
}

TEST_CASE("spam_classifier: missing and damaged data", "[example][spam_classifier]") {
  const nabla_test::TempDir scratch("spam_classifier");
  const std::filesystem::path& root = make_corpus(scratch.path());
  REQUIRE_THROWS_AS(example::load_corpus(root / "nowhere"), example::DataMissing);

  const auto expect_corrupted = [&](const std::string& expected) {
    REQUIRE_THROWS_AS(example::load_corpus(root), example::DataCorrupted);
    REQUIRE_THROWS_WITH(example::load_corpus(root), Catch::Contains(expected));
  };
  const std::filesystem::path spam = root / "data" / "spam-1";
  write_file(spam / "00003.empty.txt", "");
  expect_corrupted("00003.empty.txt: the file is empty");
  write_file(spam / "00003.empty.txt", "Subject: cut in the head");
  expect_corrupted("the file looks truncated");
  write_file(spam / "00003.empty.txt", "{\"id\": \"00003\"}\n\n");
  expect_corrupted("does not start with e-mail headers");
  write_file(spam / "00003.empty.txt", std::string("Subject: a\n\nNUL\0byte", 19));
  expect_corrupted("NUL bytes");
  std::filesystem::remove(spam / "00003.empty.txt");
  CHECK(example::load_corpus(root).emails.size() == 10);

  std::filesystem::remove_all(root / "data" / "hard-ham-1");
  expect_corrupted("hard-ham-1' is missing");
  std::filesystem::create_directories(root / "data" / "hard-ham-1");
  write_file(root / "data" / "hard-ham-1" / "notes.json", "{}");
  expect_corrupted("holds no .txt e-mails");
}

}  // namespace test_example_spam_classifier
