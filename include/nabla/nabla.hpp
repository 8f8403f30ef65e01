// nabla/nabla.hpp - the one include a user needs.
#pragma once

#include "nabla/core/device.hpp"
#include "nabla/core/error.hpp"
#include "nabla/core/philox.hpp"
#include "nabla/core/print.hpp"
#include "nabla/core/shape.hpp"
#include "nabla/core/storage.hpp"
#include "nabla/core/tensor.hpp"

#include "nabla/backend/cpu/eigen_map.hpp"
#include "nabla/backend/cpu/parallel.hpp"

#include "nabla/autograd/engine.hpp"
#include "nabla/autograd/function.hpp"
#include "nabla/autograd/grad_mode.hpp"
#include "nabla/autograd/gradcheck.hpp"
#include "nabla/autograd/graph_export.hpp"
#include "nabla/autograd/node.hpp"

#include "nabla/ops/elementwise.hpp"
#include "nabla/ops/factories.hpp"
#include "nabla/ops/matmul.hpp"
#include "nabla/ops/reduce.hpp"
#include "nabla/ops/softmax.hpp"
#include "nabla/ops/views.hpp"
#include "nabla/ops/unary.hpp"

#include "nabla/nn/activations.hpp"
#include "nabla/nn/dense.hpp"
#include "nabla/nn/dropout.hpp"
#include "nabla/nn/embedding.hpp"
#include "nabla/nn/init.hpp"
#include "nabla/nn/lstm.hpp"
#include "nabla/nn/module.hpp"
#include "nabla/nn/sequential.hpp"

#include "nabla/loss/binary.hpp"
#include "nabla/loss/classification.hpp"
#include "nabla/loss/reduction.hpp"
#include "nabla/loss/regression.hpp"

#include "nabla/optim/adagrad.hpp"
#include "nabla/optim/adam.hpp"
#include "nabla/optim/clip.hpp"
#include "nabla/optim/optimizer.hpp"
#include "nabla/optim/regularization.hpp"
#include "nabla/optim/rmsprop.hpp"
#include "nabla/optim/scheduler.hpp"
#include "nabla/optim/sgd.hpp"


#include "nabla/data/csv.hpp"
#include "nabla/data/dataloader.hpp"
#include "nabla/data/dataset.hpp"
#include "nabla/data/language_model.hpp"
#include "nabla/data/preprocessing.hpp"
#include "nabla/data/text.hpp"


