// nabla/backend/cpu/packed_gemm.hpp - a small float GEMM of our own for products whose right
// operand is reused many times: C[m, n] = alpha * A[m, k] * op(B)[k, n] + beta * C, with op(B)
// packed ONCE into column panels and A read in place (row-major, any row stride).
//
// What it is for: the LSTM's recurrence multiplies the same W_hh by a small h_{t-1} (16 or 32
// rows) at every step. A general GEMM (oneDNN, OpenBLAS) packs W_hh again on every call, and at
// 16 rows that packing is a large part of the call; here it is paid once per pass over the
// sequence (PackedMatrix::pack) and each step only streams the panels.
//
// The pieces (docs/gemm.md derives the sizes):
// - PackedMatrix: op(B) cut into panels of `tile.columns` (NR) columns; panel j holds, for
//   p = 0..k-1, the NR values op(B)[p, j*NR .. j*NR+NR) side by side (zeros past column n), so
//   the kernel reads each panel front to back with aligned vector loads. The buffer holds the
//   panels' k blocks in the order packed_gemm reads them (block by block, panel by panel within
//   a block). PackedMatrix::view reads an untransposed B in place instead, without a copy.
// - the micro-kernel (tile_avx512 / tile_avx2 / tile_portable): an MR x NR block of C held in
//   registers over the whole k loop; per p it loads NR/lanes vectors of the panel, broadcasts
//   MR values of A, and issues MR * NR/lanes independent FMAs. The epilogue scales, adds beta *
//   C and stores with a mask at the right edge.
// - packed_gemm: for each panel, every MR-row tile of A (the panel stays in L1/L2 while the rows
//   reuse it); panels are split across threads when called outside a parallel region and the
//   product is large enough.
// The ISA is picked at run time (__builtin_cpu_supports): AVX-512F (MR 8, NR 32), else AVX2 +
// FMA (MR 6, NR 16), else plain C++ (MR 4, NR 16). The kernels are compiled per function with
// __attribute__((target(...))) (as bench/peak.hpp does), so a binary built without
// -march=native still uses the widest unit the CPU has.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <utility>

#include "nabla/backend/cpu/parallel.hpp"
#include "nabla/core/storage.hpp"

#if defined(__GNUC__) && defined(__x86_64__)
#define NABLA_PACKED_GEMM_X86 1
#include <immintrin.h>
#else
#define NABLA_PACKED_GEMM_X86 0
#endif

namespace nabla::backend::cpu {

/// The instruction sets packed_gemm has kernels for, widest first.
enum class GemmIsa { avx512, avx2, portable };

inline const char* gemm_isa_name(GemmIsa isa) {
  switch (isa) {
    case GemmIsa::avx512:
      return "avx512f";
    case GemmIsa::avx2:
      return "avx2+fma";
    case GemmIsa::portable:
      break;
  }
  return "portable";
}

/// Whether this CPU can run `isa`'s kernel.
inline bool gemm_isa_available(GemmIsa isa) {
#if NABLA_PACKED_GEMM_X86
  switch (isa) {
    case GemmIsa::avx512:
      return __builtin_cpu_supports("avx512f");
    case GemmIsa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case GemmIsa::portable:
      break;
  }
#endif
  return isa == GemmIsa::portable;
}

/// The instruction set packed_gemm uses by default (decided once): the widest this CPU has a
/// kernel for, unless the environment's NABLA_GEMM_ISA names a narrower one ("avx2" or
/// "portable"), e.g. to measure the AVX2 code path on an AVX-512 CPU. A name the CPU cannot run,
/// or any other value, is ignored.
inline GemmIsa best_gemm_isa() {
  static const GemmIsa best = [] {
    const GemmIsa widest = gemm_isa_available(GemmIsa::avx512) ? GemmIsa::avx512
                           : gemm_isa_available(GemmIsa::avx2) ? GemmIsa::avx2
                                                               : GemmIsa::portable;
    const char* setting = std::getenv("NABLA_GEMM_ISA");
    if (setting == nullptr) return widest;
    const std::string_view name(setting);
    const GemmIsa asked = name == "avx2" ? GemmIsa::avx2 : name == "portable" ? GemmIsa::portable : widest;
    // The enum lists the ISAs widest first: only a narrower one than the widest may be asked for.
    return static_cast<int>(asked) >= static_cast<int>(widest) && gemm_isa_available(asked) ? asked : widest;
  }();
  return best;
}

/// The register tile of an ISA's micro-kernel: `rows` (MR) of C by `columns` (NR).
/// AVX-512: 8 x 32 = 16 accumulators of 16 floats (of 32 zmm registers), enough independent
/// FMAs to cover 4 cycles of latency on 2 pipes twice over. AVX2: 6 x 16 = 12 accumulators of 8
/// (of 16 ymm). docs/gemm.md derives both.
struct GemmTile {
  int rows;
  int columns;
};

constexpr GemmTile gemm_tile(GemmIsa isa) {
  return isa == GemmIsa::avx512 ? GemmTile{8, 32} : isa == GemmIsa::avx2 ? GemmTile{6, 16} : GemmTile{4, 16};
}

/// The depth (k) of the blocks packed_gemm multiplies at a time: 32 KB of a panel, so that a
/// block of the panel fits the L1 data cache (32 KB or more on every x86 core since Sandy Bridge).
constexpr std::int64_t packed_gemm_depth(GemmIsa isa) { return 8192 / gemm_tile(isa).columns; }

/// op(B) [k, n] packed into panels of gemm_tile(isa).columns columns for packed_gemm. Packing
/// again with the same or smaller size reuses the buffer; the buffer comes from the same cache
/// as tensors' storage (core/storage.hpp), so a layer that packs W_hh once per pass gets the
/// previous step's block back instead of fresh pages from the kernel. Move-only.
class PackedMatrix {
 public:
  PackedMatrix() = default;
  ~PackedMatrix() { release(); }
  PackedMatrix(PackedMatrix&& other) noexcept { take(other); }
  PackedMatrix& operator=(PackedMatrix&& other) noexcept {
    if (this != &other) {
      release();
      take(other);
    }
    return *this;
  }
  PackedMatrix(const PackedMatrix&) = delete;
  PackedMatrix& operator=(const PackedMatrix&) = delete;

  /// Packs op(B): B is [k, n] with row stride ldb, or [n, k] when trans_b (op(B) = B^T).
  void pack(bool trans_b, std::int64_t k, std::int64_t n, const float* b, std::int64_t ldb,
            GemmIsa isa = best_gemm_isa()) {
    isa_ = isa;
    k_ = k;
    n_ = n;
    const std::int64_t width = panel_width();
    const std::int64_t panels = this->panels();
    reserve(static_cast<std::size_t>(panels * width * std::max<std::int64_t>(k, 1)));
    view_ = nullptr;
    row_stride_ = width;
    // Large matrices (XL's 16 MB W_hh) are packed by all threads, panel by panel.
    parallel_for(0, panels, std::max<std::int64_t>(1, (std::int64_t{1} << 16) / std::max<std::int64_t>(k * width, 1)),
                 [&](std::int64_t first, std::int64_t last) {
                   for (std::int64_t j = first; j < last; ++j) {
                     const std::int64_t column0 = j * width, valid = std::min(width, n - column0);
                     for (std::int64_t block = 0; block < k; block += depth()) {
                       float* const out = data_ + block_offset(block, j);
                       const std::int64_t rows = std::min(depth(), k - block);
                       if (trans_b) {  // op(B)[p, column] = B[column, p]: read rows of B, write with stride `width`
                         for (std::int64_t c = 0; c < width; ++c)
                           for (std::int64_t p = 0; p < rows; ++p)
                             out[p * width + c] = c < valid ? b[(column0 + c) * ldb + block + p] : 0.f;
                       } else {
                         for (std::int64_t p = 0; p < rows; ++p)
                           for (std::int64_t c = 0; c < width; ++c)
                             out[p * width + c] = c < valid ? b[(block + p) * ldb + column0 + c] : 0.f;
                       }
                     }
                   }
                 });
  }

  /// Reads B [k, n] (row stride ldb, not transposed) IN PLACE instead of copying it: row p of
  /// panel j is then B[p, j*NR .. j*NR+NR), already contiguous, ldb floats after row p-1. No
  /// copy at all, so nothing to amortize (the LSTM's backward multiplies by W_hh untransposed);
  /// the price is that a panel's rows are ldb apart, so a block of it spreads over fewer cache
  /// sets than when packed. Only for n a multiple of panel_width() (no zero padding to read) and
  /// B 64-byte aligned with ldb a multiple of 16 floats (aligned vector loads); view_possible
  /// says so. B must outlive every packed_gemm call that uses this.
  void view(std::int64_t k, std::int64_t n, const float* b, std::int64_t ldb, GemmIsa isa = best_gemm_isa()) {
    isa_ = isa;
    k_ = k;
    n_ = n;
    view_ = b;
    row_stride_ = ldb;
  }

  /// Whether view(k, n, b, ldb, isa) is allowed.
  static bool view_possible(std::int64_t n, const float* b, std::int64_t ldb, GemmIsa isa = best_gemm_isa()) {
    return n % gemm_tile(isa).columns == 0 && ldb % 16 == 0 && reinterpret_cast<std::uintptr_t>(b) % 64 == 0;
  }

  std::int64_t k() const { return k_; }
  std::int64_t n() const { return n_; }
  GemmIsa isa() const { return isa_; }
  std::int64_t panel_width() const { return gemm_tile(isa_).columns; }
  std::int64_t panels() const { return (n_ + panel_width() - 1) / panel_width(); }
  /// The k depth() rows a block of the panels holds (the last block fewer).
  std::int64_t depth() const { return packed_gemm_depth(isa_); }
  /// Rows first_row .. first_row + depth() of panel j (first_row a multiple of depth()), each
  /// of panel_width() floats, row_stride() floats apart (panel_width() when packed, ldb for a
  /// view). Packed, the blocks lie in the order packed_gemm reads them: block by block, and in a
  /// block panel by panel, so a call streams the whole buffer front to back.
  const float* block(std::int64_t first_row, std::int64_t j) const {
    return view_ != nullptr ? view_ + first_row * row_stride_ + j * panel_width() : data_ + block_offset(first_row, j);
  }
  /// Panel j's first block.
  const float* panel(std::int64_t j) const { return block(0, j); }
  std::int64_t row_stride() const { return row_stride_; }
  /// Whether this reads B in place (view) rather than a packed copy.
  bool in_place() const { return view_ != nullptr; }

 private:
  std::int64_t block_offset(std::int64_t first_row, std::int64_t j) const {
    return first_row * panels() * panel_width() + j * std::min(depth(), k_ - first_row) * panel_width();
  }

  void reserve(std::size_t floats) {
    const std::size_t bytes = (floats * sizeof(float) + kStorageAlignment - 1) / kStorageAlignment * kStorageAlignment;
    if (bytes <= bytes_) return;
    release();
    data_ = static_cast<float*>(nabla::detail::HostBlockCache::instance().allocate(bytes));  // 64-byte aligned
    bytes_ = bytes;
  }

  void release() noexcept {
    if (data_ != nullptr) nabla::detail::HostBlockCache::instance().release(data_, bytes_);
    data_ = nullptr;
    bytes_ = 0;
  }

  void take(PackedMatrix& other) noexcept {
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    k_ = other.k_;
    n_ = other.n_;
    isa_ = other.isa_;
    view_ = std::exchange(other.view_, nullptr);
    row_stride_ = other.row_stride_;
  }

  float* data_ = nullptr;
  std::size_t bytes_ = 0;
  std::int64_t k_ = 0, n_ = 0;
  GemmIsa isa_ = GemmIsa::portable;
  const float* view_ = nullptr;  // B itself, for a view
  std::int64_t row_stride_ = 0;
};

namespace packed_detail {

/// Everything a micro-kernel call needs besides the tile's row count.
struct TileArguments {
  std::int64_t k;
  const float* a;  // the tile's first row of A
  std::int64_t lda;
  const float* panel;
  std::int64_t ldp;  // floats from one row of the panel to the next
  float* c;          // the tile's top-left element of C
  std::int64_t ldc;
  std::int64_t columns;  // valid columns of this panel: panel width, or fewer at the right edge
  float alpha, beta;
};

#if NABLA_PACKED_GEMM_X86
/// AVX-512F: `Rows` x 32 of C in 2 * Rows zmm accumulators.
template <int Rows>
__attribute__((target("avx512f"))) void tile_avx512(const TileArguments& t) {
  __m512 acc[Rows][2];
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  const float* b = t.panel;
  for (std::int64_t p = 0; p < t.k; ++p, b += t.ldp) {
    const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      const __m512 a = _mm512_set1_ps(t.a[r * t.lda + p]);
      acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
    }
  }
  // Lanes past the matrix's last column are masked off (the panel's zero padding computed them).
  const std::int64_t valid_low = std::clamp<std::int64_t>(t.columns, 0, 16);
  const std::int64_t valid_high = std::clamp<std::int64_t>(t.columns - 16, 0, 16);
  const __mmask16 masks[2] = {static_cast<__mmask16>((std::uint32_t{1} << valid_low) - 1),
                              static_cast<__mmask16>((std::uint32_t{1} << valid_high) - 1)};
  const __m512 alpha = _mm512_set1_ps(t.alpha), beta = _mm512_set1_ps(t.beta);
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r)
    for (int h = 0; h < 2; ++h) {
      float* const c = t.c + r * t.ldc + 16 * h;
      __m512 out = _mm512_mul_ps(alpha, acc[r][h]);
      if (t.beta != 0.f) out = _mm512_fmadd_ps(beta, _mm512_maskz_loadu_ps(masks[h], c), out);
      _mm512_mask_storeu_ps(c, masks[h], out);
    }
}

/// AVX2 + FMA: `Rows` x 16 of C in 2 * Rows ymm accumulators.
template <int Rows>
__attribute__((target("avx2,fma"))) void tile_avx2(const TileArguments& t) {
  __m256 acc[Rows][2];
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  const float* b = t.panel;
  for (std::int64_t p = 0; p < t.k; ++p, b += t.ldp) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      const __m256 a = _mm256_broadcast_ss(t.a + r * t.lda + p);
      acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
    }
  }
  // No lambda here: a lambda's body would not inherit the target attribute the intrinsics need.
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int valid_low = static_cast<int>(std::clamp<std::int64_t>(t.columns, 0, 8));
  const int valid_high = static_cast<int>(std::clamp<std::int64_t>(t.columns - 8, 0, 8));
  const __m256i masks[2] = {_mm256_cmpgt_epi32(_mm256_set1_epi32(valid_low), lane),  // lane < valid
                            _mm256_cmpgt_epi32(_mm256_set1_epi32(valid_high), lane)};
  const __m256 alpha = _mm256_set1_ps(t.alpha), beta = _mm256_set1_ps(t.beta);
#pragma GCC unroll 8
  for (int r = 0; r < Rows; ++r)
    for (int h = 0; h < 2; ++h) {
      float* const c = t.c + r * t.ldc + 8 * h;
      __m256 out = _mm256_mul_ps(alpha, acc[r][h]);
      if (t.beta != 0.f) out = _mm256_fmadd_ps(beta, _mm256_maskload_ps(c, masks[h]), out);
      _mm256_maskstore_ps(c, masks[h], out);
    }
}
#endif

/// Plain C++: `Rows` x 16 of C in an array the compiler may keep in vector registers.
template <int Rows>
void tile_portable(const TileArguments& t) {
  constexpr int kWidth = 16;
  float acc[Rows][kWidth] = {};
  const float* b = t.panel;
  for (std::int64_t p = 0; p < t.k; ++p, b += t.ldp)
    for (int r = 0; r < Rows; ++r) {
      const float a = t.a[r * t.lda + p];
      for (int column = 0; column < kWidth; ++column) acc[r][column] += a * b[column];
    }
  for (int r = 0; r < Rows; ++r)
    for (std::int64_t column = 0; column < t.columns; ++column) {
      float& c = t.c[r * t.ldc + column];
      c = t.beta == 0.f ? t.alpha * acc[r][column] : t.alpha * acc[r][column] + t.beta * c;
    }
}

/// One panel of C (all m rows): full MR-row tiles, then one tile of the remaining rows.
/// `Tile<Rows>` is the ISA's kernel; the switch gives each remainder a fully unrolled kernel.
template <int MaxRows, template <int> class Tile>
void panel_rows(std::int64_t m, TileArguments t) {
  std::int64_t row = 0;
  const float* const a = t.a;
  float* const c = t.c;
  for (; row + MaxRows <= m; row += MaxRows) {
    t.a = a + row * t.lda;
    t.c = c + row * t.ldc;
    Tile<MaxRows>::run(t);
  }
  t.a = a + row * t.lda;
  t.c = c + row * t.ldc;
  switch (m - row) {  // MaxRows <= 8
    case 7:
      if constexpr (MaxRows > 7) Tile<7>::run(t);
      break;
    case 6:
      if constexpr (MaxRows > 6) Tile<6>::run(t);
      break;
    case 5:
      if constexpr (MaxRows > 5) Tile<5>::run(t);
      break;
    case 4:
      if constexpr (MaxRows > 4) Tile<4>::run(t);
      break;
    case 3:
      Tile<3>::run(t);
      break;
    case 2:
      Tile<2>::run(t);
      break;
    case 1:
      Tile<1>::run(t);
      break;
    default:
      break;
  }
}

// Class wrappers: a template template parameter cannot name a function template.
#if NABLA_PACKED_GEMM_X86
template <int Rows>
struct Avx512Tile {
  static void run(const TileArguments& t) { tile_avx512<Rows>(t); }
};
template <int Rows>
struct Avx2Tile {
  static void run(const TileArguments& t) { tile_avx2<Rows>(t); }
};
#endif
template <int Rows>
struct PortableTile {
  static void run(const TileArguments& t) { tile_portable<Rows>(t); }
};

}  // namespace packed_detail

/// Multiply-adds above which packed_gemm splits its panels across threads (outside a parallel
/// region): the same threshold as gemm's kParallelGemmWork.
inline constexpr std::int64_t kPackedGemmParallelWork = std::int64_t{1} << 21;

/// C[m, n] = alpha * A[m, k] * op(B) + beta * C, with op(B) [k, n] given packed; A and C are
/// row-major with row strides lda and ldc. beta == 0 writes C without reading it (NaN-safe).
inline void packed_gemm(std::int64_t m, const float* a, std::int64_t lda, const PackedMatrix& b, float alpha,
                        float beta, float* c, std::int64_t ldc) {
  const std::int64_t n = b.n(), k = b.k(), width = b.panel_width(), panels = b.panels(), ldp = b.row_stride();
  if (m <= 0 || n <= 0) return;
  const std::int64_t threads = std::min<std::int64_t>(get_num_threads(), panels);
  const std::int64_t grain =
      m * n * k >= kPackedGemmParallelWork && threads > 1 ? (panels + threads - 1) / threads : panels;
  // k in blocks of packed_gemm_depth(): one block of a panel (32 KB) stays in L1 while every row
  // tile reads it, and the block of A it meets (m x depth) stays in L1/L2 across the panels.
  // Blocks after the first add to C (beta 1).
  const std::int64_t depth = b.depth();
  parallel_for(0, panels, grain, [&](std::int64_t first, std::int64_t last) {
    for (std::int64_t block = 0; block == 0 || block < k; block += depth)
      for (std::int64_t j = first; j < last; ++j) {
        const packed_detail::TileArguments t{std::min(depth, k - block),
                                             a + block,
                                             lda,
                                             b.block(block, j),
                                             ldp,
                                             c + j * width,
                                             ldc,
                                             std::min(width, n - j * width),
                                             alpha,
                                             block == 0 ? beta : 1.f};
        switch (b.isa()) {
#if NABLA_PACKED_GEMM_X86
          case GemmIsa::avx512:
            packed_detail::panel_rows<8, packed_detail::Avx512Tile>(m, t);
            break;
          case GemmIsa::avx2:
            packed_detail::panel_rows<6, packed_detail::Avx2Tile>(m, t);
            break;
#endif
          default:
            packed_detail::panel_rows<4, packed_detail::PortableTile>(m, t);
            break;
        }
      }
  });
}

}  // namespace nabla::backend::cpu
