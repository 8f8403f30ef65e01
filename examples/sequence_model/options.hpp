// examples/sequence_model/options.hpp - the command line of the sequence_model example.
//
// Every flag takes its value as the next argument ("--epochs 3") or after '=' ("--epochs=3").
// A malformed command line throws UsageError; main() prints the message and the usage and
// exits with status 2, as command-line tools do.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iomanip>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace sequence_model {

class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

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
  int threads = 0;  // 0: every core
  std::string device = "cpu";
  std::int64_t log_interval = 0;  // 0: about ten progress lines per epoch
  // data
  std::string data_dir;  // empty: $NABLA_DATA_DIR/brown or data/brown
  std::int64_t train_tokens = 800000;
  std::int64_t validation_tokens = 200000;
  std::int64_t rare_count = 3;
  // files
  std::string checkpoint = "sequence_model.nabla";
  bool resume = false;
  std::string plot;  // SVG of the perplexity curves; empty: none
  // generation
  std::string prompt = "The jury said";
  std::int64_t generate = 30;
  double temperature = 0.8;
  std::int64_t top_k = 40;

  bool help = false;
};

/// The learning rate a run uses when --lr is not given.
inline double default_learning_rate(const std::string& optimizer) { return optimizer == "sgd" ? 20.0 : 3e-3; }

inline std::string usage_text() {
  const Options d;  // the defaults, shown in parentheses
  std::ostringstream text;
  auto plain = [](auto value) {
    std::ostringstream number;
    number << value;
    return number.str();
  };
  auto show = [&plain](auto value) { return "(" + plain(value) + ")"; };
  auto flag = [&text](const std::string& name, const std::string& help) {
    text << "  " << std::left << std::setw(22) << name << " " << help << "\n";
  };
  text << "usage: sequence_model [flags]\n\n"
          "A word-level LSTM language model on the Brown corpus (Bengio et al. 2003 split:\n"
          "800,000 training, 200,000 validation, 161,192 test tokens; words seen <= 3 times\n"
          "in training become <unk>). Prints train/validation perplexity per epoch, the test\n"
          "perplexity of the best epoch, and text sampled from a prompt.\n"
          "Data: bash scripts/fetch_data.sh brown\n\n"
          "model\n";
  flag("--embedding-size N", "word vector size (the hidden size)");
  flag("--hidden-size N", "LSTM state size " + show(d.hidden_size));
  flag("--layers N", "stacked LSTM layers " + show(d.layers));
  flag("--dropout P", "dropout on the embeddings, between LSTM layers and on the LSTM");
  flag("", "output " + show(d.dropout));
  flag("--tie-weights", "the output layer uses the embedding table as its weight (the");
  flag("", "default; needs --embedding-size == --hidden-size)");
  flag("--no-tie-weights", "the output layer has a weight of its own");
  text << "training\n";
  flag("--epochs N", "epochs in total, resumed ones included " + show(d.epochs));
  flag("--batch N", "parallel text streams per batch " + show(d.batch));
  flag("--bptt N", "time steps per batch (truncated BPTT length) " + show(d.bptt));
  flag("--optimizer adam|sgd", show(d.optimizer));
  flag("--lr X", "learning rate (adam " + plain(default_learning_rate("adam")) + ", sgd " +
                     plain(default_learning_rate("sgd")) + ")");
  flag("--lr-decay G", "multiply the learning rate by G after every epoch " + show(d.lr_decay));
  flag("", "and divide it by 4 after an epoch without improvement");
  flag("--clip X", "clip the global gradient norm to X " + show(d.clip));
  flag("--max-train-tokens N", "train on the first N training tokens; 0 = all 800,000 " + show(d.max_train_tokens));
  flag("--seed N", "seed of the weights, dropout masks and sampling " + show(d.seed));
  flag("--threads N", "CPU threads (all cores)");
  flag("--device cpu|cuda", show(d.device));
  flag("--log-interval N", "batches between progress lines (about 10 per epoch)");
  text << "data and files\n";
  flag("--data-dir DIR", "the corpus files ca01..cr09 ($NABLA_DATA_DIR/brown or data/brown)");
  flag("--split TRAIN,VALID", "training and validation token counts, the rest is test (" +
                                  std::to_string(d.train_tokens) + "," + std::to_string(d.validation_tokens) + ")");
  flag("--checkpoint FILE", "training state and best weights, written every epoch " + show(d.checkpoint));
  flag("--resume", "continue from --checkpoint (same model flags)");
  flag("--plot FILE.svg", "draw the perplexity curves");
  text << "generation\n";
  flag("--prompt TEXT", "words to start from " + show("\"" + d.prompt + "\""));
  flag("--generate N", "words to sample; 0 = none " + show(d.generate));
  flag("--temperature T", "softmax temperature of the sampling " + show(d.temperature));
  flag("--top-k K", "sample among the K likeliest words; 0 = all " + show(d.top_k));
  flag("--help", "this text");
  return text.str();
}

namespace detail {

template <typename Integer>
Integer parse_integer(const std::string& flag, const std::string& text, Integer minimum) {
  Integer value{};
  const char* end = text.data() + text.size();
  const auto result = std::from_chars(text.data(), end, value);
  if (result.ec != std::errc() || result.ptr != end || text.empty())
    throw UsageError(flag + ": '" + text + "' is not a whole number");
  if (value < minimum) throw UsageError(flag + ": must be at least " + std::to_string(minimum) + ", got " + text);
  return value;
}

inline double parse_real(const std::string& flag, const std::string& text) {
  double value = 0;
  const char* end = text.data() + text.size();
  const auto result = std::from_chars(text.data(), end, value);
  if (result.ec != std::errc() || result.ptr != end || text.empty() || !std::isfinite(value))
    throw UsageError(flag + ": '" + text + "' is not a number");
  return value;
}

}  // namespace detail

/// Parses argv into Options; throws UsageError on an unknown flag or a bad value.
inline Options parse_options(int argc, char** argv) {
  Options options;
  std::vector<std::string> arguments(argv + 1, argv + argc);
  bool lr_given = false;
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    std::string flag = arguments[i];
    std::string value;
    bool has_inline_value = false;
    if (const auto equals = flag.find('='); flag.rfind("--", 0) == 0 && equals != std::string::npos) {
      value = flag.substr(equals + 1);
      flag = flag.substr(0, equals);
      has_inline_value = true;
    }
    auto next = [&]() -> std::string {
      if (has_inline_value) return value;
      if (i + 1 >= arguments.size()) throw UsageError(flag + " needs a value");
      return arguments[++i];
    };
    auto no_value = [&]() {
      if (has_inline_value) throw UsageError(flag + " takes no value");
    };
    using detail::parse_integer;
    using detail::parse_real;
    if (flag == "--help" || flag == "-h") {
      no_value();
      options.help = true;
    } else if (flag == "--embedding-size") {
      options.embedding_size = parse_integer<std::int64_t>(flag, next(), 1);
    } else if (flag == "--hidden-size") {
      options.hidden_size = parse_integer<std::int64_t>(flag, next(), 1);
    } else if (flag == "--layers") {
      options.layers = parse_integer<std::int64_t>(flag, next(), 1);
    } else if (flag == "--dropout") {
      options.dropout = parse_real(flag, next());
      if (!(options.dropout >= 0 && options.dropout < 1))
        throw UsageError("--dropout: must be in [0, 1), got " + std::to_string(options.dropout));
    } else if (flag == "--tie-weights" || flag == "--no-tie-weights") {
      no_value();
      options.tie_weights = flag == "--tie-weights";
    } else if (flag == "--epochs") {
      options.epochs = parse_integer<std::int64_t>(flag, next(), 0);
    } else if (flag == "--batch") {
      options.batch = parse_integer<std::int64_t>(flag, next(), 1);
    } else if (flag == "--bptt") {
      options.bptt = parse_integer<std::int64_t>(flag, next(), 1);
    } else if (flag == "--optimizer") {
      options.optimizer = next();
      if (options.optimizer != "adam" && options.optimizer != "sgd")
        throw UsageError("--optimizer: must be adam or sgd, got '" + options.optimizer + "'");
    } else if (flag == "--lr") {
      options.lr = parse_real(flag, next());
      if (!(options.lr > 0)) throw UsageError("--lr: must be > 0");
      lr_given = true;
    } else if (flag == "--lr-decay") {
      options.lr_decay = parse_real(flag, next());
      if (!(options.lr_decay > 0 && options.lr_decay <= 1)) throw UsageError("--lr-decay: must be in (0, 1]");
    } else if (flag == "--clip") {
      options.clip = parse_real(flag, next());
      if (!(options.clip > 0)) throw UsageError("--clip: must be > 0");
    } else if (flag == "--max-train-tokens") {
      options.max_train_tokens = parse_integer<std::int64_t>(flag, next(), 0);
    } else if (flag == "--seed") {
      options.seed = parse_integer<std::uint64_t>(flag, next(), 0);
    } else if (flag == "--threads") {
      options.threads = parse_integer<int>(flag, next(), 1);
    } else if (flag == "--device") {
      options.device = next();
      if (options.device != "cpu" && options.device != "cuda")
        throw UsageError("--device: must be cpu or cuda, got '" + options.device + "'");
    } else if (flag == "--log-interval") {
      options.log_interval = parse_integer<std::int64_t>(flag, next(), 1);
    } else if (flag == "--data-dir") {
      options.data_dir = next();
    } else if (flag == "--split") {
      const std::string text = next();
      const auto comma = text.find(',');
      if (comma == std::string::npos)
        throw UsageError("--split: expected TRAIN,VALID token counts, got '" + text + "'");
      options.train_tokens = parse_integer<std::int64_t>(flag, text.substr(0, comma), 2);
      options.validation_tokens = parse_integer<std::int64_t>(flag, text.substr(comma + 1), 2);
    } else if (flag == "--checkpoint") {
      options.checkpoint = next();
      if (options.checkpoint.empty()) throw UsageError("--checkpoint: empty file name");
    } else if (flag == "--resume") {
      no_value();
      options.resume = true;
    } else if (flag == "--plot") {
      options.plot = next();
    } else if (flag == "--prompt") {
      options.prompt = next();
    } else if (flag == "--generate") {
      options.generate = parse_integer<std::int64_t>(flag, next(), 0);
    } else if (flag == "--temperature") {
      options.temperature = parse_real(flag, next());
      if (!(options.temperature > 0)) throw UsageError("--temperature: must be > 0");
    } else if (flag == "--top-k") {
      options.top_k = parse_integer<std::int64_t>(flag, next(), 0);
    } else {
      throw UsageError("unknown flag '" + arguments[i] + "'");
    }
  }
  if (options.embedding_size == 0) options.embedding_size = options.hidden_size;
  if (options.tie_weights && options.embedding_size != options.hidden_size)
    throw UsageError("--tie-weights: the embedding table is the output weight, so --embedding-size (" +
                     std::to_string(options.embedding_size) + ") must equal --hidden-size (" +
                     std::to_string(options.hidden_size) + "); add --no-tie-weights for an output layer of its own");
  if (!lr_given) options.lr = default_learning_rate(options.optimizer);
  if (options.data_dir.empty()) {
    const char* root = std::getenv("NABLA_DATA_DIR");  // where fetch_data.sh puts the data
    options.data_dir = (root && *root) ? std::string(root) + "/brown" : "data/brown";
  }
  return options;
}

}  // namespace sequence_model
