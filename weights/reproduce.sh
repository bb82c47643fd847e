#!/usr/bin/env bash
# Reproduces the shipped weights from seeds: generates the phantom data sets, runs each model's
# training chain as weights/README.md documents it, and installs the results (cards fixed up as
# the README says) into an output folder. One command per model:
#
#   weights/reproduce.sh liver_unet            # or liver_locator, liver_cnn, pancreas_*, all
#
# Every step is skipped once done, and a training step that was stopped resumes from its last
# checkpoint, so the same command continues a reproduction across sessions. See --help.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: weights/reproduce.sh [--work DIR] [--out DIR] [--bin PATH] [--tiny] [--dry-run] MODEL...

MODEL: liver_locator, liver_unet, liver_cnn, pancreas_locator, pancreas_unet, pancreas_cnn, or
all. A model's prerequisites (its locator, the models its classifier was trained behind) are
made first.

  --work DIR   data sets, training runs and step markers (default: ./reproduce, with
               --tiny ./reproduce-tiny; a folder keeps the scale it was started at)
  --out DIR    where the models are installed (default: WORK/weights)
  --bin PATH   the oncoscope binary (default: $ONCOSCOPE, else oncoscope on PATH, else
               target/release/oncoscope of this checkout)
  --tiny       the same chain at toy scale (a few small cases, one or two epochs, 16³ grids):
               checks the chain in minutes; its models are useless
  --dry-run    print the commands, run nothing

Full scale takes days on a 2-core CPU (weights/README.md gives each model's time).
EOF
}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=
out=
bin=${ONCOSCOPE:-}
tiny=false
dry=false
models=()
while (($#)); do
  case $1 in
    --work) work=${2:?--work needs a folder}; shift 2 ;;
    --out) out=${2:?--out needs a folder}; shift 2 ;;
    --bin) bin=${2:?--bin needs a path}; shift 2 ;;
    --tiny) tiny=true; shift ;;
    --dry-run) dry=true; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) echo "reproduce.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) models+=("$1"); shift ;;
  esac
done
all=(liver_locator liver_unet liver_cnn pancreas_locator pancreas_unet pancreas_cnn)
if ((${#models[@]} == 0)); then
  usage >&2
  exit 2
fi
for model in "${models[@]}"; do
  if [ "$model" != all ] && [[ " ${all[*]} " != *" $model "* ]]; then
    echo "reproduce.sh: unknown model $model (one of: ${all[*]}, all)" >&2
    exit 2
  fi
done
if [ -z "$work" ]; then
  if $tiny; then work=reproduce-tiny; else work=reproduce; fi
fi
out=${out:-$work/weights}
if [ -z "$bin" ]; then
  if command -v oncoscope >/dev/null; then
    bin=oncoscope
  else
    bin=$(cd "$here/.." && pwd)/target/release/oncoscope
  fi
fi
if ! $dry && ! "$bin" --version >/dev/null 2>&1; then
  echo "reproduce.sh: $bin: not a runnable oncoscope binary (cargo build --release, or --bin PATH)" >&2
  exit 1
fi
# A folder holds one scale: a full-scale command must not take tiny steps for done ones.
scale=full
if $tiny; then scale=tiny; fi
if [ -e "$work/scale" ] && [ "$(cat "$work/scale")" != "$scale" ]; then
  echo "reproduce.sh: $work holds a $(cat "$work/scale")-scale reproduction, not $scale; choose another --work" >&2
  exit 2
fi
if ! $dry; then
  mkdir -p "$work"
  echo "$scale" >"$work/scale"
fi
data=$work/data
runs=$work/runs
done_dir=$work/done

# ---- scale ---------------------------------------------------------------------------------

# cases N: N phantoms (tiny: 6, or 4 tumour-free ones when the second argument is "normal").
cases() {
  if $tiny; then
    if [ "${2:-}" = normal ]; then echo 4; else echo 6; fi
  else
    echo "$1"
  fi
}
# epochs FULL TINY: the epoch count of a step (a resumed run's total, so TINY grows with it).
epochs() { if $tiny; then echo "$2"; else echo "$1"; fi; }
# grid N: the model grid (tiny: 16³).
grid() { if $tiny; then echo 16; else echo "$1"; fi; }
# fine: the 2 × 2 × 2.5 mm phantoms (tiny: the small coarse ones).
fine() { if $tiny; then echo --small; else echo --spacing-mm 2,2,2.5; fi; }

# ---- steps -----------------------------------------------------------------------------------

say() { printf '\n== %s\n' "$*" >&2; }

# run CMD...: prints the command, and runs it unless --dry-run.
run() {
  printf '+ %s\n' "$*" >&2
  $dry || "$@"
}

# done_step ID: whether step ID has finished (its marker exists; in a dry run, whether it was
# printed already).
# (Plain strings and arrays only: macOS ships bash 3.2.)
printed=" "
done_step() { [ -e "$done_dir/$1" ] || [[ $printed == *" $1 "* ]]; }
mark_done() {
  if $dry; then
    printed="$printed$1 "
  else
    mkdir -p "$done_dir" && touch "$done_dir/$1"
  fi
}

# synth NAME ARGS...: the data set $data/NAME from `oncoscope synth ARGS` (skipped once its
# dataset.json, written last, exists).
synth() {
  local name=$1
  shift
  { [ -e "$data/$name/dataset.json" ] || done_step "data-$name"; } && return
  say "data set $name"
  run "$bin" synth "$@" --out "$data/$name"
  if $dry; then mark_done "data-$name"; fi
}

# merge NAME TASK SET[:COUNT]...: the data set $data/NAME of links to the first COUNT cases
# (all without :COUNT) of each SET, in that order, with a dataset.json listing them so.
merge() {
  local name=$1 task=$2
  shift 2
  local dir=$data/$name
  { [ -e "$dir/dataset.json" ] || done_step "data-$name"; } && return
  say "data set $name (links)"
  printf '+ merge %s\n' "$*" >&2
  if $dry; then
    mark_done "data-$name"
    return
  fi
  mkdir -p "$dir/imagesTr" "$dir/labelsTr"
  local entries=() spec from count image file
  for spec in "$@"; do
    from=${spec%%:*}
    count=${spec#*:}
    [ "$count" = "$spec" ] && count=
    local n=0
    for image in "$data/$from"/imagesTr/*.nii.gz; do
      [ -n "$count" ] && ((n >= count)) && break
      file=${from}_$(basename "$image")
      ln -sfn "$(cd "$data/$from/imagesTr" && pwd)/$(basename "$image")" "$dir/imagesTr/$file"
      ln -sfn "$(cd "$data/$from/labelsTr" && pwd)/$(basename "$image")" "$dir/labelsTr/$file"
      entries+=("{\"image\": \"./imagesTr/$file\", \"label\": \"./labelsTr/$file\"}")
      n=$((n + 1))
    done
  done
  local joined
  joined=$(printf '%s,\n    ' "${entries[@]}")
  cat >"$dir/dataset.json.tmp" <<EOF
{
  "name": "${name}_synthetic",
  "description": "Links to phantoms of $*, written by weights/reproduce.sh. No patient data.",
  "labels": {"0": "background", "1": "$task", "2": "cancer"},
  "numTraining": ${#entries[@]},
  "training": [
    ${joined%,*}
  ]
}
EOF
  mv "$dir/dataset.json.tmp" "$dir/dataset.json"
}

# train ID RUN ARGS...: `oncoscope train ARGS --out $runs/RUN`, once; a run stopped before it
# ended continues from its last checkpoint (--resume).
train() {
  local id=$1 run=$2
  shift 2
  done_step "$id" && return
  say "training step $id"
  local resume=()
  if [ -e "$runs/$run/last.json" ] && [[ " $* " != *" --resume "* ]]; then
    resume=(--resume)
  fi
  run "$bin" train "$@" ${resume[@]+"${resume[@]}"} --out "$runs/$run"
  mark_done "$id"
}

# place DIR ID NAME FROM [MODEL-ARGS...]: copies the model at stem FROM (and its run's curves) to
# DIR/NAME, then sets its card with `oncoscope model MODEL-ARGS` (e.g. --set-locator); step ID.
place() {
  local dir=$1 id=$2 name=$3 from=$4
  shift 4
  done_step "$id" && return
  say "installing $name in $dir"
  run mkdir -p "$dir"
  run cp "$from.safetensors" "$dir/$name.safetensors"
  run cp "$from.json" "$dir/$name.json"
  run cp "$(dirname "$from")/curves.csv" "$dir/$name.curves.csv"
  run "$bin" model "$dir/$name" "$@"
  mark_done "$id"
}

# install NAME FROM [MODEL-ARGS...]: the model at stem FROM as $out/NAME.
install() { place "$out" "install-$1" "$@"; }

# stage NAME FROM [MODEL-ARGS...]: the model at stem FROM as $work/stage/NAME, beside session
# 1's liver_locator (the one it found the liver with then): a model that later steps were
# trained behind, since replaced.
stage() {
  done_step "stage-$1" && return
  run mkdir -p "$work/stage"
  run cp "$locator_48.safetensors" "$work/stage/liver_locator.safetensors"
  run cp "$locator_48.json" "$work/stage/liver_locator.json"
  place "$work/stage" "stage-$1" "$@"
}

unet=(--model unet --channels 8,16,32,64 --batch-size 2)
cnn=(--model cnn --global-pool max-cell --channels 8,16,32,64 --batch-size 2)
region=(--region organ --margin-mm 10)
# The liver classifier's, besides its data, epochs, learning rate, locator and start.
liver_cnn_args=(--normals "$data/liver_normal150b" --task liver "${cnn[@]}" --grid "$(grid 64)"
  "${region[@]}" --fill-outside-organ-mm 0 --locator-tumour-channel)

# ---- liver -----------------------------------------------------------------------------------

liver48() { synth liver48 --task liver --cases "$(cases 48)" --seed 1 --small; }
liver_b() {
  synth liver300b --task liver --cases "$(cases 300)" --seed 15 --small
  synth liver_normal150b --task liver --cases "$(cases 150 normal)" --seed 16 --small --lesions 0
}
# liver_mix_of NAME FINE COARSE: the data set NAME of links to all of FINE (2 mm phantoms), the
# 100 tumour-free 2 mm ones, the first 150 of COARSE and the first 75 tumour-free coarse ones.
liver_mix_of() {
  if $tiny; then
    merge "$1" liver "$2" liver_normal100f "$3:3" liver_normal150b:2
  else
    merge "$1" liver "$2" liver_normal100f "$3:150" liver_normal150b:75
  fi
}
liver_mix() {
  liver_b
  synth liver300f --task liver --cases "$(cases 300)" --seed 18 $(fine)
  synth liver_normal100f --task liver --cases "$(cases 100 normal)" --seed 19 --lesions 0 $(fine)
  liver_mix_of liver_mix liver300f liver300b
}

# The first whole-box locator (session 1): every later liver model was trained beside it.
liver_locator_48() {
  liver48
  train liver_locator.1 liver_unet --data "$data/liver48" --task liver "${unet[@]}" \
    --epochs "$(epochs 40 1)" --grid "$(grid 64)" --learning-rate 0.003
}
# (A stem that `train --locator` copies into a run, so that run's folder works on its own.)
locator_48=$runs/liver_unet/best
# Session 23's: the first fine-tuned on scans that reach the pelvis or start inside the liver.
liver_locator() {
  liver_locator_48
  synth liver300m --task liver --cases "$(cases 300)" --seed 23 --small --scan-range mixed
  train liver_locator.2 liver_locator_mixed --data "$data/liver300m" --task liver "${unet[@]}" \
    --epochs "$(epochs 12 1)" --grid "$(grid 64)" --learning-rate 0.001 \
    --init-from "$runs/liver_unet/best"
  # Its own step ID: a folder reproduced before session 23 installed session 1's locator.
  place "$out" install-liver_locator.mixed liver_locator "$runs/liver_locator_mixed/best"
}

# The 64³ region U-Net of session 9, behind which the classifier first learnt.
liver_unet_64() {
  liver_locator_48
  synth liver160 --task liver --cases "$(cases 160)" --seed 11 --small
  synth liver300 --task liver --cases "$(cases 300)" --seed 13 --small
  local with_locator=(--task liver "${unet[@]}" "${region[@]}" --locator "$locator_48")
  train liver_unet.1 liver_unet_region --data "$data/liver48" "${with_locator[@]}" \
    --epochs "$(epochs 40 1)" --grid "$(grid 64)" --learning-rate 0.003
  train liver_unet.2 liver_unet_region --data "$data/liver48" "${with_locator[@]}" \
    --epochs "$(epochs 60 2)" --grid "$(grid 64)" --learning-rate 0.001 --resume
  train liver_unet.3 liver_unet_ft --data "$data/liver160" "${with_locator[@]}" \
    --epochs "$(epochs 8 1)" --grid "$(grid 64)" --learning-rate 0.001 \
    --init-from "$runs/liver_unet_region/last"
  train liver_unet.4 liver_unet_ft300 --data "$data/liver300" "${with_locator[@]}" \
    --epochs "$(epochs 8 1)" --grid "$(grid 64)" --learning-rate 0.0007 \
    --init-from "$runs/liver_unet_ft/best"
  train liver_unet.5 liver_unet_ft300 --data "$data/liver300" "${with_locator[@]}" \
    --epochs "$(epochs 12 2)" --grid "$(grid 64)" --learning-rate 0.0007 \
    --init-from "$runs/liver_unet_ft/best" --resume
}

# Session 12's 96³ model: shipped until session 20; the classifier was trained behind it.
liver_unet_96() {
  liver_unet_64
  liver_mix
  train liver_unet.6 liver_unet_mix96 --data "$data/liver_mix" --task liver "${unet[@]}" \
    "${region[@]}" --locator "$locator_48" --epochs "$(epochs 5 1)" \
    --grid "$(grid 96)" --learning-rate 0.0007 --init-from "$runs/liver_unet_ft300/best"
  stage liver_unet "$runs/liver_unet_mix96/best" --set-min-lesion-ml 0.4
}
# liver_mix again with lesions as dark as the real ones (40–80 HU below the liver, session 20).
liver_mix_dark() {
  liver_mix
  local dark=(--lesion-contrast-hu 40,80)
  synth liver300f_dark --task liver --cases "$(cases 300)" --seed 18 $(fine) "${dark[@]}"
  synth liver300b_dark --task liver --cases "$(cases 300)" --seed 15 --small "${dark[@]}"
  liver_mix_of liver_mix_dark liver300f_dark liver300b_dark
}
# liver_mix once more, its lesions also drawn crisp: margins and rims in proportion to their
# size, so that small lesions are as dark as large ones (session 21).
liver_mix_crisp() {
  liver_mix
  local crisp=(--lesion-contrast-hu 40,80 --lesion-look crisp)
  synth liver300f_crisp --task liver --cases "$(cases 300)" --seed 18 $(fine) "${crisp[@]}"
  synth liver300b_crisp --task liver --cases "$(cases 300)" --seed 15 --small "${crisp[@]}"
  liver_mix_of liver_mix_crisp liver300f_crisp liver300b_crisp
}
# Session 26's: livers with their fat-filled fissures (the first 150 of liver300f_crisp's
# seeds, 75 of liver300b_crisp's, 50 + 25 tumour-free ones), all cut with them.
liver_mix_fissures() {
  local crisp=(--lesion-contrast-hu 40,80 --lesion-look crisp --liver-fissures)
  synth liver150f_fissures --task liver --cases "$(cases 150)" --seed 18 $(fine) "${crisp[@]}"
  synth liver75b_fissures --task liver --cases "$(cases 75)" --seed 15 --small "${crisp[@]}"
  synth liver_normal50f_fissures --task liver --cases "$(cases 50 normal)" --seed 19 \
    --lesions 0 --liver-fissures $(fine)
  synth liver_normal25b_fissures --task liver --cases "$(cases 25 normal)" --seed 16 --small \
    --lesions 0 --liver-fissures
  merge liver_mix_fissures liver liver150f_fissures liver75b_fissures liver_normal50f_fissures \
    liver_normal25b_fissures
}
# Session 27's: livers with their fissures and the fat of their hilum (new seeds, parts as
# liver_mix_fissures'), followed by liver_mix_fissures' own cases.
liver_mix_hilum() {
  local clefts=(--liver-fissures --liver-hilar-fat)
  local crisp=(--lesion-contrast-hu 40,80 --lesion-look crisp "${clefts[@]}")
  synth liver150f_hilum --task liver --cases "$(cases 150)" --seed 61 $(fine) "${crisp[@]}"
  synth liver75b_hilum --task liver --cases "$(cases 75)" --seed 62 --small "${crisp[@]}"
  synth liver_normal50f_hilum --task liver --cases "$(cases 50 normal)" --seed 63 \
    --lesions 0 "${clefts[@]}" $(fine)
  synth liver_normal25b_hilum --task liver --cases "$(cases 25 normal)" --seed 64 --small \
    --lesions 0 "${clefts[@]}"
  liver_mix_fissures
  merge liver_mix_hilum liver liver150f_hilum liver75b_hilum liver_normal50f_hilum \
    liver_normal25b_hilum liver150f_fissures liver75b_fissures liver_normal50f_fissures \
    liver_normal25b_fissures
}
liver_unet() {
  liver_locator
  liver_unet_96
  liver_mix_dark
  local dark=(--data "$data/liver_mix_dark" --task liver "${unet[@]}" "${region[@]}"
    --locator "$locator_48" --grid "$(grid 96)" --learning-rate 0.0005
    --init-from "$runs/liver_unet_mix96/best")
  train liver_unet.7 liver_unet_dark "${dark[@]}" --epochs "$(epochs 2 1)"
  train liver_unet.8 liver_unet_dark "${dark[@]}" --epochs "$(epochs 4 2)" --resume
  # Session 20's model, shipped until session 21: the classifier was trained behind it.
  stage liver_unet_dark "$runs/liver_unet_dark/best" --set-min-lesion-ml 0
  liver_mix_crisp
  train liver_unet.9 liver_unet_crisp --data "$data/liver_mix_crisp" --task liver "${unet[@]}" \
    "${region[@]}" --locator "$locator_48" --grid "$(grid 96)" --learning-rate 0.0005 \
    --epochs "$(epochs 2 1)" --init-from "$runs/liver_unet_dark/best"
  # Its own step ID: a folder reproduced before session 21 installed session 20's model.
  place "$out" install-liver_unet.crisp liver_unet "$runs/liver_unet_crisp/best" \
    --set-min-lesion-ml 0
  # Session 26's (shipped until session 27): session 21's fine-tuned on livers with their
  # fissures, with the lesion term.
  liver_mix_fissures
  liver_unet_lesion_term 10 fissures liver_mix_fissures liver_unet_crisp
  # Session 27's (shipped): session 26's fine-tuned on livers with the fat of their hilum too.
  liver_mix_hilum
  liver_unet_lesion_term 11 hilum liver_mix_hilum liver_unet_fissures
}
# liver_unet_lesion_term N NAME DATA FROM: training step liver_unet.N, run liver_unet_NAME: the
# run FROM's best model fine-tuned 2 epochs with the lesion term on data set DATA, installed as
# liver_unet (every tumour piece kept).
liver_unet_lesion_term() {
  train "liver_unet.$1" "liver_unet_$2" --data "$data/$3" --task liver "${unet[@]}" \
    "${region[@]}" --locator "$locator_48" --grid "$(grid 96)" --learning-rate 0.0005 \
    --epochs "$(epochs 2 1)" --lesion-loss 0.02 --init-from "$runs/$4/best"
  place "$out" "install-liver_unet.$2" liver_unet "$runs/liver_unet_$2/best" \
    --set-min-lesion-ml 0
}

# Session 12's classifier: shipped until session 20; the pancreas classifier started from it.
liver_cnn_s12() {
  liver_unet_96
  liver_b
  train liver_cnn.1 liver_cnn_tc2 --data "$data/liver300b" "${liver_cnn_args[@]}" \
    --epochs "$(epochs 12 1)" --learning-rate 0.001 --locator "$runs/liver_unet_ft300/best"
  train liver_cnn.2 liver_cnn_l96 --data "$data/liver300b" "${liver_cnn_args[@]}" \
    --epochs "$(epochs 6 1)" --learning-rate 0.0005 --locator "$work/stage/liver_unet" \
    --init-from "$runs/liver_cnn_tc2/best"
}
# Session 20's: behind session 20's liver_unet, on lesions as dark as the real ones.
liver_cnn() {
  liver_unet
  liver_cnn_s12
  train liver_cnn.3 liver_cnn_dark --data "$data/liver300b_dark" "${liver_cnn_args[@]}" \
    --epochs "$(epochs 6 1)" --learning-rate 0.0005 --locator "$work/stage/liver_unet_dark" \
    --init-from "$runs/liver_cnn_l96/best"
  # Its own step ID: a folder reproduced before session 20 installed session 12's classifier.
  place "$out" install-liver_cnn.dark liver_cnn "$runs/liver_cnn_dark/best" --set-locator liver_unet
  # Session 27's (shipped): that classifier fine-tuned behind session 27's liver_unet (installed
  # above, with the shipped locator beside it) on liver_mix_hilum's cases.
  merge liver_cnn_mix_hilum liver liver150f_hilum liver75b_hilum liver150f_fissures \
    liver75b_fissures
  merge liver_cnn_normals_hilum liver liver_normal50f_hilum liver_normal25b_hilum \
    liver_normal50f_fissures liver_normal25b_fissures
  train liver_cnn.4 liver_cnn_hilum --data "$data/liver_cnn_mix_hilum" \
    --normals "$data/liver_cnn_normals_hilum" --task liver "${cnn[@]}" --grid "$(grid 64)" \
    "${region[@]}" --fill-outside-organ-mm 0 --locator-tumour-channel --epochs "$(epochs 6 1)" \
    --learning-rate 0.0005 --locator "$out/liver_unet" --init-from "$runs/liver_cnn_dark/best"
  place "$out" install-liver_cnn.hilum liver_cnn "$runs/liver_cnn_hilum/best" \
    --set-locator liver_unet
}

# ---- pancreas --------------------------------------------------------------------------------

pancreas_mix() {
  synth pancreas300u --task pancreas --cases "$(cases 300)" --seed 22 --small
  synth pancreas300f --task pancreas --cases "$(cases 300)" --seed 22 $(fine)
  synth pancreas_normal100f --task pancreas --cases "$(cases 100 normal)" --seed 25 --lesions 0 $(fine)
  synth pancreas_normal150c --task pancreas --cases "$(cases 150 normal)" --seed 24 --small --lesions 0
  if $tiny; then
    merge pancreas_mix pancreas pancreas300f pancreas_normal100f pancreas300u:3 pancreas_normal150c:2
  else
    merge pancreas_mix pancreas pancreas300f pancreas_normal100f pancreas300u:150 pancreas_normal150c:75
  fi
}

# The classifier's: phantoms none of the pancreas segmenters saw.
pancreas_cnn_data() {
  synth pancreas300c --task pancreas --cases "$(cases 300)" --seed 23 --small
  synth pancreas150f27 --task pancreas --cases "$(cases 150)" --seed 27 $(fine)
  merge pancreas_cnnmix pancreas pancreas300c pancreas150f27
  synth pancreas_normal150d --task pancreas --cases "$(cases 150 normal)" --seed 26 --small --lesions 0
  synth pancreas_normal100f28 --task pancreas --cases "$(cases 100 normal)" --seed 28 --lesions 0 $(fine)
  merge pancreas_cnn_normals pancreas pancreas_normal150d pancreas_normal100f28
}

# Session 11's whole-box locator: every other pancreas model was trained beside it.
pancreas_locator_96() {
  synth pancreas48 --task pancreas --cases "$(cases 48)" --seed 2 --small
  synth pancreas160 --task pancreas --cases "$(cases 160)" --seed 21 --small
  synth pancreas300u --task pancreas --cases "$(cases 300)" --seed 22 --small
  local whole=(--task pancreas "${unet[@]}")
  train pancreas_locator.1 pancreas_unet --data "$data/pancreas48" "${whole[@]}" \
    --epochs "$(epochs 30 1)" --grid "$(grid 64)" --learning-rate 0.003
  train pancreas_locator.2 pancreas_unet --data "$data/pancreas48" "${whole[@]}" \
    --epochs "$(epochs 70 2)" --grid "$(grid 64)" --learning-rate 0.003 --resume
  train pancreas_locator.3 pancreas_locator_ft --data "$data/pancreas160" "${whole[@]}" \
    --epochs "$(epochs 8 1)" --grid "$(grid 64)" --learning-rate 0.001 \
    --init-from "$runs/pancreas_unet/best"
  train pancreas_locator.4 pancreas_locator96 --data "$data/pancreas300u" "${whole[@]}" \
    --epochs "$(epochs 8 1)" --grid "$(grid 96)" --learning-rate 0.001 \
    --init-from "$runs/pancreas_locator_ft/best"
}
locator_96=$runs/pancreas_locator96/best
# Session 23's: fine-tuned on scans that reach the pelvis or start inside the liver.
pancreas_locator() {
  pancreas_locator_96
  synth pancreas300m --task pancreas --cases "$(cases 300)" --seed 31 --small --scan-range mixed
  train pancreas_locator.5 pancreas_locator_mixed --data "$data/pancreas300m" --task pancreas \
    "${unet[@]}" --epochs "$(epochs 4 1)" --grid "$(grid 96)" --learning-rate 0.001 \
    --init-from "$locator_96"
  # Its own step ID: a folder reproduced before session 23 installed session 11's locator.
  place "$out" install-pancreas_locator.mixed pancreas_locator \
    "$runs/pancreas_locator_mixed/best"
}

# Session 13's 96³ region U-Net, behind which the classifier first learnt.
pancreas_unet_13() {
  pancreas_locator_96
  pancreas_mix
  local with_locator=(--task pancreas "${unet[@]}" "${region[@]}" --locator "$locator_96")
  train pancreas_unet.1 pancreas_unet_region --data "$data/pancreas48" "${with_locator[@]}" \
    --epochs "$(epochs 16 1)" --grid "$(grid 64)" --learning-rate 0.003
  train pancreas_unet.2 pancreas_unet_ft --data "$data/pancreas160" "${with_locator[@]}" \
    --epochs "$(epochs 14 1)" --grid "$(grid 64)" --learning-rate 0.001 \
    --init-from "$runs/pancreas_unet_region/last"
  train pancreas_unet.3 pancreas_unet_ft300 --data "$data/pancreas300u" "${with_locator[@]}" \
    --epochs "$(epochs 10 1)" --grid "$(grid 64)" --learning-rate 0.0007 \
    --init-from "$runs/pancreas_unet_ft/best" --cube-refinements 1
  # Shipped: a 5-epoch run stopped after its first epoch, then resumed to 4 epochs in all;
  # here the first epoch is a run of its own, so its learning rate falls faster.
  local mix=(--data "$data/pancreas_mix" "${with_locator[@]}" --grid "$(grid 96)"
    --learning-rate 0.0007 --init-from "$runs/pancreas_unet_ft300/best")
  train pancreas_unet.4 pancreas_unet_mix96 "${mix[@]}" --epochs 1
  train pancreas_unet.5 pancreas_unet_mix96 "${mix[@]}" --epochs "$(epochs 4 2)" --resume \
    --min-lesion-ml 0.4
}

pancreas_unet() {
  pancreas_locator
  pancreas_unet_13
  train pancreas_unet.6 pancreas_unet_tw4 --data "$data/pancreas_mix" --task pancreas \
    "${unet[@]}" "${region[@]}" --locator "$locator_96" --epochs "$(epochs 3 1)" \
    --grid "$(grid 96)" --learning-rate 0.0005 --tumour-weight 4 \
    --init-from "$runs/pancreas_unet_mix96/best"
  install pancreas_unet "$runs/pancreas_unet_tw4/best"
  # As the classifier was trained behind it: beside session 11's locator.
  if ! done_step stage-pancreas_unet; then
    run mkdir -p "$work/stage"
    run cp "$locator_96.safetensors" "$work/stage/pancreas_locator.safetensors"
    run cp "$locator_96.json" "$work/stage/pancreas_locator.json"
  fi
  place "$work/stage" stage-pancreas_unet pancreas_unet "$runs/pancreas_unet_tw4/best"
}

pancreas_cnn() {
  liver_cnn_s12
  pancreas_unet
  pancreas_cnn_data
  local as_shipped=(--data "$data/pancreas_cnnmix" --normals "$data/pancreas_cnn_normals"
    --task pancreas "${cnn[@]}" --grid "$(grid 64)" "${region[@]}" --fill-outside-organ-mm 0
    --locator-tumour-channel)
  # Started from the liver classifier, whose inputs have the same form.
  train pancreas_cnn.1 pancreas_cnn_s14 "${as_shipped[@]}" --epochs "$(epochs 12 1)" \
    --learning-rate 0.001 --locator "$runs/pancreas_unet_mix96/best" \
    --init-from "$runs/liver_cnn_l96/best"
  train pancreas_cnn.2 pancreas_cnn_tw4 "${as_shipped[@]}" --epochs "$(epochs 6 1)" \
    --learning-rate 0.0005 --locator "$work/stage/pancreas_unet" \
    --init-from "$runs/pancreas_cnn_s14/best"
  install pancreas_cnn "$runs/pancreas_cnn_tw4/best" --set-locator pancreas_unet
}

# ---- main ------------------------------------------------------------------------------------

for model in "${models[@]}"; do
  if [ "$model" = all ]; then
    for m in "${all[@]}"; do "$m"; done
  else
    "$model"
  fi
done
say "done: ${models[*]} in $out"
