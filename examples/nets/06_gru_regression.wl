(* 6. GRU regression on variable-length numeric sequences (auto loss: mean squared) *)
NetChain[{GatedRecurrentLayer[32], SequenceLastLayer[], LinearLayer[1]}, "Input" -> {"Varying", 3}]
