(* ::Package:: *)
(* Progress.wl: the kernel's side of a running training: polling Python in slices, applying
   kernel-side log entries and TrainingProgressFunctions, and showing progress as NetTrain does.
   Read by TorchNetTrain.wl inside TorchNetTrain`Private`.

   With a front end ($FrontEnd is a FrontEndObject) a Monitor panel shows NetTrain's rows and a
   Stop button ("ManualStop"); in a command-line kernel a table of rows is printed.  A
   TrainingProgressFunction receives NetTrain's association, with "Net" (fetched from Python
   with net_arrays only when the function mentions it) and the loss lists. *)

(* ---- applying what Python queued ---------------------------------------------------------- *)

entryLine[entry_] := ToString[entry, InputForm] <> "\n";

applyLog[{k_Integer, entry_}] := With[{spec = $sinks[[k]]}, Which[
  spec === True, Print[Last[entry]],
  spec === "StandardError", WriteString[First[Streams["stderr"]], entryLine[entry]],
  MatchQ[spec, _Internal`Bag], Internal`StuffBag[spec, entry],
  MatchQ[spec, _OutputStream], WriteString[spec, entryLine[entry]],
  True, Null]];
applyLog[_] := Null;

usesKeyQ[f_Symbol, key_] := ! FreeQ[DownValues[f], key];
usesKeyQ[f_, key_] := ! FreeQ[f, key];

(* the user's net with the arrays trained so far *)
currentNet[sid_] := writeBack[$net0, pycall[$session, "net_arrays", {sid}]];

(* the info a kernel function sees: Python's, plus what only the kernel can add *)
callbackInfo[sid_, f_, info_Association] := Module[{extra = <||>},
  If[! KeyExistsQ[info, "BatchLossList"], extra = Join[extra, <|
    "BatchLossList" -> batchLosses[][[All, 2]],
    "RoundLossList" -> $roundLosses, "ValidationLossList" -> $validationLosses|>]];
  If[usesKeyQ[f, "Net"], extra = Join[extra, <|"Net" -> currentNet[sid]|>]];
  Join[info, extra]];

(* Callbacks queued after a stop was asked for are dropped: NetTrain calls none once a
   function has stopped or aborted training (the Python loop may have run a little ahead). *)
applyCallback[sid_String, {k_Integer, info_}] /; ! ($stopping || $stopSent || $stopRequested) :=
  With[{f = $functions[[k]]},
    With[{r = f[callbackInfo[sid, f, info]]}, Which[
      r === "StopTraining", $stopSent = True; pycall[$session, "stop", {sid, False}],
      r === "AbortTraining", $stopping = True; pycall[$session, "stop", {sid, True}],
      True, Null]]];
applyCallback[_, _] := Null;

(* ---- what the kernel keeps of the progress: batch losses, round and validation losses ------ *)

batchLosses[] := Internal`BagPart[$batchBag, All];

recordProgress[p_Association] := Module[{b = Lookup[p, "AbsoluteBatch", None]},
  If[IntegerQ[b] && b > $lastBatch && NumberQ[Lookup[p, "BatchLoss", None]],
    Internal`StuffBag[$batchBag, {b, p["BatchLoss"]}]; $lastBatch = b];
  If[NumberQ[Lookup[p, "RoundLoss", None]] && p["RoundLoss"] =!= $lastRoundLoss,
    $lastRoundLoss = p["RoundLoss"]; $roundLosses = Append[$roundLosses, $lastRoundLoss]];
  If[NumberQ[Lookup[p, "ValidationLoss", None]] && p["ValidationLoss"] =!= $lastValidation,
    $lastValidation = p["ValidationLoss"];
    $validationLosses = Append[$validationLosses, $lastValidation]]];
recordProgress[_] := Null;

(* ---- the polling loop --------------------------------------------------------------------- *)

(* One slice: wait up to $TorchNetTrainStepSeconds, then apply logs and callbacks.
   True when training is over (or the session failed, kept in $failure). *)
poll[sid_String] := Module[{ans = pycall[$session, "step", {sid, $TorchNetTrainStepSeconds}]},
  If[! AssociationQ[ans], $failure = ans; Return[True]];
  Scan[applyLog, Lookup[ans, "Log", {}]];
  $progress = Lookup[ans, "Progress", <||>];
  recordProgress[$progress];
  Scan[applyCallback[sid, #] &, Lookup[ans, "Callbacks", {}]];
  If[$stopRequested && ! $stopSent, $stopSent = True; pycall[$session, "stop", {sid, False}]];
  If[$printTable && ! TrueQ[ans["Done"]], printRow[$progress, False]];
  TrueQ[ans["Done"]]];

runSlices[sid_String] := Module[{done = False}, While[! done, done = poll[sid]]];

frontEndQ[] := MatchQ[System`$FrontEnd, _FrontEndObject];

(* Run the slices with the display the options ask for *)
runWithProgress[sid_String, reporting_] := Which[
  reporting === None || MatchQ[reporting, _File | {_File, ___}], runSlices[sid],
  frontEndQ[] && reporting =!= "Print",
    Monitor[runSlices[sid], Dynamic[progressPanel[$progress]]],
  True, $printTable = True; runSlices[sid]];

(* ---- formatting --------------------------------------------------------------------------- *)

padLeft[s_String, n_Integer] := StringJoin[Table[" ", {Max[0, n - StringLength[s]]}], s];
num[x_?NumberQ] := ToString[NumberForm[N[x], 4]];
num[_] := "-";
pct[x_?NumberQ] := ToString[Round[100 x]] <> "%";
pct[_] := "-";
secs[x_?NumberQ] := ToString[Round[x]] <> "s";
secs[_] := "-";
intOf[x_Integer] := ToString[x];
intOf[_] := "-";

measurement[p_, key_, name_] := Lookup[Replace[Lookup[p, key, <||>], Except[_Association] -> <||>],
  name, None];

(* ---- the print table (command-line kernels) ----------------------------------------------- *)

$baseColumns = {{"%", 4}, {"round", 7}, {"batch", 7}, {"time elapsed", 13}, {"time left", 10},
  {"batch loss", 11}, {"round loss", 11}, {"validation loss", 16}};
$errorColumns = {{"round error", 12}, {"validation error", 17}};

(* error-rate columns for classifiers (a "Class" output), as NetTrain's table has them *)
columns[] := If[TrueQ[$classifier], Join[$baseColumns, $errorColumns], $baseColumns];

rowCells[p_] := Join[{pct[Lookup[p, "ProgressFraction", None]], intOf[Lookup[p, "Round", None]],
  intOf[Lookup[p, "Batch", None]], secs[Lookup[p, "TimeElapsed", None]],
  secs[Lookup[p, "TimeRemaining", None]], num[Lookup[p, "BatchLoss", None]],
  num[Lookup[p, "RoundLoss", None]], num[Lookup[p, "ValidationLoss", None]]},
  If[TrueQ[$classifier], {pct[measurement[p, "RoundMeasurements", "ErrorRate"]],
    pct[measurement[p, "ValidationMeasurements", "ErrorRate"]]}, {}]];

printLine[cells_List] := Print[StringJoin[Riffle[
  MapThread[padLeft, {cells, columns[][[All, 2]]}], " "]]];

(* a row every $printInterval seconds of training, and one at the end *)
printRow[p_Association, final_] := Module[{t = Lookup[p, "TimeElapsed", None]},
  If[! $headerPrinted, $headerPrinted = True; printLine[columns[][[All, 1]]]];
  If[final || (NumberQ[t] && t >= $nextPrint),
    If[NumberQ[t], $nextPrint = t + $printInterval];
    printLine[rowCells[p]];
    If[$reportTimings && AssociationQ[Lookup[p, "$Timings", None]],
      Print["  timings: ", timingsLine[p["$Timings"]]]];
    If[$reportMemory, Print["  memory: ", memoryText[p]]]]];
printRow[_, _] := Null;

$printInterval = 2;

$finalRowProperties = {"TotalRounds", "BatchesPerRound", "TotalTrainingTime", "BatchLoss",
  "RoundLoss", "ValidationLoss", "RoundMeasurements", "ValidationMeasurements"};

(* the last row, from the results: the last progress snapshot may predate the last batches *)
printFinalRow[r_Association] := printRow[Join[
  Replace[$progress, Except[_Association] -> <||>],
  <|"ProgressFraction" -> 1, "TimeRemaining" -> 0|>,
  Association[Select[{"Round" -> Lookup[r, "TotalRounds", None],
    "Batch" -> Lookup[r, "BatchesPerRound", None],
    "TimeElapsed" -> Lookup[r, "TotalTrainingTime", None],
    "BatchLoss" -> Lookup[r, "BatchLoss", None], "RoundLoss" -> Lookup[r, "RoundLoss", None],
    "ValidationLoss" -> Lookup[r, "ValidationLoss", None],
    "RoundMeasurements" -> Lookup[r, "RoundMeasurements", None],
    "ValidationMeasurements" -> Lookup[r, "ValidationMeasurements", None]},
    Last[#] =!= None && ! MatchQ[Last[#], _Missing] &]]], True];
printFinalRow[_] := Null;

timingsLine[t_Association] := StringRiffle[KeyValueMap[#1 <> " " <> num[timingLast[#2]] &, t], ", "];
timingLast[v_Association] := Lookup[v, "Last", Lookup[v, "Mean", None]];
timingLast[v_] := v;

(* the memory sample (bytes per key: "System", "Kernel", "GPU1"...), in MB *)
memoryText[p_] := Replace[Lookup[p, "$MemoryUsage", Lookup[p, "MemoryUsage", None]], {
  a_Association :> StringRiffle[KeyValueMap[ToString[#1] <> ": " <> megabytes[#2] &, a], ", "],
  None -> "-", x_ :> ToString[x]}];
megabytes[b_Integer] /; b >= 2^20 := ToString[Round[b / 2.^20]] <> " MB";
megabytes[x_] := ToString[x];

(* ---- the panel (notebooks) ----------------------------------------------------------------- *)

(* the live loss plot: the last batch losses step sends, else those the kernel sampled *)
lossPlot[p_Association] := With[{pts = Replace[Lookup[p, "RecentBatchLosses", None],
    Except[{_, __}] :> batchLosses[][[All, 2]]]},
  If[Length[pts] < 2 || ! AllTrue[pts, Positive], "",
    ListLogPlot[pts, Joined -> True, ImageSize -> 260, AspectRatio -> 1/3, Axes -> False,
      Frame -> True]]];

panelRows[p_Association] := Module[{rows},
  rows = {
    {"progress", Row[{ProgressIndicator[Lookup[p, "ProgressFraction", 0] /. None -> 0], " ",
      pct[Lookup[p, "ProgressFraction", None]]}]},
    {"round", Row[{intOf[Lookup[p, "Round", None]], " / ", intOf[Lookup[p, "TotalRounds", None]]}]},
    {"batch", Row[{intOf[Lookup[p, "Batch", None]], " / ", intOf[Lookup[p, "BatchesPerRound", None]]}]},
    {"time", Row[{secs[Lookup[p, "TimeElapsed", None]], " elapsed, ",
      secs[Lookup[p, "TimeRemaining", None]], " left"}]},
    {"loss", Row[{"current ", num[Lookup[p, "BatchLoss", None]], ", round ",
      num[Lookup[p, "RoundLoss", None]], ", validation ", num[Lookup[p, "ValidationLoss", None]]}]}};
  If[measurement[p, "RoundMeasurements", "ErrorRate"] =!= None ||
      measurement[p, "BatchMeasurements", "ErrorRate"] =!= None,
    rows = Append[rows, {"error", Row[{
      "current ", pct[measurement[p, "BatchMeasurements", "ErrorRate"]],
      ", round ", pct[measurement[p, "RoundMeasurements", "ErrorRate"]],
      ", validation ", pct[measurement[p, "ValidationMeasurements", "ErrorRate"]]}]}]];
  rows = Append[rows, {"loss plot", lossPlot[p]}];
  If[$reportTimings && AssociationQ[Lookup[p, "$Timings", None]],
    rows = Append[rows, {"timings", timingsGrid[p["$Timings"]]}]];
  If[$reportMemory, rows = Append[rows, {"memory", memoryText[p]}]];
  Append[rows, {"", Button["Stop", $stopRequested = True]}]];

timingsGrid[t_Association] := Grid[Prepend[KeyValueMap[
    {#1, Sequence @@ (num /@ If[AssociationQ[#2], Lookup[#2, {"Last", "Min", "Max"}, None], {#2, None, None}])} &, t],
    {"", "last", "min", "max"}], Alignment -> Right];

progressPanel[p_Association] := Panel[Grid[panelRows[p], Alignment -> Left], "TorchNetTrain"];
progressPanel[_] := Panel["Starting training...", "TorchNetTrain"];
