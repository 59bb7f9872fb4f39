(* ::Package:: *)
(* STAND-IN, NOT THE REAL THING: the few NeuralNetworks public functions the TorchNetTrain paclet
   uses, written for Mathics3 (which has no neural nets) from their documentation pages, so the
   paclet's kernel side can be run under the wlharness shim.  Every definition says which page it
   follows.  Evaluated nets take the INTERNAL two-argument form a real kernel gives them
   (reference wl-nets.md section 3): Head[<|"Type" -> ..., "Nodes"/"Arrays"/"Parameters"/"Inputs"/
   "Outputs" -> ...|>, <|"Version" -> ..., "Unstable" -> False|>], so ToString[net, InputForm] is
   the internal form here too, as it is in Mathematica.

   Known differences from the real kernel (also listed in tests/test_paclet_standin.py):
   - only NetChain (list or association of layers), LinearLayer, ElementwiseLayer (and the bare
     Ramp/Tanh/LogisticSigmoid forms), SoftmaxLayer and DropoutLayer; no NetGraph, no operators,
     no shared arrays; no shape checks beyond what Linear needs;
   - the internal association keeps fewer hidden "$" parameters than 12.x-14.x do, and types are
     NeuralNetworks`TensorT[dims, NeuralNetworks`RealT] only (no LengthVar, no IndexIntegerT);
   - NetInitialize draws uniform weights in [-1/Sqrt[in], 1/Sqrt[in]] (the real one: Xavier for
     Linear) and never re-initialises existing arrays; Method and RandomSeeding are ignored;
   - NetEncoder/NetDecoder: only "Class" (labels; encoder application gives 1-based indices and
     a message plus $Failed for an unknown label, where the real one names the label in
     NetEncoder::invclass); other kinds ("Image", "Boolean", ...) construct but cannot be applied;
   - Information[net, prop] answers only "InputForm", "ArraysPositionList", "ArraysList",
     "InputPortNames", "OutputPortNames"; NetInformation is the same (12.0's name);
   - NetReplacePart accepts "Input" -> shape and {position -> NumericArray or list} (checked
     against the array's dimensions); the real one also takes layers, options and coders;
   - nets do not evaluate on inputs (net[x] stays unevaluated: Mathics3's Dot is too slow). *)

(* The public names live in System`, as in Mathematica, so the paclet's BeginPackage sees them. *)
Begin["System`"];
{NetChain, LinearLayer, ElementwiseLayer, SoftmaxLayer, DropoutLayer, NetEncoder, NetDecoder,
 NetInitialize, NetExtract, NetReplacePart, NetInformation, Ramp, LogisticSigmoid};
End[];

BeginPackage["NNStandIn`"];
Begin["`Private`"];

$meta = <|"Version" -> "12.0.8", "Unstable" -> False|>;
tensor[dims_] := NeuralNetworks`TensorT[dims, NeuralNetworks`RealT];
unknown = NeuralNetworks`SizeT;

(* ---- layers: ref/LinearLayer, ref/ElementwiseLayer, ref/SoftmaxLayer, ref/DropoutLayer ---- *)

(* ref/LinearLayer: LinearLayer[n] (a vector of size n out), arrays "Weights" {n, in} and
   "Biases" {n}. *)
linear[n_Integer] := <|"Type" -> "Linear",
  "Arrays" -> <|"Weights" -> tensor[{n, unknown}], "Biases" -> tensor[{n}]|>,
  "Parameters" -> <|"OutputDimensions" -> {n}, "$OutputSize" -> n, "$InputSize" -> unknown|>,
  "Inputs" -> <|"Input" -> tensor[{unknown}]|>, "Outputs" -> <|"Output" -> tensor[{n}]|>|>;
LinearLayer[n_Integer] := LinearLayer[linear[n], $meta];
LinearLayer[{n_Integer}] := LinearLayer[n];

(* ref/ElementwiseLayer: ElementwiseLayer[f]; the function is kept validated. *)
elementwise[f_] := <|"Type" -> "Elementwise", "Arrays" -> <||>,
  "Parameters" -> <|"Function" -> NeuralNetworks`ValidatedParameter[f], "$Dimensions" -> unknown|>,
  "Inputs" -> <|"Input" -> tensor[unknown]|>, "Outputs" -> <|"Output" -> tensor[unknown]|>|>;
ElementwiseLayer[f : Except[_Association]] := ElementwiseLayer[elementwise[f], $meta];

(* ref/SoftmaxLayer: SoftmaxLayer[] normalises over the last level. *)
softmax[] := <|"Type" -> "Softmax", "Arrays" -> <||>,
  "Parameters" -> <|"Level" -> -1, "$Dimensions" -> unknown|>,
  "Inputs" -> <|"Input" -> tensor[unknown]|>, "Outputs" -> <|"Output" -> tensor[unknown]|>|>;
SoftmaxLayer[] := SoftmaxLayer[softmax[], $meta];

(* ref/DropoutLayer: DropoutLayer[] (p = 0.5) or DropoutLayer[p]. *)
dropout[p_] := <|"Type" -> "Dropout", "Arrays" -> <||>,
  "Parameters" -> <|"DropoutProbability" -> p, "$Dimensions" -> unknown|>,
  "Inputs" -> <|"Input" -> tensor[unknown]|>, "Outputs" -> <|"Output" -> tensor[unknown]|>|>;
DropoutLayer[] := DropoutLayer[dropout[0.5], $meta];
DropoutLayer[p_?NumberQ] := DropoutLayer[dropout[p], $meta];

$layerHeads = {"Linear" -> LinearLayer, "Elementwise" -> ElementwiseLayer,
  "Softmax" -> SoftmaxLayer, "Dropout" -> DropoutLayer};
headOf[type_String] := type /. $layerHeads;

(* ref/NetChain: "a bare function f in a chain is ElementwiseLayer[f]" *)
layerAssoc[h_[a_Association, _Association]] /; MemberQ[Values[$layerHeads], h] := a;
layerAssoc[f : (Ramp | Tanh | LogisticSigmoid)] := elementwise[f];
layerAssoc[other_] := (Message[NetChain::nnstandin, other]; $Failed);
NetChain::nnstandin = "Stand-in: `1` is not a layer this stand-in knows.";

(* ---- coders: ref/NetEncoder, ref/NetDecoder ("Class") ---------------------------------- *)

NetEncoder[{"Class", labels_List, ___}] := NetEncoder["Class",
  <|"Labels" -> labels, "OutputForm" -> "Index", "Dimensions" -> {}|>,
  NeuralNetworks`TensorT[{}, NeuralNetworks`IndexIntegerT[Length[labels]]]];
NetEncoder[{kind_String, args___}] := NetEncoder[kind, <|"Arguments" -> {args}|>, tensor[unknown]];
NetEncoder[kind_String] := NetEncoder[{kind}];
NetDecoder[{"Class", labels_List, ___}] := NetDecoder["Class",
  <|"Labels" -> labels, "Dimensions" -> Length[labels]|>, tensor[{Length[labels]}]];
NetDecoder[{kind_String, args___}] := NetDecoder[kind, <|"Arguments" -> {args}|>, tensor[unknown]];
NetDecoder[kind_String] := NetDecoder[{kind}];
(* ref/NetEncoder: "NetEncoder[NetDecoder[...]] creates an encoder from a decoder" *)
NetEncoder[NetDecoder["Class", p_Association, _]] := NetEncoder[{"Class", p["Labels"]}];

(* ref/netencoder/Class: a label encodes as its 1-based position; a list encodes elementwise. *)
NetEncoder::invclass = "`1` is not one of the classes `2`.";
NetEncoder["Class", p_Association, _][labels_List] := Module[{out},
  out = Replace[labels, Append[MapThread[Rule, {p["Labels"], Range[Length[p["Labels"]]]}], _ -> 0], {1}];
  If[MemberQ[out, 0],
    Message[NetEncoder::invclass, First[Pick[labels, Map[# === 0 &, out]]], p["Labels"]]; $Failed,
    out]];
NetEncoder["Class", p_Association, t_][label : Except[_List]] := First[NetEncoder["Class", p, t][{label}]];

(* ref/NetExtract: NetExtract[coder, "param"], with "Type" the coder's kind *)
NetExtract[(NetEncoder | NetDecoder)[kind_String, _, _], "Type"] := kind;
NetExtract[(NetEncoder | NetDecoder)[_String, p_Association, _], param_String] /;
  param =!= "Type" := Lookup[p, param, Missing["NotFound"]];

(* ---- NetChain: ref/NetChain ------------------------------------------------------------ *)

portSpec[n_Integer] := tensor[{n}];
portSpec[dims : {___Integer}] := tensor[dims];
portSpec["Real"] := tensor[{}];
portSpec[e_NetEncoder] := e;
portSpec[d_NetDecoder] := d;
portSpec[Automatic] := tensor[{unknown}];

portDims[NeuralNetworks`TensorT[dims_, _]] := dims;
portDims[(NetEncoder | NetDecoder)[_, _, t_]] := portDims[t];
portDims[_] := {unknown};

NetChain[layers : (_List | _Association), opts___Rule] := Module[
  {keys, specs, nodes, input, output},
  keys = If[AssociationQ[layers], Keys[layers], ToString /@ Range[Length[layers]]];
  specs = layerAssoc /@ If[AssociationQ[layers], Values[layers], layers];
  If[MemberQ[specs, $Failed], Return[$Failed]];
  input = portSpec[Lookup[{opts}, "Input", Automatic]];
  output = Lookup[{opts}, "Output", None];
  nodes = Association[MapThread[Rule, {keys, specs}]];
  infer[NetChain[<|"Type" -> "Chain", "Nodes" -> nodes,
    "Edges" -> chainEdges[keys],
    "Inputs" -> <|"Input" -> input|>,
    "Outputs" -> <|"Output" -> If[output === None, tensor[{unknown}], portSpec[output]]|>|>, $meta]]];

chainEdges[keys_List] := Join[
  {NeuralNetworks`NetPath["Nodes", First[keys], "Inputs", "Input"] -> NeuralNetworks`NetPath["Inputs", "Input"]},
  MapThread[NeuralNetworks`NetPath["Nodes", #2, "Inputs", "Input"] ->
      NeuralNetworks`NetPath["Nodes", #1, "Outputs", "Output"] &, {Most[keys], Rest[keys]}],
  {NeuralNetworks`NetPath["Outputs", "Output"] -> NeuralNetworks`NetPath["Nodes", Last[keys], "Outputs", "Output"]}];

(* Shape inference along the chain: each Linear learns its input size from what flows in. *)
infer[NetChain[a_Association, meta_]] := Module[
  {dims = portDims[a["Inputs"]["Input"]], rules = Normal[a["Nodes"]], out = {}, step},
  Do[step = inferNode[Last[rules[[i]]], dims]; dims = Last[step];
    out = Append[out, First[rules[[i]]] -> First[step]], {i, Length[rules]}];
  NetChain[Join[a, <|"Nodes" -> Association[out]|>], meta]];
(* {node with its input size set when known, the dimensions it outputs} *)
inferNode[node_Association, in_List] := Module[{n},
  If[node["Type"] =!= "Linear", Return[{node, in}]];
  n = node["Parameters"]["$OutputSize"];
  If[MemberQ[in, unknown], Return[{node, {n}}]];
  {Join[node, <|
    "Arrays" -> Join[node["Arrays"], <|"Weights" -> Replace[node["Arrays"]["Weights"],
        NeuralNetworks`TensorT[{n, _}, r_] :> NeuralNetworks`TensorT[{n, Times @@ in}, r]]|>],
    "Parameters" -> Join[node["Parameters"], <|"$InputSize" -> Times @@ in|>],
    "Inputs" -> <|"Input" -> tensor[in]|>|>], {n}}];

chainQ[x_] := MatchQ[x, NetChain[_Association, _Association]];

(* ---- NetInitialize: ref/NetInitialize ---------------------------------------------------- *)

NetInitialize::nninit = "Cannot initialize net: the size of the input of layer `1` is not known.";
NetInitialize[net_?chainQ] := Module[{a = First[net], bad},
  bad = Select[Normal[a["Nodes"]], ! FreeQ[Last[#]["Arrays"], unknown] &];
  If[bad =!= {}, Message[NetInitialize::nninit, First[First[bad]]]; Return[$Failed]];
  NetChain[Join[a, <|"Nodes" -> Association[
      Map[(First[#] -> initNode[Last[#]]) &, Normal[a["Nodes"]]]]|>], Last[net]]];
initNode[node_Association] := Join[node, <|"Arrays" -> Association[Map[
    (First[#] -> initArray[First[#], Last[#], node]) &, Normal[node["Arrays"]]]]|>];
initArray["Biases", NeuralNetworks`TensorT[dims_, _], _] := NumericArray[ConstantArray[0., dims], "Real32"];
initArray[_, NeuralNetworks`TensorT[dims_, _], node_] := With[{s = 1. / Sqrt[Last[dims]]},
  NumericArray[RandomReal[{-s, s}, dims], "Real32"]];
initArray[_, other_, _] := other;

(* ---- Information / NetInformation: ref/Information (net properties), ref/NetInformation -- *)

(* "ArraysPositionList": each array as {layer, name}, a layer given by its integer index for
   list-built chains and by its name otherwise (NetInformation.m FromNetPath). *)
nodeKey[k_String] := If[StringMatchQ[k, DigitCharacter ..], FromDigits[k], k];
arrayRules[net_?chainQ] := Flatten[Map[
    Function[node, Map[({nodeKey[First[node]], First[#]} -> Last[#]) &,
      Select[Normal[Last[node]["Arrays"]], Last[#] =!= None &]]],
    Normal[First[net]["Nodes"]]], 1];

(* "InputForm": HoldForm of the constructor, no arrays, no coders, sizes as lists, bare
   functions as ElementwiseLayer[f], defaults and "$" parameters left out (12.0 ToNetInputForm). *)
layerForm[node_Association] := Switch[node["Type"],
  "Linear", ctor["LinearLayer"][node["Parameters"]["OutputDimensions"]],
  "Elementwise", ctor["ElementwiseLayer"][First[node["Parameters"]["Function"]]],
  "Softmax", ctor["SoftmaxLayer"][],
  "Dropout", If[node["Parameters"]["DropoutProbability"] == 0.5, ctor["DropoutLayer"][],
    ctor["DropoutLayer"][node["Parameters"]["DropoutProbability"]]]];
inputForm[net_?chainQ] := Module[{a = First[net], nodes, dims},
  nodes = Map[layerForm, Values[a["Nodes"]]];
  If[! AllTrue[Keys[a["Nodes"]], StringMatchQ[#, DigitCharacter ..] &],
    nodes = Association[MapThread[Rule, {Keys[a["Nodes"]], nodes}]]];
  dims = portDims[a["Inputs"]["Input"]];
  With[{body = If[MemberQ[dims, unknown], ctor["NetChain"][nodes],
      ctor["NetChain"][nodes, "Input" -> If[Length[dims] === 1, First[dims], dims]]]},
    HoldForm[body] /. {ctor["NetChain"] -> NetChain, ctor["LinearLayer"] -> LinearLayer,
      ctor["ElementwiseLayer"] -> ElementwiseLayer, ctor["SoftmaxLayer"] -> SoftmaxLayer,
      ctor["DropoutLayer"] -> DropoutLayer}]];

Unprotect[Information];
(* Mathics3's Information holds its arguments: evaluate a net expression once, here *)
Information[expr : Except[_NetChain], prop : ("InputForm" | "ArraysPositionList" | "ArraysList" |
    "InputPortNames" | "OutputPortNames")] := With[{v = expr},
  If[chainQ[v], Information[v, prop], $Failed]];
Information[net_?chainQ, "InputForm"] := inputForm[net];
Information[net_?chainQ, "ArraysPositionList"] := Keys[arrayRules[net]];
Information[net_?chainQ, "ArraysList"] := Replace[Values[arrayRules[net]],
  Except[_NumericArray] -> Automatic, {1}];
Information[net_?chainQ, "InputPortNames"] := Keys[First[net]["Inputs"]];
Information[net_?chainQ, "OutputPortNames"] := Keys[First[net]["Outputs"]];
Protect[Information];
NetInformation[net_?chainQ, prop_String] := Information[net, prop];

(* ---- NetExtract: ref/NetExtract -------------------------------------------------------- *)

(* a port gives its coder, or its shape as a user would write it (n, {n1, n2, ...}, "Real") *)
userShape[NeuralNetworks`TensorT[{}, _]] := "Real";
userShape[NeuralNetworks`TensorT[{n_Integer}, _]] := n;
userShape[NeuralNetworks`TensorT[dims_, _]] := dims;
NetExtract[net_?chainQ, port : ("Input" | "Output")] := With[
  {t = If[port === "Input", First[net]["Inputs"]["Input"], First[net]["Outputs"]["Output"]]},
  If[MatchQ[t, _NetEncoder | _NetDecoder], t, userShape[t]]];
NetExtract[net_?chainQ, pos_List] := Replace[pos, Append[arrayRules[net], _ -> Missing["NotFound"]]];

(* ---- NetReplacePart: ref/NetReplacePart ------------------------------------------------ *)

NetReplacePart::arrdims = "Stand-in: the array for `1` has dimensions `2`, not `3`.";
NetReplacePart::nopos = "Stand-in: the net has no array at `1`.";
NetReplacePart[net_?chainQ, "Input" -> spec_] := infer[NetChain[
  Join[First[net], <|"Inputs" -> <|"Input" -> portSpec[spec]|>|>], Last[net]]];
NetReplacePart[net_?chainQ, rules : {(_List -> _) ...}] := Module[{a = First[net], nodes},
  nodes = a["Nodes"];
  Catch[
    Scan[Function[r, nodes = replaceArray[nodes, First[r], Last[r]]], rules];
    NetChain[Join[a, <|"Nodes" -> nodes|>], Last[net]],
    NetReplacePart]];
replaceArray[nodes_, {layer_, name_String}, value_] := Module[
  {key = If[IntegerQ[layer], ToString[layer], layer], node, old, new},
  node = Lookup[nodes, key, Missing[]];
  If[! AssociationQ[node] || ! MemberQ[Keys[node["Arrays"]], name],
    Message[NetReplacePart::nopos, {layer, name}]; Throw[$Failed, NetReplacePart]];
  old = node["Arrays"][name];
  new = If[NumericArrayQ[value], value, NumericArray[value, "Real32"]];
  If[arrayDims[new] =!= arrayDims[old],
    Message[NetReplacePart::arrdims, {layer, name}, arrayDims[new], arrayDims[old]];
    Throw[$Failed, NetReplacePart]];
  Join[nodes, <|key -> Join[node, <|"Arrays" -> Join[node["Arrays"], <|name -> new|>]|>]|>]];
replaceArray[_, pos_, _] := (Message[NetReplacePart::nopos, pos]; Throw[$Failed, NetReplacePart]);
arrayDims[na_NumericArray] := Dimensions[Normal[na]];
arrayDims[NeuralNetworks`TensorT[dims_, _]] := dims;

End[];
EndPackage[];
