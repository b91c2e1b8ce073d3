#!/usr/bin/env bash
# Put this checkout's `vodflow` command on PATH, so the README's commands run as written.
#
# The CLI lives in the checkout's virtualenv (.venv/bin/vodflow, made by `make install`); a new user
# types `vodflow ...` as the README shows, not the venv path, and should not have to activate the
# venv in every shell. So `make install` links it (a symlink: it always runs this checkout's code):
#   - into $VODFLOW_BIN_DIR when set;
#   - else into /usr/local/bin when writable (root, or a machine set up that way), already on PATH;
#   - else into ~/.local/bin, printing how to put that on PATH when it is not.
# An existing `vodflow` there that is not a link to this checkout is left alone (another checkout's
# link, or a pip-installed one): the script says so and how to switch. `.venv/bin/vodflow` always works.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="$root/.venv/bin/vodflow"
[ -x "$target" ] || { echo "error: $target is missing: run 'make install' first" >&2; exit 1; }

if [ -n "${VODFLOW_BIN_DIR:-}" ]; then
    dir="$VODFLOW_BIN_DIR"
elif [ -w /usr/local/bin ]; then
    dir=/usr/local/bin
else
    dir="$HOME/.local/bin"
fi
mkdir -p "$dir"
link="$dir/vodflow"

if [ -L "$link" ] && [ "$(readlink -f "$link")" = "$(readlink -f "$target")" ]; then
    echo "vodflow: $link -> $target (already linked)"
elif [ -L "$link" ] && [ -e "$link" ]; then
    echo "vodflow: kept $link -> $(readlink "$link") (another checkout); this checkout's CLI is $target"
    echo "         to use this one everywhere: ln -sfn '$target' '$link'"
elif [ -e "$link" ] && [ ! -L "$link" ]; then
    echo "vodflow: kept $link (not a link made by vodflow); this checkout's CLI is $target"
else
    ln -sfn "$target" "$link"   # new, or a dangling link to a removed checkout
    echo "vodflow: linked $link -> $target"
fi

case ":$PATH:" in
    *":$dir:"*) ;;
    *) echo "vodflow: $dir is not on your PATH; add it (then open a new shell):"
       echo "         echo 'export PATH=\"$dir:\$PATH\"' >> ~/.bashrc" ;;
esac
