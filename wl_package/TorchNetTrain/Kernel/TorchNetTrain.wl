(* ::Package:: *)
(* TorchNetTrain: NetTrain's signature and options, trained by wlbridge (PyTorch) in an
   ExternalEvaluate Python session.

   The kernel owns the net and its coders (DESIGN rule 6): it initialises the user's net, sends
   its held constructor (Information[net0, "InputForm"]) and its arrays by position as Real32
   NumericArrays, encodes the data with the net's own NetEncoders into NumericArray chunks, and
   puts the trained arrays back with NetReplacePart.  Training runs in a Python thread; the
   kernel polls it in short slices, so the progress panel or print table, TrainingProgressFunction
   and the kernel-side loggers run here between slices, and an Abort[] returns the net trained so
   far.  No net and no data cross as InputForm text; only the options do.

   The code is split by concern into Session.wl, Options.wl, Data.wl, Net.wl, Progress.wl and
   Results.wl, read from here inside TorchNetTrain`Private`.  It runs in Mathematica 12.0+ and
   under Mathics3 with the wlharness shim, so it keeps to what that harness supports (no Merge,
   Query, Confirm, Return[_, Module], string option names in Options[..]). *)

BeginPackage["TorchNetTrain`"]

TorchNetTrain::usage =
  "TorchNetTrain[net, data, prop, opts] trains net on data as NetTrain does and returns prop; \
TorchNetTrain[net, data, opts] returns the trained net. Options are NetTrain's, plus \
\"Evaluator\" (the Python that trains: Automatic, an executable path, an ExternalSessionObject \
or an association of StartExternalSession settings).";
TorchNetTrainResults::usage =
  "TorchNetTrainResults[...] holds the results of TorchNetTrain[net, data, All]; \
res[\"prop\"] gives a NetTrain property and res[\"Properties\"] their names.";
TorchNetTrainClose::usage = "TorchNetTrainClose[] ends the Python sessions TorchNetTrain started.";
KernelSink::usage =
  "KernelSink[k] stands, in the options sent to Python, for the k-th logger the kernel keeps.";
KernelFunction::usage =
  "KernelFunction[k] stands, in the options sent to Python, for the k-th TrainingProgressFunction, \
which runs in the kernel.";
$TorchNetTrainPythonPath::usage =
  "$TorchNetTrainPythonPath is a folder added to the Python session's sys.path when it holds \
wlbridge/ (the checkout the paclet sits in).";
$TorchNetTrainEvaluator::usage =
  "$TorchNetTrainEvaluator is the \"Evaluator\" TorchNetTrain uses when none is given \
(default Automatic: StartExternalSession[\"Python\"]).";
$TorchNetTrainStepSeconds::usage =
  "$TorchNetTrainStepSeconds is how long each poll of the training thread may wait (default 0.2 s).";

TorchNetTrain::ntmsg = "`1`";
TorchNetTrain::pyerr = "The Python session failed: `1`";
TorchNetTrain::evaluator = "`1` is not a valid \"Evaluator\": give Automatic, a Python \
executable, an ExternalSessionObject or an association of StartExternalSession settings.";
TorchNetTrain::nosession = "Could not start or use the Python session for \"Evaluator\" -> `1`: `2`";
TorchNetTrain::nomodule = "The Python of \"Evaluator\" -> `2` cannot import `1`; install them \
into that Python with pip install wlbridge (it brings torch, numpy and wolframclient).";
TorchNetTrain::data = "The `1` data is not in a form NetTrain takes: give {in -> out, ...}, \
{ins} -> {outs}, a list of associations, an association of columns or a Dataset.";
TorchNetTrain::port = "The `1` data has a column `2` that is not a port of the net; its ports \
are `3`.";
TorchNetTrain::noport = "The `1` data has no column for the net's port `2`.";
TorchNetTrain::encode = "The values for port `1` could not be encoded for the net (the first \
one is `2`).";
TorchNetTrain::noinit = "The net `1` could not be initialised: give its input shapes, or data \
from which they can be inferred.";

Begin["`Private`"]

(* wl_package/TorchNetTrain/Kernel/TorchNetTrain.wl -> the checkout that may hold wlbridge/ *)
If[! StringQ[$TorchNetTrainPythonPath],
  $TorchNetTrainPythonPath = FileNameDrop[$InputFileName, -4]];
If[! NumberQ[$TorchNetTrainStepSeconds], $TorchNetTrainStepSeconds = 0.2];
If[! ValueQ[$TorchNetTrainEvaluator], $TorchNetTrainEvaluator = Automatic];

With[{dir = DirectoryName[$InputFileName]},
  Scan[Get[FileNameJoin[{dir, #}]] &,
    {"Session.wl", "Options.wl", "Data.wl", "Net.wl", "Progress.wl", "Results.wl"}]];

optionsQ[x_] := MatchQ[x, _Rule | _RuleDelayed | {(_Rule | _RuleDelayed) ...}];

TorchNetTrain[net_, data_, opts___?optionsQ] := TorchNetTrain[net, data, "TrainedNet", opts];

TorchNetTrain[net_, data_, prop : Except[_?optionsQ], opts___?optionsQ] :=
 Block[{$session, $net0, $sinks = {}, $functions = {}, $progress = None, $failure = None,
   $stopping = False, $stopRequested = False, $stopSent = False, $printTable = False,
   $headerPrinted = False, $nextPrint = 0, $batchBag = Internal`Bag[], $lastBatch = 0,
   $roundLosses = {}, $validationLosses = {}, $lastRoundLoss = None, $lastValidation = None,
   $reportTimings, $reportMemory, $classifier = False},
  Catch[train[net, data, prop, Flatten[{opts}]], $failTag]];

fail[] := Throw[$Failed, $failTag];
fail[f_] := Throw[f, $failTag];

(* What finish is asked for: plots are drawn here from "All"; with a single property, also the
   scalars the final progress row shows *)
pythonProp[prop_] := Which[
  prop === All || prop === "All", "All",
  ListQ[prop], If[Intersection[prop, Append[$plotProperties, "LossPlot"]] =!= {}, "All", prop],
  MemberQ[Append[$plotProperties, "LossPlot"], prop], "All",
  MemberQ[{"FinalNet", "TrainingNet"}, prop], prop,
  StringQ[prop], Union[{prop}, $finalRowProperties],
  True, prop];

(* port -> values of a role, checked against the net's ports *)
roleColumns[role_, data_, ins_, outs_] := Module[{cols = normalizeData[data, ins, outs], extra},
  If[cols === $Failed, Message[TorchNetTrain::data, role]; fail[]];
  extra = Complement[Keys[cols], Join[ins, outs]];
  If[extra =!= {}, Message[TorchNetTrain::port, role, First[extra], Join[ins, outs]]; fail[]];
  Scan[If[! KeyExistsQ[cols, #], Message[TorchNetTrain::noport, role, #]; fail[]] &, ins];
  cols];

train[net_, data_, prop_, opts_List] := Module[
  {ins, outs, columns, validation = None, val, infos, parts, sid, result},
  $reportTimings = internalFlag[opts, "ReportTimings"];
  $reportMemory = internalFlag[opts, "ReportMemoryUsage"];
  $session = getSession[optionValue[opts, "Evaluator", $TorchNetTrainEvaluator]];
  If[$session === $Failed, fail[]];
  ins = inputPorts[net]; outs = outputPorts[net];
  columns = roleColumns["training", data, ins, outs];
  val = optionValue[opts, "ValidationSet", None];
  If[explicitValidationQ[val], validation = roleColumns["validation", val, ins, outs]];
  $net0 = initializeNet[net, columns];
  If[$net0 === $Failed, fail[]];
  infos = Association[Map[# -> portInfo[$net0, #, If[MemberQ[ins, #], "Input", "Output"],
      columns[#]] &, Keys[columns]]];
  If[MemberQ[Values[infos], $Failed], fail[]];
  $classifier = AnyTrue[Values[infos], #["Side"] === "Output" && #["Kind"] === "Class" &];
  parts = netParts[$net0];
  sid = pycall[$session, "open_run", Join[parts,
    {portsForPython[infos], optionsForPython[opts], pythonProp[prop]}]];
  If[! StringQ[sid], fail[reportFailure[sid]]];
  result = Catch[
    If[sendRole[sid, "Training", columns, infos] === $Failed, fail[]];
    If[validation =!= None && sendRole[sid, "Validation", validation, infos] === $Failed, fail[]];
    checked[pycall[$session, "begin", {sid}]];
    CheckAbort[
      runWithProgress[sid, optionValue[opts, "TrainingProgressReporting", Automatic]],
      (* Abort[]: stop at the next batch ("Aborted") and return what was trained so far *)
      $stopping = True; pycall[$session, "stop", {sid, True}]; runSlices[sid]];
    If[$failure =!= None, fail[reportFailure[$failure]]];
    Join[readReply[checked[pycall[$session, "finish", {sid, pythonProp[prop]}]]],
      (* All holds both nets: the final one's arrays are a second reply of the same run *)
      If[pythonProp[prop] === "All",
        <|"FinalNet" -> readReply[checked[pycall[$session, "finish", {sid, "FinalNet"}]]]|>,
        <||>]],
    $failTag];
  pycall[$session, "close", {sid}];
  If[! AssociationQ[result], fail[result]];
  If[$printTable, printFinalRow[Lookup[result, "Results", <||>]]];
  answer[prop, result]];

checked[r_] := If[FailureQ[r], fail[reportFailure[r]], r];

(* a reply over 100 MB comes as a temporary WXF file *)
readReply[a_Association] /; KeyExistsQ[a, "File"] := With[{r = Import[a["File"], "WXF"]},
  Quiet[DeleteFile[a["File"]]]; r];
readReply[r_] := r;

(* the reply's arrays are the final net's when "FinalNet" was asked for, else the trained net's *)
answer[prop_, reply_Association] := Module[{results, all},
  results = Replace[Lookup[reply, "Results", <||>], Except[_Association] -> <||>];
  all = Join[results, <|If[prop === "FinalNet", "FinalNet", "TrainedNet"] ->
    writeBack[$net0, reply]|>];
  If[AssociationQ[Lookup[reply, "FinalNet", None]],
    all = Join[all, <|"FinalNet" -> writeBack[$net0, reply["FinalNet"]]|>]];
  Which[
    prop === All || prop === "All", TorchNetTrainResults[all],
    True, TorchNetTrainResults[all][prop]]];

End[]
EndPackage[]
