(* ::Package:: *)
(* Session.wl: which Python runs training, and the calls into wlbridge.externalevaluate.
   Read by TorchNetTrain.wl inside TorchNetTrain`Private`.

   "Evaluator" -> Automatic (StartExternalSession["Python"]), a Python executable path, an
   ExternalSessionObject the user started, or (14.1+) an association of StartExternalSession
   settings such as <|"Dependencies" -> {"wlbridge", "torch"}|>.  One session per evaluator is
   kept and reused; right after starting it the imports wlbridge needs are checked at once, so a
   Python without torch or wlbridge gives one message naming what is missing. *)

If[! AssociationQ[$sessions], $sessions = <||>];

(* the checkout holding wlbridge/, when the paclet runs from one (nothing to add when installed) *)
checkoutPath[] := If[StringQ[$TorchNetTrainPythonPath] &&
    FileExistsQ[FileNameJoin[{$TorchNetTrainPythonPath, "wlbridge", "__init__.py"}]],
  $TorchNetTrainPythonPath, None];

sessionSpec[Automatic | Default | "Python"] := "Python";
sessionSpec[path_String] := <|"System" -> "Python", "Executable" -> path|>;
sessionSpec[a_Association] := Join[<|"System" -> "Python"|>, a];
sessionSpec[_] := $Failed;

$requiredModules = {"numpy", "torch", "wolframclient", "psutil", "wlbridge"};

(* The modules the session cannot import, found without importing them (no side effects). *)
missingModules[s_] := ExternalEvaluate[s, <|"Command" -> "lambda ms: [m for m in ms \
if __import__('importlib.util').util.find_spec(m) is None]", "Arguments" -> {$requiredModules}|>];

(* Start (or reuse) the session for an evaluator; check it; $Failed with a message if not usable. *)
getSession[evaluator_] := Module[{key = ToString[evaluator, InputForm], s, spec, missing, info},
  If[MatchQ[evaluator, _ExternalSessionObject], s = evaluator,
    s = Lookup[$sessions, key, None];
    If[MatchQ[s, _ExternalSessionObject] && ! sessionDeadQ[s], Return[s]];
    spec = sessionSpec[evaluator];
    If[spec === $Failed, Message[TorchNetTrain::evaluator, evaluator]; Return[$Failed]];
    s = Quiet[StartExternalSession[spec]];
    If[! MatchQ[s, _ExternalSessionObject],
      Message[TorchNetTrain::nosession, evaluator, s]; Return[$Failed]]];
  With[{path = checkoutPath[]},
    (* the path travels as an argument, never spliced into Python source *)
    If[StringQ[path], ExternalEvaluate[s, <|"Command" -> "lambda p: __import__('sys').path.insert(0, p) \
if p not in __import__('sys').path else None", "Arguments" -> {path}|>]]];
  missing = missingModules[s];
  If[! ListQ[missing], Message[TorchNetTrain::nosession, evaluator, missing]; Return[$Failed]];
  If[missing =!= {},
    Message[TorchNetTrain::nomodule, StringRiffle[missing, ", "], evaluator];
    Return[$Failed]];
  ExternalEvaluate[s, "import wlbridge.externalevaluate"];
  (* called in the code itself: an empty "Arguments" may not call the function in every loop *)
  info = ExternalEvaluate[s, "wlbridge.externalevaluate.check()"];
  If[! AssociationQ[info], reportFailure[info]; Return[$Failed]];
  $pythonInfo = info;
  If[! MatchQ[evaluator, _ExternalSessionObject], $sessions = Join[$sessions, <|key -> s|>]];
  s];

sessionDeadQ[s_] := ! MatchQ[Quiet[ExternalEvaluate[s, "1"]], 1];

TorchNetTrainClose[] := (
  Scan[Quiet[DeleteObject[#]] &, Values[$sessions]];
  $sessions = <||>;);

(* One call: wlbridge.externalevaluate.NAME applied to args; the arguments travel as WXF. *)
pycall[s_, name_String, args_List] := ExternalEvaluate[s,
  <|"Command" -> "wlbridge.externalevaluate." <> name, "Arguments" -> args|>];

(* ---- failures from Python become one message ---------------------------------------------- *)

reportFailure[f : Failure["PythonError", _]] :=
  (Message[TorchNetTrain::pyerr, Replace[f["MessageTemplate"], _Missing -> f]]; f);
reportFailure[f : Failure[_, a_Association]] :=
  (Message[TorchNetTrain::ntmsg, Lookup[a, "Message", Lookup[a, "MessageTemplate", f]]]; f);
reportFailure[f_] := (Message[TorchNetTrain::pyerr, f]; f);
