(* 3. Paclet benchmark "LeNet" variant: PoolingLayer[2] has stride 1 here (24 -> 23) *)
NetChain[{ConvolutionLayer[20, 5], Ramp, PoolingLayer[2], ConvolutionLayer[50, 5], Ramp,
          PoolingLayer[2], FlattenLayer[], 500, Ramp, 10, SoftmaxLayer[]}, "Input" -> {1, 28, 28}]
