// fuzz/spam.cpp - libFuzzer target: the spam_classifier example's e-mail reader
// (examples/spam_classifier/spam_corpus.hpp): the plausibility check of a file and the
// MIME/HTML cleaner (headers, multipart boundaries, base64, quoted-printable, HTML to text).
#include "../examples/spam_classifier/spam_corpus.hpp"
#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string message(reinterpret_cast<const char*>(data), size);
  try {
    spam_classifier::detail::check_email("fuzz.txt", message);
  } catch (const nabla_examples::DataError&) {
  }
  const std::string text = spam_classifier::message_text(message, spam_classifier::TextMode::clean);
  // The cleaner only removes and decodes: it never makes a message much longer than it was.
  if (text.size() > 2 * message.size() + 64) __builtin_trap();
  if (spam_classifier::message_text(message, spam_classifier::TextMode::raw) != message) __builtin_trap();
  return 0;
}
