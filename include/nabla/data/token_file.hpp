// nabla/data/token_file.hpp - training windows served straight from a memory-mapped token file.
//
//   nb::io::write_token_file("train.tokens", ids, vocabulary.size());      // once
//   nb::data::TokenFileDataset train("train.tokens", {.context = 128});
//   nb::data::DataLoader loader(train, {.batch_size = 32, .shuffle = true, .seed = 1, .num_workers = 2});
//   for (const auto& [inputs, targets] : loader) { ... }      // [32, 128] int64 each
//
// The file is mapped read-only (io::MappedFile), never read into memory: sample i is the window
// of context + 1 tokens starting at token i * stride, split into inputs (the first `context`
// tokens) and targets (the last `context`: each the token after its input). stride = context
// (the default) cuts the stream into back-to-back windows, sequential as a LanguageModelBatcher
// reads it without a shuffle; stride = 1 makes every position a window (random windows with a
// shuffled loader).
//
// Besides nabla's token files (io/token_file.hpp) the dataset maps 1-D .npy arrays of integer
// ids ('<u2', '<u4', '<i4', '<i8'), e.g. np.save("train.npy", ids.astype(np.uint16)); their
// vocabulary size comes from the options or from a scan of the ids.
//
// Checks when opening: the header (io::parse_token_file_header: every field, the file size);
// the payload's CRC-32 when `verify_checksum` says so (by default for files up to 64 MiB: the
// check reads the whole file); every id < vocabulary size with `validate_ids`. Any failure is
// an IOError naming the file and the field.
//
// Memory: pages of the mapping that a batch touches count in the resident set size. Once the
// touched pages add up to `resident_limit_bytes`, the dataset drops them from the mapping
// (MADV_DONTNEED), so RSS stays bounded however large the file is.
//
// Thread safety: get() and get_batch() may run on several threads at once (DataLoader workers).
// The dataset is a cheap handle: copies share one mapping.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nabla/core/error.hpp"
#include "nabla/core/tensor.hpp"
#include "nabla/data/dataset.hpp"
#include "nabla/io/crc32.hpp"
#include "nabla/io/file.hpp"
#include "nabla/io/mapped_file.hpp"
#include "nabla/io/npy.hpp"
#include "nabla/io/token_file.hpp"
#include "nabla/ops/factories.hpp"

namespace nabla::data {

struct TokenFileOptions {
  /// T: tokens per input row (each sample reads T + 1 tokens). Required (>= 1).
  std::int64_t context = 0;
  /// Tokens between the starts of consecutive windows; 0 means `context`.
  std::int64_t stride = 0;
  /// Check the payload's CRC-32 (reads the whole file once). Unset: only files up to 64 MiB.
  std::optional<bool> verify_checksum = std::nullopt;
  /// Check that every id is below the vocabulary size (reads the whole file once).
  bool validate_ids = false;
  /// For .npy files (which do not record it): the vocabulary size; 0 = the largest id + 1.
  std::uint64_t vocabulary_size = 0;
  /// Touched pages of the mapping kept before they are released; 0 = never release.
  std::uint64_t resident_limit_bytes = std::uint64_t{64} << 20;
  /// The windows are read in a random order (a shuffled loader, random_sampler): no read-ahead
  /// around each page fault (madvise MADV_RANDOM), and get_batch() asks the disk for all of a
  /// batch's windows at once (MADV_WILLNEED). Leave false for sequential reading.
  bool random_access = false;
};

/// Files up to this size have their checksum verified unless told otherwise.
inline constexpr std::uint64_t kTokenFileVerifyByDefaultBytes = std::uint64_t{64} << 20;

class TokenFileDataset {
 public:
  using Sample = Example<IndexTensor, IndexTensor>;
  using BatchType = Batch<IndexTensor, IndexTensor>;

  TokenFileDataset(std::string path, TokenFileOptions options) : impl_(std::make_shared<Impl>()) {
    Impl& impl = *impl_;
    impl.options = options;
    if (options.context < 1)
      throw ValueError("TokenFileDataset: " + path + ": context must be >= 1, got " + std::to_string(options.context));
    if (options.stride < 0)
      throw ValueError("TokenFileDataset: " + path + ": stride must be >= 0, got " + std::to_string(options.stride));
    impl.stride = options.stride == 0 ? options.context : options.stride;
    impl.file = io::MappedFile(path, "TokenFileDataset");
    const std::string context = "TokenFileDataset: " + impl.file.path();
    const unsigned char* bytes = impl.file.data();
    const std::uint64_t size = impl.file.size();
    static constexpr unsigned char kNpy[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    bool has_crc = false;
    if (size >= 6 && std::equal(kNpy, kNpy + 6, bytes)) {
      open_npy();
    } else {
      const io::TokenFileHeader header = io::parse_token_file_header(bytes, size, context);
      impl.width = header.width;
      impl.count = header.count;
      impl.vocabulary_size = header.vocabulary_size;
      impl.payload_begin = io::kTokenFileHeaderSize;
      impl.payload_crc32 = header.payload_crc32;
      has_crc = true;
    }
    if (impl.count < static_cast<std::uint64_t>(options.context) + 1)
      impl.file.fail("holds " + std::to_string(impl.count) +
                     " tokens, fewer than one window of context + 1 = " + std::to_string(options.context + 1));
    const bool verify = options.verify_checksum.value_or(size <= kTokenFileVerifyByDefaultBytes);
    if (verify && has_crc) verify_checksum();
    if (options.validate_ids || impl.vocabulary_size == 0) check_ids();
    if (options.random_access) impl.file.advise_random();
  }

  /// Windows in the file: (count - context - 1) / stride + 1.
  std::int64_t size() const {
    return static_cast<std::int64_t>((impl_->count - static_cast<std::uint64_t>(impl_->options.context) - 1) /
                                     static_cast<std::uint64_t>(impl_->stride)) +
           1;
  }

  /// Window `index`: inputs = tokens [s, s + T), targets = tokens [s + 1, s + T + 1), s = index * stride.
  Sample get(std::int64_t index) const {
    detail::check_sample_index("TokenFileDataset::get", index, size());
    const std::int64_t context = impl_->options.context;
    IndexTensor inputs = empty<std::int64_t>({context});
    IndexTensor targets = empty<std::int64_t>({context});
    copy_window(index, inputs.data(), targets.data());
    return {inputs, targets};
  }

  /// Windows `indices` as inputs and targets [indices.size(), context], one copy per row.
  BatchType get_batch(const std::vector<std::int64_t>& indices) const {
    for (const std::int64_t index : indices) detail::check_sample_index("TokenFileDataset::get_batch", index, size());
    const std::int64_t context = impl_->options.context;
    const auto rows = static_cast<std::int64_t>(indices.size());
    // Random windows of a cold file: ask for all of the batch's pages before touching any, so the
    // disk reads them in parallel rather than one page fault after another (a sequential reader
    // has the kernel's read-ahead instead).
    if (impl_->options.random_access && rows > 1) prefetch(indices);
    IndexTensor inputs = empty<std::int64_t>({rows, context});
    IndexTensor targets = empty<std::int64_t>({rows, context});
    for (std::int64_t row = 0; row < rows; ++row)
      copy_window(indices[static_cast<std::size_t>(row)], inputs.data() + row * context,
                  targets.data() + row * context);
    return {inputs, targets};
  }

  /// Starts reading the pages of windows `indices` from the disk without waiting (MADV_WILLNEED),
  /// so that a later get_batch() finds them cached: the DataLoader calls it with the next batch's
  /// indices while the model trains on the current one. Indices out of range are ignored here.
  void prefetch(const std::vector<std::int64_t>& indices) const {
    for (const std::int64_t index : indices)
      if (index >= 0 && index < size()) impl_->file.will_need(window_offset(index), window_bytes());
  }

  /// Token `position` of the stream (0 <= position < token_count()).
  std::int64_t token(std::uint64_t position) const {
    if (position >= impl_->count)
      throw ValueError("TokenFileDataset::token: position " + std::to_string(position) + " is out of range for " +
                       std::to_string(impl_->count) + " tokens");
    return impl_->id_at(position);
  }

  std::uint64_t token_count() const { return impl_->count; }
  std::uint64_t vocabulary_size() const { return impl_->vocabulary_size; }
  /// Bytes per id in the file: 2, 4 or (.npy int64) 8.
  std::uint32_t token_width() const { return impl_->width; }
  std::int64_t context() const { return impl_->options.context; }
  std::int64_t stride() const { return impl_->stride; }
  const std::string& path() const { return impl_->file.path(); }
  /// Drops every page of the mapping from the resident set now.
  void release_pages() const { impl_->file.release_all(); }

  /// Writes window `index` (unchecked: 0 <= index < size()) into inputs[0, T) and targets[0, T).
  void read_window(std::int64_t index, std::int64_t* inputs, std::int64_t* targets) const {
    copy_window(index, inputs, targets);
  }

 private:
  struct Impl {
    io::MappedFile file;
    TokenFileOptions options;
    std::int64_t stride = 1;
    std::uint32_t width = 2;
    bool npy_signed = false;
    std::uint64_t count = 0;
    std::uint64_t vocabulary_size = 0;
    std::uint64_t payload_begin = 0;
    std::uint32_t payload_crc32 = 0;
    mutable std::atomic<std::uint64_t> touched_bytes{0};

    std::int64_t id_at(std::uint64_t position) const {
      const unsigned char* p = file.data() + payload_begin + position * width;
      std::uint64_t value = io::load_little_endian(p, static_cast<int>(width));
      return static_cast<std::int64_t>(value);
    }
  };

  /// Where window `index`'s T + 1 tokens start in the file, and how many bytes they take.
  std::uint64_t window_offset(std::int64_t index) const {
    return impl_->payload_begin +
           static_cast<std::uint64_t>(index) * static_cast<std::uint64_t>(impl_->stride) * impl_->width;
  }
  std::uint64_t window_bytes() const { return (static_cast<std::uint64_t>(impl_->options.context) + 1) * impl_->width; }

  void copy_window(std::int64_t index, std::int64_t* inputs, std::int64_t* targets) const {
    const Impl& impl = *impl_;
    const auto context = static_cast<std::uint64_t>(impl.options.context);
    const std::uint64_t start = static_cast<std::uint64_t>(index) * static_cast<std::uint64_t>(impl.stride);
    const unsigned char* p = impl.file.data() + impl.payload_begin + start * impl.width;
    // One read of each of the T + 1 tokens: token t is input t and target t - 1.
    switch (impl.width) {
      case 2:
        for (std::uint64_t t = 0; t <= context; ++t) place(t, context, p[2 * t] | (p[2 * t + 1] << 8), inputs, targets);
        break;
      case 4:
        for (std::uint64_t t = 0; t <= context; ++t)
          place(t, context, static_cast<std::int64_t>(io::load_little_endian(p + 4 * t, 4)), inputs, targets);
        break;
      default:
        for (std::uint64_t t = 0; t <= context; ++t)
          place(t, context, static_cast<std::int64_t>(io::load_little_endian(p + 8 * t, 8)), inputs, targets);
    }
    note_touched(impl.payload_begin + start * impl.width, (context + 1) * impl.width);
  }

  static void place(std::uint64_t t, std::uint64_t context, std::int64_t id, std::int64_t* inputs,
                    std::int64_t* targets) {
    if (t < context) inputs[t] = id;
    if (t > 0) targets[t - 1] = id;
  }

  /// Counts the memory a read may have made resident; past the limit, releases the mapping's
  /// pages. A page fault maps not one page but the cached pages of its 64 KiB block (Linux's
  /// fault-around, fault_around_bytes), so each 64 KiB block a read touches counts in full
  /// (an overestimate for sequential reads, which then release a little more often).
  void note_touched(std::uint64_t offset, std::uint64_t length) const {
    const Impl& impl = *impl_;
    if (impl.options.resident_limit_bytes == 0) return;
    constexpr std::uint64_t kBlock = 65536;
    const std::uint64_t bytes = ((offset + length - 1) / kBlock - offset / kBlock + 1) * kBlock;
    const std::uint64_t total = impl.touched_bytes.fetch_add(bytes) + bytes;
    if (total >= impl.options.resident_limit_bytes) {
      std::uint64_t expected = total;
      // One thread releases; the others carry on (a concurrent read faults its page back in).
      if (impl.touched_bytes.compare_exchange_strong(expected, 0)) impl.file.release_all();
    }
  }

  void open_npy() {
    Impl& impl = *impl_;
    const io::FileReader reader(impl.file.path(), "TokenFileDataset");
    const io::detail::NpyHeader header = io::detail::read_npy_header(reader);
    if (header.fortran_order) reader.fail("Fortran-order .npy data is not supported");
    if (header.shape.size() != 1)
      reader.fail("a token .npy file must be 1-D, its 'shape' is " + to_string(header.shape));
    if (header.descr == "<u2" || header.descr == "|u2") {
      impl.width = 2;
    } else if (header.descr == "<u4") {
      impl.width = 4;
    } else if (header.descr == "<i4") {
      impl.width = 4;
      impl.npy_signed = true;
    } else if (header.descr == "<i8") {
      impl.width = 8;
      impl.npy_signed = true;
    } else {
      reader.fail("field 'descr' is '" + header.descr +
                  "'; token ids must be '<u2', '<u4', '<i4' or '<i8' (np.save(path, ids.astype(np.uint16)))");
    }
    impl.count = static_cast<std::uint64_t>(header.shape[0]);
    impl.payload_begin = header.data_begin;
    if (impl.count == 0) reader.fail("field 'shape' is (0,): the file holds no tokens");
    const std::uint64_t available = impl.file.size() - header.data_begin;
    if (impl.count > available / impl.width || impl.count * impl.width != available)
      reader.fail("field 'shape' says " + std::to_string(impl.count) + " ids of " + std::to_string(impl.width) +
                  " bytes, but the file has " + std::to_string(available) + " data bytes");
    impl.vocabulary_size = impl.options.vocabulary_size;
  }

  /// Reads the payload in pieces, releasing each piece's pages after it (RSS stays small).
  template <typename Visit>
  void for_each_piece(const Visit& visit) const {
    const Impl& impl = *impl_;
    constexpr std::uint64_t kPiece = std::uint64_t{16} << 20;
    const std::uint64_t bytes = impl.count * impl.width;
    for (std::uint64_t offset = 0; offset < bytes; offset += kPiece) {
      const std::uint64_t length = std::min(kPiece, bytes - offset);
      visit(impl.file.data() + impl.payload_begin + offset, length, offset / impl.width);
      impl.file.release(impl.payload_begin + offset, length);
    }
  }

  void verify_checksum() const {
    io::Crc32 crc;
    for_each_piece([&](const unsigned char* bytes, std::uint64_t length, std::uint64_t) {
      crc.update(bytes, static_cast<std::size_t>(length));
    });
    if (crc.value() != impl_->payload_crc32)
      impl_->file.fail("the payload's CRC-32 does not match field 'payload_crc32' (byte 32): the ids are damaged");
  }

  /// Checks every id against the vocabulary size, or (a .npy without one) finds the largest.
  void check_ids() {
    Impl& impl = *impl_;
    std::uint64_t largest = 0;
    for_each_piece([&](const unsigned char*, std::uint64_t length, std::uint64_t first) {
      const std::uint64_t end = first + length / impl.width;
      for (std::uint64_t position = first; position < end; ++position) {
        const std::int64_t id = impl.id_at(position);
        const bool negative = impl.npy_signed && (impl.width == 4 ? static_cast<std::int32_t>(id) < 0 : id < 0);
        if (negative)
          impl.file.fail("token " + std::to_string(position) + " is negative (" +
                         std::to_string(impl.width == 4 ? static_cast<std::int32_t>(id) : id) + ")");
        const auto value = static_cast<std::uint64_t>(id);
        if (impl.vocabulary_size != 0 && value >= impl.vocabulary_size)
          impl.file.fail("token " + std::to_string(position) + " is " + std::to_string(value) +
                         ", not below field 'vocabulary_size' (" + std::to_string(impl.vocabulary_size) + ")");
        largest = std::max(largest, value);
      }
    });
    if (impl.vocabulary_size == 0) impl.vocabulary_size = largest + 1;
  }

  std::shared_ptr<Impl> impl_;
};

/// The order of windows that reads a token stream as `rows` parallel streams, the way
/// LanguageModelBatcher (data/language_model.hpp) reads ids in memory, for truncated BPTT that
/// carries each row's state into the next batch. With `windows` back-to-back windows (a
/// TokenFileDataset whose stride is its context), R = windows / rows: row r is windows
/// r R, ..., r R + R - 1 (a contiguous stretch of the text), and batch k of a loader with
/// batch_size = rows is the windows {r R + k : r = 0, ..., rows - 1}, so its row r continues
/// row r of batch k - 1 exactly. The last windows % rows windows are left out.
inline std::vector<std::int64_t> stream_rows_order(std::int64_t windows, std::int64_t rows) {
  if (rows < 1) throw ValueError("stream_rows_order: rows must be >= 1, got " + std::to_string(rows));
  const std::int64_t per_row = windows / rows;
  if (per_row < 1)
    throw ValueError("stream_rows_order: " + std::to_string(windows) + " windows are too few for " +
                     std::to_string(rows) + " rows; every row needs at least one window");
  std::vector<std::int64_t> order;
  order.reserve(static_cast<std::size_t>(per_row * rows));
  for (std::int64_t k = 0; k < per_row; ++k)
    for (std::int64_t r = 0; r < rows; ++r) order.push_back(r * per_row + k);
  return order;
}

}  // namespace nabla::data
