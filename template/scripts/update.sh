#!/usr/bin/env sh
# Bring the template's newest release into this project (`copier update`), then list what
# needs your hands: conflict markers and `.rej` files. It exits 1 while one is left, so a
# conflict never passes for a clean update (copier itself exits 0).
#
# Usage: scripts/update.sh [copier update options: --data auth=true, --vcs-ref v1.2.3...]
set -eu
cd "$(dirname "$0")/.."
uvx --with copier-template-extensions copier update --trust --defaults "$@"

markers=$(git grep -l -E '^(<<<<<<<|>>>>>>>)( |$)' -- . || true)
rejects=$(find . -name '*.rej' -not -path './.git/*' -not -path './.venv/*')
if [ -n "$markers$rejects" ]; then
    echo "The update left conflicts; resolve each (docs: 'Resolving a conflict'), then commit:" >&2
    for file in $markers $rejects; do echo "  ${file#./}" >&2; done
    exit 1
fi
echo "No conflict: read 'git diff', migrate ('uv run alembic upgrade heads'), run the tests, commit."
