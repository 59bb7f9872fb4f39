(* 5. Character-level LSTM sequence classifier *)
NetChain[{EmbeddingLayer[32], LongShortTermMemoryLayer[64], SequenceLastLayer[], LinearLayer[2], SoftmaxLayer[]},
  "Input" -> NetEncoder[{"Characters", "abcdefghijklmnopqrstuvwxyz "}],
  "Output" -> NetDecoder[{"Class", {"negative", "positive"}}]]
