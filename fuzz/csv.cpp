// fuzz/csv.cpp - libFuzzer target: the CSV reader (data/csv.hpp) and its conversions to
// tensors. The first byte picks the options (header or not, delimiter, missing-value policy).
#include <nabla/data/csv.hpp>
#include <sstream>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  nabla_fuzz::Bytes bytes(data, size);
  const std::uint8_t choice = bytes.byte();
  nabla::data::CsvOptions options;
  options.header = (choice & 1) == 0;
  options.delimiter = (choice & 2) ? ';' : ',';
  options.missing = static_cast<nabla::data::MissingPolicy>((choice >> 2) % 3);
  if (choice & 32) options.missing_values = {"", "NA", "?"};
  std::istringstream input{std::string(bytes.rest())};
  try {
    const nabla::data::CsvTable table = nabla::data::read_csv(input, options, "fuzz.csv");
    for (std::int64_t column = 0; column < table.num_columns(); ++column) {
      try {
        (void)table.column<float>(column);
      } catch (const nabla::Error&) {
      }
      try {
        (void)table.column<std::int64_t>(column);
      } catch (const nabla::Error&) {
      }
      (void)table.strings(column);
    }
    if (table.num_rows() > 0) (void)table.line_of_row(table.num_rows() - 1);
    try {
      (void)table.to_tensor<double>();
    } catch (const nabla::Error&) {
    }
  } catch (const nabla::Error&) {
  }
  return 0;
}
