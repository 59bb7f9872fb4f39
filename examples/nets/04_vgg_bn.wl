(* 4. Small VGG-style CNN with BN, padding and mean pooling *)
NetChain[{ConvolutionLayer[16, {3, 3}, PaddingSize -> 1], BatchNormalizationLayer[], ElementwiseLayer["ReLU"],
          PoolingLayer[{2, 2}, "Stride" -> 2],
          ConvolutionLayer[32, 3, "PaddingSize" -> 1, "Stride" -> 1], BatchNormalizationLayer[], Ramp,
          PoolingLayer[2, 2, "Function" -> Mean],
          FlattenLayer[], LinearLayer[64], Ramp, DropoutLayer[0.5], LinearLayer[3], SoftmaxLayer[]},
  "Input" -> {3, 32, 32}, "Output" -> NetDecoder[{"Class", {"cat", "dog", "bird"}}]]
