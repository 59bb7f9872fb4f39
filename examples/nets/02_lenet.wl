(* 2. LeNet-style CNN (explicit strides!). Shapes: 1x28x28 -> 20x24x24 -> 20x12x12 -> 50x8x8 -> 50x4x4 -> 800 *)
NetChain[{ConvolutionLayer[20, 5], Ramp, PoolingLayer[2, 2],
          ConvolutionLayer[50, 5], Ramp, PoolingLayer[2, 2],
          FlattenLayer[], LinearLayer[500], Ramp, LinearLayer[10], SoftmaxLayer[]},
  "Input" -> {1, 28, 28}, "Output" -> NetDecoder[{"Class", Range[0, 9]}]]
