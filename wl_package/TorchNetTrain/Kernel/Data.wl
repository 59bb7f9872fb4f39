(* ::Package:: *)
(* Data.wl: NetTrain's data forms -> columns per port -> encoded NumericArray chunks.
   Read by TorchNetTrain.wl inside TorchNetTrain`Private`.

   Every form NetTrain takes for a list of examples is normalised to an association
   port -> list of values: {in -> out, ...}, {ins} -> {outs}, {<|port -> v, ...|>, ...},
   <|port -> {v, ...}, ...|>, and Dataset[...] through Normal.  The net's own NetEncoders encode
   the inputs here in the kernel (so "Image", audio and text encoders are Mathematica's own), and
   class labels become 1-based indices through NetEncoder[decoder] (NetTrain builds its target
   encoder the same way).  Values travel as NumericArray chunks of at most $chunkBytes; a
   variable-length port travels as one flat array plus an Integer32 lengths vector.  All of it
   is whole-list work: no loop over examples runs in Wolfram Language. *)

$chunkBytes = 2^26; (* 64 MB *)

(* ---- normalising the data forms ------------------------------------------------------------ *)

(* ins/outs: the net's input and output port names; result: <|port -> values|> or $Failed *)
normalizeData[ds_Dataset, ins_, outs_] := normalizeData[Normal[ds], ins, outs];
normalizeData[rules : {__Rule}, {in_}, {out_}] :=
  <|in -> rules[[All, 1]], out -> rules[[All, 2]]|>;
normalizeData[Rule[x_List, y_List], {in_}, {out_}] /; Length[x] === Length[y] :=
  <|in -> x, out -> y|>;
normalizeData[rows : {__Association}, _, _] := With[{keys = Keys[First[rows]]},
  Association[Map[# -> Lookup[rows, #] &, keys]]];
normalizeData[cols_Association, _, _] /; AllTrue[Values[cols], ListQ[#] || NumericArrayQ[#] &] &&
    SameQ @@ (dataLength /@ Values[cols]) := cols;
normalizeData[other_, _, _] := $Failed;

dataLength[l_List] := Length[l];
dataLength[na_?NumericArrayQ] := First[Dimensions[na]];

(* ---- encoding ----------------------------------------------------------------------------- *)

(* What a port's NetExtract gives: an encoder applies itself; a decoder's target encoder is
   NetEncoder[decoder]; a plain tensor port takes the values as they are. *)
portCoder[net_, port_, "Input"] := With[{c = Quiet[NetExtract[net, port]]},
  If[MatchQ[c, _NetEncoder], c, None]];
portCoder[net_, port_, "Output"] := With[{c = Quiet[NetExtract[net, port]]},
  If[MatchQ[c, _NetDecoder], Quiet[NetEncoder[c]], None]];

(* ref/NetExtract: NetExtract[coder, "param"]; "Type" names the coder's kind *)
coderKind[c : (_NetEncoder | _NetDecoder)] := Replace[Quiet[NetExtract[c, "Type"]],
  Except[_String] :> Replace[First[c], Except[_String] -> "Custom"]];
coderKind[None] := "Tensor";

(* NumericArray element type a port's encoded values travel as *)
elementType["Class" | "Tokens" | "Characters" | "SubwordTokens" | "UTF8"] := "Integer32";
elementType[_] := "Real32";

encodeValues[None, values_] := values;
encodeValues[coder_, values_] := coder[values];

(* encoded values -> {NumericArray, lengths or None, per-example shape} or $Failed; the shape
   has "Varying" for a variable first dimension *)
toArrays[encoded_, type_] := Which[
  NumericArrayQ[encoded], {encoded, None, Rest[Dimensions[encoded]]},
  ! ListQ[encoded] || encoded === {}, $Failed,
  rectangularQ[encoded], checkedArrays[NumericArray[encoded, type], None, Rest[Dimensions[encoded]]],
  AllTrue[encoded, ArrayQ[#, _, NumericQ] &] && SameQ @@ (Rest[Dimensions[#]] & /@ encoded),
    {NumericArray[Join @@ encoded, type], NumericArray[Length /@ encoded, "Integer32"],
     Join[{"Varying"}, Rest[Dimensions[First[encoded]]]]},
  True, $Failed];

(* one row per example, all of the first one's shape (Dimensions is whole-array work; the
   element check is left to NumericArray, which refuses anything not numeric) *)
rectangularQ[l_List] := With[{first = First[l]},
  (NumericQ[first] || ArrayQ[first, _, NumericQ]) && Rest[Dimensions[l]] === Dimensions[first]];

checkedArrays[na_, lengths_, shape_] := If[NumericArrayQ[na], {na, lengths, shape}, $Failed];

(* Encode the first example of a port: its coder, kind, NumericArray type and shape *)
portInfo[net_, port_, side_, values_] := Module[{coder, kind, type, first, info},
  coder = portCoder[net, port, side];
  kind = coderKind[coder];
  type = Which[
    side === "Output" && kind === "Class", "Integer32",
    (* integer targets of a net without a decoder (class indices for a softmax output) *)
    side === "Output" && kind === "Tensor" && ListQ[values] && ArrayQ[values, _, IntegerQ], "Integer32",
    True, elementType[kind]];
  first = toArrays[Quiet[encodeValues[coder, Take[values, 1]]], type];
  If[first === $Failed, Message[TorchNetTrain::encode, port, Short[First[values]]];
    Return[$Failed]];
  info = <|"Kind" -> kind, "Dimensions" -> Last[first], "Type" -> type, "Coder" -> coder,
    "Side" -> side|>;
  If[kind === "Class", info = Join[info, <|"Labels" -> coderLabels[coder]|>]];
  info];

coderLabels[c_] := Replace[Quiet[NetExtract[c, "Labels"]],
  Except[_List] :> Replace[c[[2]], {a_Association :> Lookup[a, "Labels", {}], _ -> {}}]];

(* the association Python reads: port -> <|"Kind", "Dimensions", "Labels"|> *)
portsForPython[infos_Association] := Association[KeyValueMap[
  #1 -> Association[Select[Normal[#2], MemberQ[{"Kind", "Dimensions", "Labels"}, First[#]] &]] &,
  infos]];

(* ---- sending -------------------------------------------------------------------------------- *)

chunkSize[info_Association] := Module[{shape = info["Dimensions"] /. "Varying" -> 64},
  Max[1, Floor[$chunkBytes / (4 Max[1, Times @@ shape])]]];

(* Encode and send one port's values in chunks; the count Python has received, or $Failed *)
sendPort[sid_String, role_String, port_String, info_Association, values_] := Module[
  {n = chunkSize[info], len = dataLength[values], got = 0, arrays},
  Catch[
    Do[
      arrays = toArrays[encodeValues[info["Coder"], Take[values, {i, Min[i + n - 1, len]}]],
        info["Type"]];
      If[arrays === $Failed, Message[TorchNetTrain::encode, port, Short[values[[i]]]];
        Throw[$Failed, sendPort]];
      got = pycall[$session, "add_data", {sid, role, port, arrays[[1]], arrays[[2]]}];
      If[! IntegerQ[got], reportFailure[got]; Throw[$Failed, sendPort]],
      {i, 1, len, n}];
    got,
    sendPort]];

(* Every port of a role: the total per port, or $Failed *)
sendRole[sid_String, role_String, columns_Association, infos_Association] := Module[{counts},
  counts = KeyValueMap[Function[{port, values},
      If[KeyExistsQ[infos, port], sendPort[sid, role, port, infos[port], values], 0]], columns];
  If[MemberQ[counts, $Failed], $Failed, counts]];
