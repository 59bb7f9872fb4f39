(* A small Transformer encoder, written as the AttentionLayer and NormalizationLayer pages write
   one: token and position embeddings, one self-attention block (queries, keys and values from
   per-token linear maps, scaled dot-product attention, a residual connection and layer
   normalization), a per-token feed-forward block with its own residual and normalization, then
   mean pooling and a softmax classifier. The toy task (tests/test_layers_transformer.py): which of
   "a", "b", "c" occurs most often in a string of 5 to 12 letters. *)
NetGraph[<|
  "embed" -> EmbeddingLayer[16],
  "positions" -> SequenceIndicesLayer["Maximum" -> 12],
  "positionEmbed" -> EmbeddingLayer[16, 12],
  "addPositions" -> ThreadingLayer[Plus],
  "query" -> NetMapOperator[LinearLayer[16]],
  "key" -> NetMapOperator[LinearLayer[16]],
  "value" -> NetMapOperator[LinearLayer[16]],
  "attention" -> AttentionLayer["Dot", "ScoreRescaling" -> "DimensionSqrt"],
  "project" -> NetMapOperator[LinearLayer[16]],
  "residual1" -> ThreadingLayer[Plus],
  "norm1" -> NormalizationLayer[-1, -1],
  "expand" -> NetMapOperator[LinearLayer[32]],
  "relu" -> ElementwiseLayer[Ramp],
  "contract" -> NetMapOperator[LinearLayer[16]],
  "residual2" -> ThreadingLayer[Plus],
  "norm2" -> NormalizationLayer[-1, -1],
  "pool" -> AggregationLayer[Mean, 1],
  "classify" -> LinearLayer[3],
  "probabilities" -> SoftmaxLayer[]|>,
 {NetPort["Input"] -> "embed",
  NetPort["Input"] -> "positions" -> "positionEmbed",
  {"embed", "positionEmbed"} -> "addPositions",
  "addPositions" -> {"query", "key", "value"},
  "query" -> NetPort["attention", "Query"],
  "key" -> NetPort["attention", "Key"],
  "value" -> NetPort["attention", "Value"],
  "attention" -> "project",
  {"addPositions", "project"} -> "residual1" -> "norm1",
  "norm1" -> "expand" -> "relu" -> "contract",
  {"norm1", "contract"} -> "residual2" -> "norm2" -> "pool" -> "classify" -> "probabilities"},
 "Input" -> NetEncoder[{"Characters", "abc"}],
 "Output" -> NetDecoder[{"Class", {"a", "b", "c"}}]]
