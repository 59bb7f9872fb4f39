(* ::Package:: *)
(* TorchNetTrain: NetTrain's signature and options, trained by wlbridge (PyTorch) in an
   ExternalEvaluate Python session.  Training runs in a Python thread; the kernel polls it in
   short slices, so progress display, TrainingProgressFunction and the kernel-side loggers
   (True, Internal`Bag[..], OutputStream[..], "StandardError") run here between slices, and an
   Abort[] returns the net trained so far.  File[..] loggers are written by Python.

   Written to run both in Mathematica and under Mathics3 with the wlharness shim + prelude, so it
   avoids what that harness lists as broken: no string option names in Options[..], no
   Merge/KeySelect/Query/Confirm, no Python source built from WL values (everything reaches
   Python through "Arguments"), no growing lists in loops. *)

BeginPackage["TorchNetTrain`"]

TorchNetTrain::usage =
  "TorchNetTrain[net, data, prop, opts] trains net on data as NetTrain does and returns prop; \
TorchNetTrain[net, data, opts] returns the trained net. Options are NetTrain's.";
TorchNetTrainClose::usage = "TorchNetTrainClose[] ends the Python session TorchNetTrain uses.";
KernelSink::usage =
  "KernelSink[k] stands, in the options sent to Python, for the k-th logger the kernel keeps.";
KernelFunction::usage =
  "KernelFunction[k] stands, in the options sent to Python, for the k-th TrainingProgressFunction, \
which runs in the kernel.";
$TorchNetTrainPythonPath::usage =
  "$TorchNetTrainPythonPath is the folder added to the Python session's sys.path (the wlbridge checkout).";
$TorchNetTrainStepSeconds::usage =
  "$TorchNetTrainStepSeconds is how long each poll of the training thread may wait (default 0.2 s).";

TorchNetTrain::ntmsg = "`1`";
TorchNetTrain::pyerr = "The Python session failed: `1`";

Begin["`Private`"]

(* wl_package/TorchNetTrain/Kernel/TorchNetTrain.wl -> the checkout that holds wlbridge/ *)
If[! StringQ[$TorchNetTrainPythonPath],
  $TorchNetTrainPythonPath = FileNameDrop[$InputFileName, -4]];
If[! NumberQ[$TorchNetTrainStepSeconds], $TorchNetTrainStepSeconds = 0.2];

$session = None;

getSession[] := If[MatchQ[$session, _ExternalSessionObject], $session,
  Module[{s = StartExternalSession["Python"]},
    (* the path travels as an argument, never spliced into Python source *)
    ExternalEvaluate[s, <|"Command" -> "lambda p: __import__('sys').path.insert(0, p)",
      "Arguments" -> {$TorchNetTrainPythonPath}|>];
    ExternalEvaluate[s, "import wlbridge.externalevaluate"];
    $session = s]];

TorchNetTrainClose[] := (
  If[MatchQ[$session, _ExternalSessionObject], DeleteObject[$session]];
  $session = None;)

pycall[name_String, args_List] := ExternalEvaluate[getSession[],
  <|"Command" -> "wlbridge.externalevaluate." <> name, "Arguments" -> args|>];

(* ---- options: kernel-side loggers and functions become placeholders ---------------------- *)

optName[k_String] := k;
optName[k_Symbol] := SymbolName[k];
optName[_] := None;

kernelSinkQ[spec_] := spec === True || spec === "StandardError" ||
  MatchQ[spec, _Internal`Bag | _OutputStream];

registerSink[spec_] := ($sinks = Append[$sinks, spec]; KernelSink[Length[$sinks]]);
registerFunction[f_] := ($functions = Append[$functions, f]; KernelFunction[Length[$functions]]);

rewriteLogger[(h : Rule | RuleDelayed)[k_, spec_]] /;
   StringQ[optName[k]] && StringMatchQ[optName[k], "*Logging"] && kernelSinkQ[spec] :=
  With[{p = registerSink[spec]}, h[k, p]];
rewriteLogger[other_] := other;

rewriteInternal[v_List] := rewriteLogger /@ v;
rewriteInternal[v_Association] := rewriteLogger /@ Normal[v];
rewriteInternal[v_] := v;

rewriteCallback[{f_, rest___}] := With[{p = registerFunction[f]}, {p, rest}];
rewriteCallback[f_] := registerFunction[f];

rewriteProgressFunction[None] := None;
rewriteProgressFunction[v : {Except[_List], (_Rule | _RuleDelayed) ...}] := rewriteCallback[v];
rewriteProgressFunction[v_List] := rewriteCallback /@ v;
rewriteProgressFunction[v_] := rewriteCallback[v];

rewriteOption[(h : Rule | RuleDelayed)[k_, v_]] := Switch[optName[k],
  "InternalOptions", With[{w = rewriteInternal[v]}, h[k, w]],
  "TrainingProgressFunction", With[{w = rewriteProgressFunction[v]}, h[k, w]],
  _, h[k, v]];
rewriteOption[other_] := other;

optionValue[opts_List, name_String, default_] := With[
  {found = Cases[opts, (Rule | RuleDelayed)[k_, v_] /; optName[k] === name :> v]},
  If[found === {}, default, First[found]]];

(* ---- applying what Python queued ---------------------------------------------------------- *)

entryLine[entry_] := ToString[entry, InputForm] <> "\n";

applyLog[{k_Integer, entry_}] := With[{spec = $sinks[[k]]}, Which[
  spec === True, Print[Last[entry]],
  spec === "StandardError", WriteString[First[Streams["stderr"]], entryLine[entry]],
  MatchQ[spec, _Internal`Bag], Internal`StuffBag[spec, entry],
  MatchQ[spec, _OutputStream], WriteString[spec, entryLine[entry]],
  True, Null]];
applyLog[_] := Null;

applyCallback[sid_String, {k_Integer, info_}] := With[{r = $functions[[k]][info]}, Which[
  r === "StopTraining", pycall["stop", {sid, False}],
  r === "AbortTraining", pycall["stop", {sid, True}],
  True, Null]];
applyCallback[_, _] := Null;

(* One slice: wait up to $TorchNetTrainStepSeconds, then apply logs and callbacks.
   Returns True when training is over (or the session failed, kept in $failure). *)
poll[sid_String] := Module[{ans = pycall["step", {sid, $TorchNetTrainStepSeconds}]},
  If[! AssociationQ[ans],
   $failure = ans; True,
   Scan[applyLog, ans["Log"]];
   (* after an abort no kernel function runs again: NetTrain calls none after its first abort *)
   If[! $stopping, Scan[applyCallback[sid, #] &, ans["Callbacks"]]];
   $progress = ans["Progress"];
   TrueQ[ans["Done"]]]];

runSlices[sid_String] := Module[{done = False}, While[! done, done = poll[sid]]];

progressLine[p_Association] := Row[{"TorchNetTrain: round ", Lookup[p, "Round", "-"],
  ", batch ", Lookup[p, "AbsoluteBatch", "-"], ", loss ", Lookup[p, "RoundLoss", "-"]}];
progressLine[_] := "TorchNetTrain: starting";

reportFailure[f : Failure["PythonError", _]] :=
  (Message[TorchNetTrain::pyerr, Replace[f["MessageTemplate"], _Missing -> f]]; f);
reportFailure[f : Failure[_, a_Association]] :=
  (Message[TorchNetTrain::ntmsg, Lookup[a, "Message", f]]; f);
reportFailure[f_] := (Message[TorchNetTrain::pyerr, f]; f);

(* ---- TorchNetTrain ------------------------------------------------------------------------ *)

optionsQ[x_] := MatchQ[x, _Rule | _RuleDelayed | {(_Rule | _RuleDelayed) ...}];

TorchNetTrain[net_, data_, opts___?optionsQ] := TorchNetTrain[net, data, "TrainedNet", opts];

TorchNetTrain[net_, data_, prop : Except[_?optionsQ], opts___?optionsQ] :=
 Block[{$sinks = {}, $functions = {}, $progress = None, $failure = None, $stopping = False},
  Module[{flat = Flatten[{opts}], sent, sid, result, reporting},
   sent = rewriteOption /@ flat;
   reporting = optionValue[flat, "TrainingProgressReporting", Automatic];
   sid = pycall["start", {ToString[net, InputForm], ToString[data, InputForm], prop,
      ToString[sent, InputForm]}];
   If[! StringQ[sid], reportFailure[sid],
    CheckAbort[
     If[reporting === None, runSlices[sid],
      Monitor[runSlices[sid], Dynamic[progressLine[$progress]]]],
     (* Abort[]: stop at the next batch ("Aborted") and return what was trained so far *)
     $stopping = True; pycall["stop", {sid, True}]; runSlices[sid]];
    result = If[$failure =!= None, $failure, pycall["finish", {sid}]];
    If[FailureQ[result], reportFailure[result], result]]]]

End[]
EndPackage[]
