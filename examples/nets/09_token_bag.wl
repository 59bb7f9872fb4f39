(* 9. Token bag-of-embeddings text classifier *)
NetChain[{EmbeddingLayer[50], AggregationLayer[Mean, 1], LinearLayer[3], SoftmaxLayer[]},
  "Input" -> NetEncoder[{"Tokens", {"the", "movie", "was", "good", "bad", "great", "awful"}}],
  "Output" -> NetDecoder[{"Class", {"neg", "neu", "pos"}}]]
