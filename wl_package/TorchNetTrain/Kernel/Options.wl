(* ::Package:: *)
(* Options.wl: what of the user's options stays in the kernel and what goes to Python.
   Read by TorchNetTrain.wl inside TorchNetTrain`Private`.

   Kernel-side loggers (True, Internal`Bag[..], OutputStream[..], "StandardError") become
   KernelSink[k] and Wolfram TrainingProgressFunctions become KernelFunction[k] in the options
   text Python reads (DESIGN rule 5); Python queues their entries and infos, and `step` hands
   them back.  "Evaluator" is the paclet's own; explicit ValidationSet data leaves the options
   and travels as "Validation" NumericArray chunks (DESIGN rule 6); progress display is drawn
   here, so Python is told TrainingProgressReporting -> None unless it writes a File[..]. *)

optName[k_String] := k;
optName[k_Symbol] := SymbolName[k];
optName[_] := None;

optionValue[opts_List, name_String, default_] := With[
  {found = Cases[opts, (Rule | RuleDelayed)[k_, v_] /; optName[k] === name :> v]},
  If[found === {}, default, First[found]]];

dropOptions[opts_List, names_List] :=
  Select[opts, ! (MatchQ[#, _Rule | _RuleDelayed] && MemberQ[names, optName[First[#]]]) &];

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

(* File[..] reports are Python's to write; every other form is drawn by the kernel *)
pythonReporting[f_File] := f;
pythonReporting[{f_File, rest___}] := {f, rest};
pythonReporting[l_List] /; MemberQ[l, _File | {_File, ___}] := Cases[l, _File | {_File, ___}];
pythonReporting[_] := None;

rewriteOption[(h : Rule | RuleDelayed)[k_, v_]] := Switch[optName[k],
  "InternalOptions", With[{w = rewriteInternal[v]}, h[k, w]],
  "TrainingProgressFunction", With[{w = rewriteProgressFunction[v]}, h[k, w]],
  "TrainingProgressReporting", With[{w = pythonReporting[v]}, h[k, w]],
  _, h[k, v]];
rewriteOption[other_] := other;

(* ValidationSet -> data is sent as chunks; Scaled[x] and None stay options *)
explicitValidationQ[v_] := ! MatchQ[v, None | Automatic] && ! headNamedQ[v, "Scaled"];

(* by name: under Mathics3 Scaled is not a System` symbol, so a user's Scaled is Global`Scaled *)
headNamedQ[v_, name_String] := MatchQ[Head[v], _Symbol] && SymbolName[Head[v]] === name;

(* The options text Python parses, and the kernel's view of what the user asked for. *)
optionsForPython[opts_List] := Module[{sent},
  sent = dropOptions[opts, {"Evaluator"}];
  If[explicitValidationQ[optionValue[sent, "ValidationSet", None]],
    sent = dropOptions[sent, {"ValidationSet"}]];
  sent = rewriteOption /@ sent;
  If[optionValue[sent, "TrainingProgressReporting", $Failed] === $Failed,
    sent = Append[sent, "TrainingProgressReporting" -> None]];
  StringTake[ToString[sent, InputForm], {2, -2}]];

internalFlag[opts_List, name_String] := TrueQ[optionValue[
  Replace[optionValue[opts, "InternalOptions", {}], a_Association :> Normal[a]], name, False]];
