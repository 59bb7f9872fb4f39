(* 1. MNIST-like MLP with image encoder and class decoder *)
NetChain[{FlattenLayer[], LinearLayer[128], Ramp, DropoutLayer[0.2], LinearLayer[10], SoftmaxLayer[]},
  "Input" -> NetEncoder[{"Image", {28, 28}, ColorSpace -> "Grayscale"}],
  "Output" -> NetDecoder[{"Class", Range[0, 9]}]]
