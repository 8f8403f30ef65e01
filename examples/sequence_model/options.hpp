// examples/sequence_model/options.hpp - the command line of the sequence_model example, on the
// examples' shared CLI11 layer (examples/common/cli.hpp): --help lists every flag; a malformed
// command line prints one line and exits with status 2.
#pragma once

#include <cstdint>
#include <limits>
#include <sstream>
#include <string>

#include "../common/cli.hpp"
#include "../common/distributed.hpp"
#include "brown_corpus.hpp"

namespace sequence_model {

using nabla_examples::UsageError;

struct Options {
  // model
  std::int64_t embedding_size = 0;  // 0: the hidden size
  std::int64_t hidden_size = 256;
  std::int64_t layers = 1;
  double dropout = 0.25;
  bool tie_weights = true;
  // training
  std::int64_t epochs = 1;
  std::int64_t batch = 20;
  std::int64_t bptt = 35;
  std::string optimizer = "adam";
  double lr = 0;  // 0: the optimizer's default (see default_learning_rate)
  double lr_decay = 0.5;
  double clip = 1.0;
  std::int64_t max_train_tokens = 200000;  // 0: all 800,000
  std::uint64_t seed = 1;
  int threads = 0;                           // 0: every core
  std::string matmul_precision = "highest";  // nabla::set_float32_matmul_precision
  std::string device = "cpu";
  std::int64_t log_interval = 0;  // 0: about ten progress lines per epoch
  // data
  std::string data_dir;  // the corpus's default directory unless --data-dir
  std::int64_t train_tokens = 800000;
  std::int64_t validation_tokens = 200000;
  std::int64_t rare_count = 3;
  std::string token_file;  // the training ids on disk, written on the first run; empty: in memory
  int workers = 0;         // background threads that prepare the batches read from --token-file
  // files
  std::string checkpoint = "sequence_model.nabla";
  bool resume = false;
  bool distributed = false;  // one rank of an MPI job: mpirun -np N ... --distributed
  std::string plot;          // SVG of the perplexity curves; empty: none
  // generation
  std::string prompt = "The jury said";
  std::int64_t generate = 30;
  double temperature = 0.8;
  std::int64_t top_k = 40;
};

/// The learning rate a run uses when --lr is not given.
inline double default_learning_rate(const std::string& optimizer) { return optimizer == "sgd" ? 20.0 : 3e-3; }

/// Defines every flag on `cli`, each writing its value into `options`; after cli.parse() the
/// options are complete (the defaults that depend on other flags filled in).
inline void define_options(nabla_examples::CommandLine& cli, Options& options) {
  const auto plain = [](auto value) {
    std::ostringstream text;
    text << value;
    return text.str();
  };
  const auto show = [&plain](auto value) { return "(default " + plain(value) + ")"; };
  const Options d;  // the defaults, shown in parentheses
  // model
  cli.integer<std::int64_t>("--embedding-size", options.embedding_size, 1, "word vector size (the hidden size)")
      ->group("model");
  cli.integer<std::int64_t>("--hidden-size", options.hidden_size, 1, "LSTM state size " + show(d.hidden_size))
      ->group("model");
  cli.integer<std::int64_t>("--layers", options.layers, 1, "stacked LSTM layers " + show(d.layers))->group("model");
  cli.real("--dropout", options.dropout, {.low = 0, .high = 1, .include_low = true},
           "dropout on the embeddings, between LSTM layers and on the LSTM\noutput " + show(d.dropout))
      ->type_name("P")
      ->group("model");
  cli.flag("--tie-weights", options.tie_weights,
           "the output layer uses the embedding table as its weight (the\n"
           "default; needs --embedding-size == --hidden-size)")
      ->group("model");
  cli.flag("--no-tie-weights", options.tie_weights, "the output layer has a weight of its own", false)->group("model");
  // training
  cli.integer<std::int64_t>("--epochs", options.epochs, 0, "epochs in total, resumed ones included " + show(d.epochs))
      ->group("training");
  cli.integer<std::int64_t>("--batch", options.batch, 1, "parallel text streams per batch " + show(d.batch))
      ->group("training");
  cli.integer<std::int64_t>("--bptt", options.bptt, 1, "time steps per batch (truncated BPTT length) " + show(d.bptt))
      ->group("training");
  cli.choice("--optimizer", options.optimizer, {"adam", "sgd"}, show(d.optimizer))->group("training");
  cli.real("--lr", options.lr, {.low = 0},
           "learning rate (default: adam " + plain(default_learning_rate("adam")) + ", sgd " +
               plain(default_learning_rate("sgd")) + ")")
      ->group("training");
  cli.real("--lr-decay", options.lr_decay, {.low = 0, .high = 1, .include_high = true},
           "multiply the learning rate by G after every epoch " + show(d.lr_decay) +
               "\nand divide it by 4 after an epoch without improvement")
      ->type_name("G")
      ->group("training");
  cli.real("--clip", options.clip, {.low = 0}, "clip the global gradient norm to X " + show(d.clip))->group("training");
  cli.integer<std::int64_t>("--max-train-tokens", options.max_train_tokens, 0,
                            "train on the first N training tokens; 0 = all 800,000 " + show(d.max_train_tokens))
      ->group("training");
  cli.seed(options.seed, "the weights, dropout masks and sampling")->group("training");
  cli.threads(options.threads)->group("training");
  cli.choice("--matmul-precision", options.matmul_precision, {"highest", "high", "medium"},
             "float32 GEMMs: medium = bfloat16 inputs, float32 accumulation,\n"
             "on a CPU with AVX512_BF16 (else float32) " +
                 show(d.matmul_precision))
      ->group("training");
  cli.device(options.device)->group("training");
  nabla_examples::distributed_flag(cli, options.distributed)->group("training");
  cli.integer<std::int64_t>("--log-interval", options.log_interval, 1,
                            "batches between progress lines (about 10 per epoch)")
      ->group("training");
  // data and files
  cli.data_dir(options.data_dir, kBrownCorpus, "the corpus files ca01..cr09")->group("data and files");
  cli.custom("--split", "TRAIN,VALID",
             "training and validation token counts, the rest is test (" + std::to_string(d.train_tokens) + "," +
                 std::to_string(d.validation_tokens) + ")",
             [&options](const std::string& text) {
               const auto comma = text.find(',');
               if (comma == std::string::npos)
                 throw UsageError("--split expects TRAIN,VALID token counts, got '" + text + "'");
               const auto count = [](const std::string& part) {
                 return nabla_examples::parse_whole_number<std::int64_t>("--split", part, 2,
                                                                         std::numeric_limits<std::int64_t>::max());
               };
               options.train_tokens = count(text.substr(0, comma));
               options.validation_tokens = count(text.substr(comma + 1));
             })
      ->group("data and files");
  cli.text("--token-file", options.token_file, "FILE",
           "train from the training ids in this token file, memory-mapped;\n"
           "written on the first run, checked against the corpus on later ones")
      ->group("data and files");
  cli.integer<int>("--workers", options.workers, 0, 64,
                   "threads that prepare batches from --token-file ahead of the\ntraining step " + show(d.workers))
      ->group("data and files");
  cli.text("--checkpoint", options.checkpoint, "FILE",
           "training state and best weights, written every epoch " + show(d.checkpoint))
      ->group("data and files");
  cli.flag("--resume", options.resume, "continue from --checkpoint (same model flags)")->group("data and files");
  cli.text("--plot", options.plot, "FILE.svg", "draw the perplexity curves", true)->group("data and files");
  // generation
  cli.text("--prompt", options.prompt, "TEXT", "words to start from " + show("\"" + d.prompt + "\""), true)
      ->group("generation");
  cli.integer<std::int64_t>("--generate", options.generate, 0, "words to sample; 0 = none " + show(d.generate))
      ->group("generation");
  cli.real("--temperature", options.temperature, {.low = 0},
           "softmax temperature of the sampling " + show(d.temperature))
      ->type_name("T")
      ->group("generation");
  cli.integer<std::int64_t>("--top-k", options.top_k, 0, "sample among the K likeliest words; 0 = all " + show(d.top_k))
      ->type_name("K")
      ->group("generation");

  // The flags that depend on others.
  cli.check([&options] {
    if (options.embedding_size == 0) options.embedding_size = options.hidden_size;
    if (options.tie_weights && options.embedding_size != options.hidden_size)
      throw UsageError("--tie-weights: the embedding table is the output weight, so --embedding-size (" +
                       std::to_string(options.embedding_size) + ") must equal --hidden-size (" +
                       std::to_string(options.hidden_size) + "); add --no-tie-weights for an output layer of its own");
    if (options.lr == 0) options.lr = default_learning_rate(options.optimizer);  // --lr must be > 0
    if (options.workers > 0 && options.token_file.empty())
      throw UsageError("--workers: the workers prepare batches read from a token file; add --token-file FILE");
  });
}

}  // namespace sequence_model
