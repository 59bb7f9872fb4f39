(* ::Package:: *)
(* LeNet on MNIST, written as NetTrain would be, trained by PyTorch through TorchNetTrain.

   Run it in Mathematica 13.x/14.x (a notebook, or `wolframscript -file examples/lenet_mnist.wl`)
   after installing wlbridge into the Python the kernel will use:
       python -m pip install wlbridge          (from this checkout: python -m pip install -e .)
   The net keeps its NetEncoder["Image"] and its "Class" NetDecoder: the kernel encodes the
   60,000 images itself and sends them as NumericArray chunks; PyTorch trains; the trained
   arrays come back into this very net with NetReplacePart, so `trained[image]` is a digit. *)

(* the paclet from this checkout; after PacletInstall a plain Needs is enough *)
PacletDirectoryLoad[FileNameJoin[{DirectoryName[$InputFileName], "..", "wl_package"}]];
Needs["TorchNetTrain`"];

(* Which Python trains: Automatic is the kernel's default Python (FindExternalEvaluators);
   give an executable path, an ExternalSessionObject, or on 14.1+
   <|"Dependencies" -> {"wlbridge"}|> for a managed virtual environment. *)
evaluator = Automatic;

(* MNIST from the Wolfram Data Repository: rules image -> digit *)
trainingData = ResourceData["MNIST", "TrainingData"];
testData = ResourceData["MNIST", "TestData"];

lenet = NetChain[{
    ConvolutionLayer[20, 5], Ramp, PoolingLayer[2, 2],
    ConvolutionLayer[50, 5], Ramp, PoolingLayer[2, 2],
    FlattenLayer[], LinearLayer[500], Ramp, LinearLayer[10], SoftmaxLayer[]},
  "Input" -> NetEncoder[{"Image", {28, 28}, "Grayscale"}],
  "Output" -> NetDecoder[{"Class", Range[0, 9]}]];

results = TorchNetTrain[lenet, trainingData, All,
  ValidationSet -> testData,
  MaxTrainingRounds -> 3,
  BatchSize -> 128,
  TargetDevice -> "CPU",          (* "GPU": CUDA, or Apple's MPS, when the Python's torch has it *)
  "Evaluator" -> evaluator];

trained = results["TrainedNet"];

Print["stopped: ", results["ReasonTrainingStopped"], " after ", results["TotalRounds"],
  " rounds, ", Round[results["TotalTrainingTime"]], " s on ", results["TargetDevice"]];
Print["validation loss by round: ", results["ValidationLossList"]];

(* the trained net is the user's own net: it takes images and answers digits *)
predicted = trained[Keys[testData]];
Print["test accuracy: ", N[Mean[Boole[MapThread[SameQ, {predicted, Values[testData]}]]]]];
Print[trained[First[Keys[testData]], "TopProbabilities"]];

(* NetTrain's plots, drawn in Wolfram Language from the results *)
Print[results["LossEvolutionPlot"]];
Print[results["ErrorRateEvolutionPlot"]];

TorchNetTrainClose[];
