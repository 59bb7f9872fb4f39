(* 11. Explicit training graph with a "Loss" port (auto rule 1 applies) *)
NetGraph[<|"net" -> NetChain[{LinearLayer[32], Tanh, LinearLayer[4]}], "loss" -> MeanSquaredLossLayer[]|>,
  {"net" -> NetPort["loss", "Input"], NetPort["Target"] -> NetPort["loss", "Target"], "loss" -> NetPort["Loss"]},
  "Input" -> 4]
