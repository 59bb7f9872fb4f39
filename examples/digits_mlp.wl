(* A small MLP for scikit-learn's 8x8 digits: 64 pixels in, one of the classes 0..9 out. *)
NetChain[
  {LinearLayer[64], Ramp, LinearLayer[10], SoftmaxLayer[]},
  "Input" -> 64,
  "Output" -> NetDecoder[{"Class", Range[0, 9]}]
]
