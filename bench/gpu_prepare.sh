#!/usr/bin/env bash
# Prepare the GPU device check (bench/gpu_check.sh) on a machine with the modded-nanogpt mirror:
#   bench/gpu_prepare.sh MODDED_NANOGPT_CHECKOUT [OUT=build/gpu-check]
# OUT/modded-nanogpt.git  the checkout cut to what `speedrun records import` reads: the HEAD
#                         commit's tree and the commits of the root scripts (about 40 MB instead of
#                         the whole history), so it can travel to a machine without network;
# OUT/wheels/             CPython 3.12 wheels of the pins a bare PyTorch image lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=${1:?usage: bench/gpu_prepare.sh MODDED_NANOGPT_CHECKOUT [OUT]}
out=${2:-build/gpu-check}
py=${PY:-.venv/bin/python}
rm -rf "$out" && mkdir -p "$out/wheels"
git init -q --bare "$out/modded-nanogpt.git"
git_dir=$(git -C "$checkout" rev-parse --absolute-git-dir)
roots=$("$py" -c 'from replay.importer.modded_nanogpt import ROOT_SCRIPT_COMMITS as c; print(*c.values())')
revs=$(git --git-dir="$git_dir" rev-parse HEAD $roots)
# --missing: a mirror may lack large blobs the import never reads.
git --git-dir="$git_dir" rev-list --objects --no-walk --missing=allow-any $revs | cut -d' ' -f1 |
  git --git-dir="$git_dir" pack-objects -q "$out/modded-nanogpt.git/objects/pack/pack" >/dev/null
git --git-dir="$out/modded-nanogpt.git" update-ref refs/heads/main "$(git --git-dir="$git_dir" rev-parse HEAD)"
git --git-dir="$out/modded-nanogpt.git" symbolic-ref HEAD refs/heads/main
# The pins of pyproject.toml that the device image lacks (or has at another version).
pins=$("$py" - <<'PY'
import tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
wanted = ("pygit2", "unidiff", "tree-sitter", "tree-sitter-python", "typer", "rich")
print(" ".join(d for d in deps if d.split("==")[0] in wanted))
PY
)
# pygit2's and typer's own needs, at the versions this venv resolved.
pins="$pins $("$py" -m pip freeze | grep -E '^(cffi|pycparser|shellingham|annotated-doc|click|pydantic|pydantic_core|annotated-types|typing-inspection|typing_extensions)==' | tr '\n' ' ')"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
"$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platforms[@]}" -d "$out/wheels" $pins 2>&1 | sed "/is ignored: it is neither a file nor a directory/d"
du -sh "$out"
