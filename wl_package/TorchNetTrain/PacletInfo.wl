PacletObject[<|
  "Name" -> "TorchNetTrain",
  "Version" -> "0.2.0",
  "WolframVersion" -> "13.0+",
  "Description" -> "NetTrain's signature and options, trained by wlbridge on a PyTorch engine through ExternalEvaluate.",
  "Extensions" -> {
    {"Kernel", "Root" -> "Kernel", "Context" -> "TorchNetTrain`"}
  }
|>]
