(* ::Package:: *)
(* Net.wl: the user's net out and back, by public NeuralNetworks functions only (DESIGN rule 6).
   Read by TorchNetTrain.wl inside TorchNetTrain`Private`.

   Out: net0 = NetInitialize[net] (when the input shapes are not known yet they are set from the
   data first with NetReplacePart[net, port -> dims], as NetTrain infers them); the structure is
   Information[net0, "InputForm"] (NetInformation on 12.0): a held constructor without arrays,
   encoders or decoders; the arrays are "ArraysPositionList" and "ArraysList", sent as Real32
   NumericArrays.  Back: NetReplacePart[net0, {position -> array, ...}], so the user's
   encoders, decoders, layer names and options are kept exactly. *)

netInformation[net_, prop_String] :=
  If[$VersionNumber < 12.1, NetInformation[net, prop], Information[net, prop]];

inputPorts[net_] := Replace[netInformation[net, "InputPortNames"], Except[_List] -> {"Input"}];
outputPorts[net_] := Replace[netInformation[net, "OutputPortNames"], Except[_List] -> {"Output"}];

validNetQ[x_, net_] := x =!= $Failed && Head[x] === Head[net] && ! FailureQ[x];

(* a plain input port's shape as NetReplacePart takes it, from one example *)
shapeOf[x_?NumericQ] := "Real";
shapeOf[x_?NumericArrayQ] := Dimensions[x];
shapeOf[x_List] /; ArrayQ[x, _, NumericQ] := Dimensions[x];
shapeOf[_] := None;

setInputShape[net_, port_String, columns_Association] := Module[{values, shape},
  If[MatchQ[Quiet[NetExtract[net, port]], _NetEncoder], Return[net]];
  values = Lookup[columns, port, {}];
  shape = If[dataLength[values] > 0, shapeOf[First[values]], None];
  If[shape === None, net, Replace[NetReplacePart[net, port -> shape], Except[_?(validNetQ[#, net] &)] -> net]]];

(* net0: the user's net with every array initialised, or $Failed with a message *)
initializeNet[net_, columns_Association] := Module[{net0, shaped},
  net0 = Quiet[NetInitialize[net]];
  If[validNetQ[net0, net], Return[net0]];
  shaped = Fold[setInputShape[#1, #2, columns] &, net, inputPorts[net]];
  net0 = Quiet[NetInitialize[shaped]];
  If[validNetQ[net0, net], net0, Message[TorchNetTrain::noinit, Short[net]]; $Failed]];

toReal32[a_?NumericArrayQ] := If[NumericArrayType[a] === "Real32", a, NumericArray[a, "Real32"]];
toReal32[a_List] := NumericArray[a, "Real32"];
toReal32[other_] := other;

(* {structure, positions, arrays} of an initialised net *)
netParts[net0_] := {netInformation[net0, "InputForm"],
  netInformation[net0, "ArraysPositionList"], toReal32 /@ netInformation[net0, "ArraysList"]};

(* the trained arrays put back into the user's own net *)
writeBack[net0_, positions_List, arrays_List] :=
  NetReplacePart[net0, MapThread[Rule, {positions, arrays}]];
writeBack[net0_, a_Association] /; KeyExistsQ[a, "Positions"] :=
  writeBack[net0, a["Positions"], a["Arrays"]];
writeBack[net0_, {positions_List, arrays_List}] := writeBack[net0, positions, arrays];
writeBack[_, other_] := other;
