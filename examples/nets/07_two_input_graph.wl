(* 7. Two-input NetGraph with CatenateLayer and a Boolean output *)
NetGraph[<|"a" -> LinearLayer[16], "b" -> LinearLayer[16], "cat" -> CatenateLayer[], "relu" -> Ramp,
           "out" -> LinearLayer[{}], "sig" -> LogisticSigmoid|>,
  {NetPort["Numeric"] -> "a", NetPort["Extra"] -> "b", {"a", "b"} -> "cat" -> "relu" -> "out" -> "sig"},
  "Numeric" -> 8, "Extra" -> 4, "Output" -> NetDecoder["Boolean"]]
