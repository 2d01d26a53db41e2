#!/usr/bin/env bash
# The worker image's install steps: deploy/image/Containerfile RUNs this script, and CI runs the
# same script into a temporary venv and tool directory (tests/e2e/test_install.py), so the
# recipe is exercised even where no image can be built.
#
#   install-steps.sh SOURCE VENV TOOLS HELM [GOTEMPLATE]
#
#   SOURCE  a Bosun source tree (pyproject.toml and the packages); it is copied, not built in place
#   VENV    the virtualenv to create with Bosun and its `worker` extra (the image: /opt/bosun)
#   TOOLS   the directory helm is installed into (the image: /usr/local/bin); must be on PATH
#   HELM    a helm binary of devstack.tools.HELM_VERSION (the image builds it from the Go module
#           proxy in a builder stage; CI takes the one `python -m devstack.tools` built)
#   GOTEMPLATE  the bosun-gotemplate binary (ApplicationSets' goTemplate renderer, built from
#           deploy/gotemplate: the image in a builder stage, CI by `python -m devstack.tools`);
#           installed into TOOLS as bosun-gotemplate. Without it the self-check fails unless
#           one is found otherwise (BOSUN_GOTEMPLATE, PATH, the devstack cache).
#
# git comes from the system (the image: Debian's package). Last, `python -m worker.selfcheck`
# checks every pin and tool, and fails the install (exit 1) naming what is missing.
# Environment: PYTHON (default python3, 3.11 or newer); PIP_* variables are honoured by pip (the
# image sets PIP_NO_CACHE_DIR=1; CI reuses the pip cache scripts/setup filled).
set -euo pipefail

if [ $# -ne 4 ] && [ $# -ne 5 ]; then
    echo "usage: $0 SOURCE VENV TOOLS HELM [GOTEMPLATE]" >&2
    exit 2
fi
source=$(realpath "$1") venv=$(realpath -m "$2") tools=$(realpath -m "$3") helm=$(realpath "$4")
gotemplate=""
if [ $# -eq 5 ]; then
    gotemplate=$(realpath "$5")
    [ -x "$gotemplate" ] || { echo "error: bosun-gotemplate binary $gotemplate does not exist or is not executable" >&2; exit 1; }
fi
python=${PYTHON:-python3}

[ -f "$source/pyproject.toml" ] || { echo "error: $source has no pyproject.toml" >&2; exit 1; }
[ -x "$helm" ] || { echo "error: helm binary $helm does not exist or is not executable" >&2; exit 1; }
command -v git >/dev/null || { echo "error: git is not installed (Debian: apt-get install git)" >&2; exit 1; }

build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
echo "==> copying the Bosun source (the checkout stays clean)" >&2
cp "$source/pyproject.toml" "$build/"
for package in bosun cli workflows activities worker devstack; do
    cp -R "$source/$package" "$build/$package"
done
find "$build" -name __pycache__ -type d -prune -exec rm -rf {} +

echo "==> creating $venv with Bosun and its worker extra" >&2
"$python" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "$build[worker]"

echo "==> installing helm into $tools" >&2
mkdir -p "$tools"
install -m 0755 "$helm" "$tools/helm"
if [ -n "$gotemplate" ]; then
    echo "==> installing bosun-gotemplate into $tools" >&2
    install -m 0755 "$gotemplate" "$tools/bosun-gotemplate"
fi

echo "==> self-check" >&2
cd "$venv"  # not the source: `python -m` must import the installed Bosun
PATH="$tools:$venv/bin:$PATH" "$venv/bin/python" -m worker.selfcheck
