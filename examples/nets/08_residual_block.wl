(* 8. Residual block (ThreadingLayer[Plus]) *)
NetGraph[{ConvolutionLayer[16, 3, PaddingSize -> 1], BatchNormalizationLayer[], Ramp,
          ConvolutionLayer[16, 3, PaddingSize -> 1], BatchNormalizationLayer[], ThreadingLayer[Plus], Ramp},
  {NetPort["Input"] -> 1 -> 2 -> 3 -> 4 -> 5, {5, NetPort["Input"]} -> 6 -> 7}, "Input" -> {16, 8, 8}]
