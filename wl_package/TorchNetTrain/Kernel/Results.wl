(* ::Package:: *)
(* Results.wl: TorchNetTrainResults[...], what TorchNetTrain[net, data, All] returns.
   Read by TorchNetTrain.wl inside TorchNetTrain`Private`.

   It holds every NetTrain property Python reported, as plain data, with "TrainedNet" the
   user's own net with the trained arrays put back (NetReplacePart).  res["prop"] answers each
   property, res[{p1, p2}] a list, res["Properties"] their names; LossEvolutionPlot and
   ErrorRateEvolutionPlot are drawn here in Wolfram Language (x in rounds, as NetTrain's are;
   the band between the first and third quartile of each round's batch losses with
   "PlotLossQuartiles" -> True); in a notebook it shows as a summary box. *)

$plotProperties = {"LossEvolutionPlot", "ErrorRateEvolutionPlot"};
$aliases = {"LossPlot" -> "LossEvolutionPlot", "FinalRoundLoss" -> "RoundLoss",
  "FinalValidationLoss" -> "ValidationLoss", "MeanInputsPerSecond" -> "MeanExamplesPerSecond",
  "TotalInputs" -> "ExamplesProcessed",
  "ArraysLearningRateMultipliers" -> "WeightsLearningRateMultipliers"};

(* internal keys Python adds for the plots: not NetTrain properties *)
hiddenQ[k_String] := StringMatchQ[k, "$*"] || MemberQ[{"PlotLossQuartiles", "RoundLossQuartiles"}, k];
hiddenQ[_] := True;

resultProperties[a_Association] := Sort[Join[Select[Keys[a], ! hiddenQ[#] &], $plotProperties]];

TorchNetTrainResults::noprop = "`1` is not a property of these results; \"Properties\" lists them.";

TorchNetTrainResults[a_Association][props_List] := TorchNetTrainResults[a] /@ props;
TorchNetTrainResults[a_Association]["Properties"] := resultProperties[a];
TorchNetTrainResults[a_Association][All | "All"] := TorchNetTrainResults[a];
TorchNetTrainResults[a_Association][prop_String] := resultProperty[a, Replace[prop, $aliases]];

resultProperty[a_, "LossEvolutionPlot"] := lossEvolutionPlot[a];
resultProperty[a_, "ErrorRateEvolutionPlot"] := errorRatePlot[a];
TorchNetTrainResults::trnet = "\"TrainingNet\" (the net with NetTrain's loss layers attached) \
is built inside NetTrain only; TorchNetTrain attaches its losses in PyTorch and has no such net.";
resultProperty[a_, "TrainingNet"] /; ! KeyExistsQ[a, "TrainingNet"] :=
  (Message[TorchNetTrainResults::trnet]; Missing["NotAvailable", "TrainingNet"]);
resultProperty[a_, prop_] := If[KeyExistsQ[a, prop], a[prop],
  Message[TorchNetTrainResults::noprop, prop]; Missing["NotAvailable", prop]];

(* ---- plots ----------------------------------------------------------------------------------- *)

numbers[l_List] := Select[l, NumberQ];
numbers[_] := {};

(* per-batch series mean-binned to at most 600 points, one per pixel as NetTrain bins them *)
binned[pts_List] := If[Length[pts] <= 600, pts,
  With[{k = Ceiling[Length[pts] / 600]}, Mean /@ Partition[pts, k]]];

batchPoints[l_List, bpr_] := binned[Transpose[{Range[Length[l]] / N[bpr], l}]];
roundPoints[l_List] := Transpose[{Range[Length[l]], l}];
validationPoints[l_List, pos_List, bpr_] /; Length[pos] === Length[l] :=
  Transpose[{pos / N[bpr], l}];
validationPoints[l_List, _, _] := roundPoints[l];

(* {q1, q3} point lists of each round's batch values (x at the round's middle) *)
quartileBands[batch_List, bpr_Integer] /; bpr >= 2 && Length[batch] >= bpr := Module[
  {rounds = Partition[batch, bpr], qs},
  qs = Quantile[#, {1/4, 3/4}] & /@ rounds;
  {Transpose[{Range[Length[rounds]] - 1/2, qs[[All, 1]]}],
   Transpose[{Range[Length[rounds]] - 1/2, qs[[All, 2]]}]}];
quartileBands[_, _] := {};

(* Drawn from primitives, y on a log10 scale when every value is positive, as NetTrain's loss
   plots are; the legend through System`Legended (Mathics3 has no multi-series ListPlot). *)
$seriesColors = {RGBColor[0.37, 0.51, 0.71], RGBColor[0.88, 0.61, 0.14],
  RGBColor[0.56, 0.69, 0.19]};

logTicks[ys_List] := Module[{lo = Floor[Min[ys]], hi = Ceiling[Max[ys]]},
  Table[{k, ToString[NumberForm[10.^k, 3]]}, {k, lo, Max[hi, lo + 1]}]];

seriesPlot[series_List, names_List, band_List, label_String] := Module[
  {log, tr, colors = Take[$seriesColors, Length[series]], prims, ys},
  log = AllTrue[Flatten[Join[series, band][[All, All, 2]]], Positive];
  tr = If[log, Function[pt, {pt[[1]], Log10[pt[[2]]]}], Identity];
  prims = MapThread[{#2, Line[tr /@ #1]} &, {series, colors}];
  If[band =!= {}, prims = Prepend[prims, {Opacity[0.25], First[colors],
    Polygon[Join[tr /@ band[[1]], Reverse[tr /@ band[[2]]]]]}]];
  ys = Flatten[Map[tr, Join[series, band], {2}][[All, All, 2]]];
  System`Legended[
    Graphics[prims, Frame -> True, FrameLabel -> {"rounds", label}, ImageSize -> Medium,
      AspectRatio -> 1/GoldenRatio, PlotRange -> All,
      FrameTicks -> If[log, {{logTicks[ys], None}, {Automatic, None}}, Automatic]],
    System`LineLegend[colors, names]]];

lossEvolutionPlot[a_Association] := Module[
  {bpr = Lookup[a, "BatchesPerRound", 1], batch, rounds, val, series = {}, names = {}, band},
  batch = numbers[Lookup[a, "BatchLossList", {}]];
  rounds = numbers[Lookup[a, "RoundLossList", {}]];
  val = numbers[Replace[Lookup[a, "ValidationLossList", {}], None -> {}]];
  If[batch =!= {}, series = Append[series, batchPoints[batch, bpr]]; names = Append[names, "batch"]];
  If[rounds =!= {}, series = Append[series, roundPoints[rounds]]; names = Append[names, "round"]];
  If[val =!= {}, series = Append[series,
    validationPoints[val, Replace[Lookup[a, "ValidationPositions", {}], None -> {}], bpr]];
    names = Append[names, "validation"]];
  band = If[TrueQ[Lookup[a, "PlotLossQuartiles", Lookup[a, "$PlotLossQuartiles", False]]] &&
      IntegerQ[bpr],
    quartileBands[batch, bpr], {}];
  If[series === {}, Missing["NotAvailable"], seriesPlot[series, names, band, "loss"]]];

errorRates[a_, key_] := numbers[Replace[Lookup[Replace[Lookup[a, key, <||>],
  Except[_Association] -> <||>], "ErrorRate", {}], None -> {}]];

errorRatePlot[a_Association] := Module[
  {bpr = Lookup[a, "BatchesPerRound", 1], batch, rounds, val, series = {}, names = {}},
  batch = errorRates[a, "BatchMeasurementsLists"];
  rounds = errorRates[a, "RoundMeasurementsLists"];
  val = errorRates[a, "ValidationMeasurementsLists"];
  If[batch =!= {}, series = Append[series, batchPoints[batch, bpr]]; names = Append[names, "batch"]];
  If[rounds =!= {}, series = Append[series, roundPoints[rounds]]; names = Append[names, "round"]];
  If[val =!= {}, series = Append[series,
    validationPoints[val, Replace[Lookup[a, "ValidationPositions", {}], None -> {}], bpr]];
    names = Append[names, "validation"]];
  If[series === {}, Missing["NotAvailable"], seriesPlot[series, names, {}, "error rate"]]];

(* ---- display ----------------------------------------------------------------------------- *)

Format[TorchNetTrainResults[a_Association], OutputForm] :=
  StringJoin["TorchNetTrainResults[<", ToString[Lookup[a, "TotalRounds", "?"]], " rounds, ",
    ToString[Lookup[a, "TotalBatches", "?"]], " batches, ",
    ToString[Lookup[a, "ReasonTrainingStopped", "?"]], ">]"];

summaryBoxesQ[] := ! StringContainsQ[$Version, "Mathics"];

(* Mathematica's summary box; Mathics3 has no box forms, so there the definition is not made *)
If[summaryBoxesQ[],
  TorchNetTrainResults /: MakeBoxes[r : TorchNetTrainResults[a_Association], fmt_] :=
    BoxForm`ArrangeSummaryBox[TorchNetTrainResults, r, None,
      {{BoxForm`SummaryItem[{"Rounds: ", Lookup[a, "TotalRounds", "?"]}],
        BoxForm`SummaryItem[{"Batches: ", Lookup[a, "TotalBatches", "?"]}]},
       {BoxForm`SummaryItem[{"Final round loss: ", Lookup[a, "RoundLoss", "?"]}],
        BoxForm`SummaryItem[{"Stopped: ", Lookup[a, "ReasonTrainingStopped", "?"]}]}},
      {{BoxForm`SummaryItem[{"Training time: ", Lookup[a, "TotalTrainingTime", "?"]}]},
       {BoxForm`SummaryItem[{"Device: ", Lookup[a, "TargetDevice", "?"]}]},
       {BoxForm`SummaryItem[{"Properties: ", Length[resultProperties[a]]}]}}, fmt]];
