(* 12. Fully initialized tiny net, for exact numeric round-trip tests *)
NetChain[{LinearLayer[2, "Weights" -> {{0.1, 0.2, 0.3}, {0.4, 0.5, 0.6}}, "Biases" -> {0., 0.1}],
          ElementwiseLayer["SELU"],
          LinearLayer[1, "Weights" -> {{1., -1.}}, "Biases" -> {0.5}]}, "Input" -> 3]
