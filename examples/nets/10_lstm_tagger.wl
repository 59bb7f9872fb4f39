(* 10. Per-time-step tagger: stacked LSTMs + NetMapOperator (targets: integer sequences 1..5) *)
NetChain[{EmbeddingLayer[16, 100, "Input" -> "Varying"], LongShortTermMemoryLayer[32],
          LongShortTermMemoryLayer[32], NetMapOperator[LinearLayer[5]], SoftmaxLayer[]}]
