(* Options for examples/digits_mlp.wl: a few rounds, 10% held out, timings and memory shown. *)
MaxTrainingRounds -> 8,
BatchSize -> 64,
ValidationSet -> Scaled[0.1],
RandomSeeding -> 1234,
TrainingProgressReporting -> {"Print", "Interval" -> Quantity[1, "Rounds"]},
"InternalOptions" -> {"ReportTimings" -> True, "ReportMemoryUsage" -> True}
