#!/usr/bin/env bash
# The quality suite as measured for the README: each task with the models compared on it,
# 3 seeds, each task's default epochs / learning rate (zoo.training_defaults) / units,
# 2 runs at a time (one thread each). Results: benchmarks/quality/<task>/bench.{md,json}
# and runs.jsonl; rerun to continue an interrupted suite (--resume).
# Needs the data extra (pip install -e ".[data]"); event_fashion_mnist also needs the
# Debian package dataset-fashion-mnist. About 115 minutes on 2 CPU cores.
# This is the untuned suite; benchmarks/tune_suite.py is the tuned one (an equal Optuna
# budget per model, then 3 seeds); both are described in docs/quality.md.
set -euo pipefail
out=${OUT:-benchmarks/quality}
bench() { "${PYTHON:-python}" -m liquidtorch bench --seeds 3 --jobs "${JOBS:-2}" --resume -q "$@"; }
bench --tasks watch --models lstm,gru,cfc,cfc_mixed,cfc_ncp,ltc_ncp --out "$out/watch"
bench --tasks halfcheetah --models lstm,gru,cfc,cfc_mixed,cfc_ncp,ltc_ncp --out "$out/halfcheetah"
bench --tasks walker2d --models lstm,gru,cfc,cfc_mixed,cfc_ncp,ltc_ncp --out "$out/walker2d"
bench --tasks basic_motions \
  --models lstm,gru,ctrnn,node,odernn,ctgru,cfc,cfc_no_gate,cfc_pure,cfc_mixed,cfc_ncp,ltc,ltc_ncp,ltc_mixed \
  --out "$out/basic_motions"
bench --tasks vic_elec --models lstm,gru,cfc,cfc_ncp,ltc_ncp --out "$out/vic_elec"
bench --tasks event_mnist --models lstm,gru,cfc,cfc_ncp --out "$out/event_mnist"
bench --tasks xor_irregular --models lstm,cfc,cfc_ncp --out "$out/xor_irregular"
# Added after the first pass: mixed memory on event_mnist, and LSTMs with about as many
# parameters as the NCP-wired models (their own rows, labelled with their units).
bench --tasks event_mnist --models cfc_mixed --out "$out/event_mnist_mixed"
bench --tasks watch --models lstm --units 10 --out "$out/watch_lstm10"
bench --tasks basic_motions --models lstm --units 10 --out "$out/basic_motions_lstm10"
bench --tasks halfcheetah --models lstm --units 18 --out "$out/halfcheetah_lstm18"
bench --tasks walker2d --models lstm --units 18 --out "$out/walker2d_lstm18"
# Irregular sampling (samples / frames dropped at random, elapsed time given).
bench --tasks watch_irregular --models lstm,gru,cfc,cfc_mixed,cfc_ncp,ltc_ncp --out "$out/watch_irregular"
bench --tasks walker2d_irregular --models lstm,gru,cfc,cfc_mixed,cfc_ncp,ltc_ncp \
  --out "$out/walker2d_irregular"
# Event-based XOR of 8 bits (the 32 bits above stay at chance for every model).
bench --tasks xor_irregular -o length=8 --models lstm,gru,cfc,cfc_mixed,cfc_ncp,ltc_ncp \
  --out "$out/xor_irregular_8bit"
"${PYTHON:-python}" benchmarks/quality_table.py "$out"
